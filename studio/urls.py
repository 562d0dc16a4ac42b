from django.urls import path

from studio import api, views

app_name = "studio"

urlpatterns = [
    path("image/generate/studio", api.StudioGenerateApi.as_view(), name="api_generate"),
    path("image/edit/inpaint", api.InpaintApi.as_view(), name="api_inpaint"),
    path(
        "image/comfyui/<str:prompt_id>/results",
        api.PromptResultsApi.as_view(),
        name="api_results",
    ),
    path(
        "image-gallery/characters/<uuid:character_id>/images",
        api.CharacterImagesApi.as_view(),
        name="api_character_images",
    ),
    path("image/<uuid:image_id>/cancel", api.ImageCancelApi.as_view(), name="api_cancel"),
    path("healthz", api.HealthApi.as_view(), name="healthz"),
    path("studio", views.studio_index, name="index"),
]

from django.urls import path

from studio import api, views

app_name = "studio"

_images = "influencer/<uuid:character_id>/studio/images/<uuid:image_id>"

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
    path("studio/events", views.studio_events, name="events"),
    path("influencer/<uuid:character_id>/studio", views.character_studio, name="character"),
    path("influencer/<uuid:character_id>/studio/generate", views.generate, name="generate"),
    path("influencer/<uuid:character_id>/studio/gallery", views.gallery, name="gallery"),
    path(
        "influencer/<uuid:character_id>/studio/packs/<uuid:batch_id>",
        views.pack_cards,
        name="pack_cards",
    ),
    path(f"{_images}", views.image_detail, name="image_detail"),
    path(f"{_images}/card", views.image_card, name="image_card"),
    path(f"{_images}/retry", views.image_retry, name="image_retry"),
    path(f"{_images}/cancel", views.image_cancel, name="image_cancel"),
    path(f"{_images}/delete", views.image_delete, name="image_delete"),
    path(f"{_images}/favourite", views.image_favourite, name="image_favourite"),
    path(f"{_images}/edit", views.image_edit, name="image_edit"),
    path(f"{_images}/preview.jpg", views.image_preview, name="image_preview"),
    path(f"{_images}/reuse", views.image_reuse, name="image_reuse"),
    path(f"{_images}/edits", views.image_edits, name="image_edits"),
    path(f"{_images}/mask.png", views.image_mask, name="image_mask"),
]

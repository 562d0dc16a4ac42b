from django.urls import path

from gallery import api, views

app_name = "gallery"

urlpatterns = [
    path("characters", api.CharacterListCreateApi.as_view(), name="api_characters"),
    path(
        "characters/<uuid:character_id>",
        api.CharacterDetailApi.as_view(),
        name="api_character",
    ),
    path("studio/characters/", views.character_list, name="character_list"),
    path("studio/characters/new/", views.character_create, name="character_create"),
    path(
        "studio/characters/<uuid:character_id>/edit/",
        views.character_edit,
        name="character_edit",
    ),
    path(
        "studio/characters/<uuid:character_id>/delete/",
        views.character_delete,
        name="character_delete",
    ),
    path("media/<path:key>", views.media_file, name="media_file"),
]

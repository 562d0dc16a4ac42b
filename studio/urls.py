from django.urls import path

from studio import views

app_name = "studio"

urlpatterns = [
    path("studio", views.studio_index, name="index"),
]

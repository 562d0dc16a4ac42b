from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from gallery.api import AuthTokenApi

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="studio:index", permanent=False), name="home"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("auth/token", AuthTokenApi.as_view(), name="auth_token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the page has no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="ryla/swagger_ui.html"
        ),
        name="swagger_ui",
    ),
    path("", include("gallery.urls")),
    path("", include("studio.urls")),
]

handler400 = "ryla.errors.bad_request"
handler403 = "ryla.errors.permission_denied"
handler404 = "ryla.errors.page_not_found"
handler500 = "ryla.errors.server_error"

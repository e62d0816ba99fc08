from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from legacy_django.users.auth_views import obtain_auth_token

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/token/", obtain_auth_token, name="auth-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include("legacy_django.users.urls")),
]

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from sessions_app.downloads import session_export

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("sessions_app.api_urls")),
    path("sessions/<uuid:session_id>/export", session_export, name="session-export"),
    path("", include("sessions_app.urls")),
]

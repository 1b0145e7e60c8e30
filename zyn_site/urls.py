from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from sessions_app.web.downloads import session_export

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("sessions_app.api.urls")),
    path("sessions/<uuid:session_id>/export", session_export, name="session-export"),
    path("sessions/<uuid:session_id>/history/", include("sessions_app.web.history_urls")),
    path("", include("sessions_app.web.urls")),
]

# 503 while the database is unreachable, otherwise 500: JSON under /api/v1/, the site's page elsewhere.
handler500 = "sessions_app.web.server_errors.server_error"

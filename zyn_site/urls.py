from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("sessions/<uuid:session_id>/history/", include("sessions_app.history_urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

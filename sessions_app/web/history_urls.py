"""History pages, included under sessions/<uuid:session_id>/history/ (namespace "history")."""

from __future__ import annotations

from django.urls import path

from sessions_app.web import history_views

app_name = "history"

urlpatterns = [
    path("", history_views.history_list, name="list"),
    path("v<int:version>/", history_views.version_detail, name="version"),
    path("v<int:version>/restore/", history_views.restore, name="restore"),
    path("diff/", history_views.version_diff, name="diff"),
    path("undo/", history_views.undo, name="undo"),
    path("export.json", history_views.export, name="export"),
]

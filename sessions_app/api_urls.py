"""URLs of the JSON API, mounted at /api/v1/ (see sessions_app/api/schema.py for the OpenAPI document)."""

from __future__ import annotations

from django.urls import path, re_path

from sessions_app.api import docs, views

# Session ids are matched as text and parsed by the view, so a malformed id is a JSON 404, not HTML.
S = "sessions/<str:session_id>"

urlpatterns = [
    path("openapi.json", docs.openapi_json, name="api-openapi"),
    path("docs", docs.docs_page, name="api-docs"),
    path("sessions", views.sessions_endpoint, name="api-sessions"),
    path("export", views.export_endpoint, name="api-export"),
    path("import", views.import_endpoint, name="api-import"),
    path(f"{S}", views.session_endpoint, name="api-session"),
    path(f"{S}/messages", views.messages_endpoint, name="api-messages"),
    path(f"{S}/messages/<str:index>", views.message_endpoint, name="api-message"),
    path(f"{S}/len", views.len_endpoint, name="api-len"),
    path(f"{S}/usage", views.usage_endpoint, name="api-usage"),
    path(f"{S}/version", views.version_endpoint, name="api-version"),
    path(f"{S}/events", views.events_endpoint, name="api-events"),
    path(f"{S}/export", views.session_export_endpoint, name="api-session-export"),
    *[path(f"{S}/{op}", views.write_endpoint(op), name=f"api-{op}") for op in views.WRITE_OPS],
    re_path(r"^(?P<rest>.*)$", views.not_found),
]

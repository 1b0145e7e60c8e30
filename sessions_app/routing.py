"""Websocket routes (served by daphne through zyn_site.asgi: origin check → auth → these)."""

from __future__ import annotations

from django.urls import path

from sessions_app.consumers import SessionDetailConsumer, SessionListConsumer

websocket_urlpatterns = [
    path("ws/sessions/", SessionListConsumer.as_asgi()),
    path("ws/sessions/<uuid:session_id>/", SessionDetailConsumer.as_asgi()),
]

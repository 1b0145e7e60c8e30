"""Websocket routes (served by daphne through zyn_site.asgi: origin check → auth → these)."""

from __future__ import annotations

from django.urls import path, re_path

from sessions_app.live.consumers import NoRouteConsumer, SessionDetailConsumer, SessionListConsumer

websocket_urlpatterns = [
    path("ws/sessions/", SessionListConsumer.as_asgi()),
    path("ws/sessions/<uuid:session_id>/", SessionDetailConsumer.as_asgi()),
    # Last: any other path is refused at the handshake (URLRouter would raise, and daphne answer 500).
    re_path(r"", NoRouteConsumer.as_asgi()),
]

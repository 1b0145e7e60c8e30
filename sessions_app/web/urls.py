from __future__ import annotations

from django.urls import path

from sessions_app.web import import_views, views

app_name = "sessions_app"

urlpatterns = [
    path("", views.session_list, name="session_list"),
    path("import/", import_views.import_sessions, name="import"),
    path("sessions/<uuid:session_id>/", views.session_detail, name="session_detail"),
    path("sessions/<uuid:session_id>/messages/", views.message_chunk, name="message_chunk"),
    path("sessions/<uuid:session_id>/messages/<int:index>/", views.message_row, name="message_row"),
    path("sessions/<uuid:session_id>/messages/<int:index>/replace/", views.replace, name="replace"),
    path("sessions/<uuid:session_id>/messages/<int:index>/remove/", views.remove, name="remove"),
    path("sessions/<uuid:session_id>/messages/<int:index>/move/", views.move, name="move"),
    path("sessions/<uuid:session_id>/append/", views.append, name="append"),
    path("sessions/<uuid:session_id>/insert/", views.insert, name="insert"),
    path("sessions/<uuid:session_id>/truncate/", views.truncate, name="truncate"),
    path("sessions/<uuid:session_id>/prune/", views.prune, name="prune"),
    path("sessions/<uuid:session_id>/clear/", views.clear, name="clear"),
    path("sessions/<uuid:session_id>/set-messages/", views.set_messages, name="set_messages"),
    path("sessions/<uuid:session_id>/usage/", views.set_usage, name="set_usage"),
    path(
        "sessions/<uuid:session_id>/<str:action>/preview/",
        views.bulk_preview,
        name="bulk_preview",
    ),
]

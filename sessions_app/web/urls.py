from __future__ import annotations

from django.urls import path

from sessions_app.web import edit_views, import_views, reading_views

app_name = "sessions_app"

urlpatterns = [
    path("", reading_views.session_list, name="session_list"),
    path("import/", import_views.import_sessions, name="import"),
    path("sessions/<uuid:session_id>/", reading_views.session_detail, name="session_detail"),
    path("sessions/<uuid:session_id>/messages/", reading_views.message_chunk, name="message_chunk"),
    path("sessions/<uuid:session_id>/messages/<int:index>/", reading_views.message_row, name="message_row"),
    path("sessions/<uuid:session_id>/messages/<int:index>/replace/", edit_views.replace, name="replace"),
    path("sessions/<uuid:session_id>/messages/<int:index>/remove/", edit_views.remove, name="remove"),
    path("sessions/<uuid:session_id>/messages/<int:index>/move/", edit_views.move, name="move"),
    path("sessions/<uuid:session_id>/append/", edit_views.append, name="append"),
    path("sessions/<uuid:session_id>/insert/", edit_views.insert, name="insert"),
    path("sessions/<uuid:session_id>/truncate/", edit_views.truncate, name="truncate"),
    path("sessions/<uuid:session_id>/prune/", edit_views.prune, name="prune"),
    path("sessions/<uuid:session_id>/clear/", edit_views.clear, name="clear"),
    path("sessions/<uuid:session_id>/set-messages/", edit_views.set_messages, name="set_messages"),
    path("sessions/<uuid:session_id>/usage/", edit_views.set_usage, name="set_usage"),
    path(
        "sessions/<uuid:session_id>/<str:action>/preview/",
        reading_views.bulk_preview,
        name="bulk_preview",
    ),
]

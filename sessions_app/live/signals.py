"""Closes a deactivated user's websockets in every process (their sockets join the group ``user.<id>``)."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def close_sockets_of_inactive_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.is_active or instance.pk is None:
        return
    user_id = instance.pk

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(f"user.{user_id}", {"type": "user.deactivated"})

    # After commit, like session events; robust: a broken channel layer never fails the save.
    # Sockets missed here (layer down, QuerySet.update) are closed by their periodic re-check.
    transaction.on_commit(send, robust=True)


def connect() -> None:
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_save

    post_save.connect(close_sockets_of_inactive_user, sender=get_user_model(), dispatch_uid="zyn-live-user")

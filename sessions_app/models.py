"""Rows behind the Session API. Only services/ writes them."""

from __future__ import annotations

import uuid

from django.db import models


class RoleChoices(models.TextChoices):
    USER = "user", "user"
    ASSISTANT = "assistant", "assistant"
    SYSTEM = "system", "system"


class Session(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    version = models.PositiveBigIntegerField(default=0, editable=False)
    # Kept equal to the number of Message rows by the service layer under the row lock,
    # so len() and the list page need no COUNT(*).
    message_count = models.PositiveIntegerField(default=0, editable=False)
    # At least every order key the session's messages hold: appends continue from it, and PostgreSQL's
    # one-statement append takes their keys from the UPDATE that locks this row (services/storage.py).
    last_order_key = models.BigIntegerField(default=0, editable=False)
    usage_prompt = models.BigIntegerField(null=True, blank=True, editable=False)
    usage_completion = models.BigIntegerField(null=True, blank=True, editable=False)
    usage_total = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.name or str(self.id)


class Message(models.Model):
    """A message of a session. Its index is its rank by ``order_key`` (sparse, only ever compared:
    domain/order_keys.py); readers that load rows by index set it as ``position`` (selectors/ranks.py)."""

    # No index of its own: the unique (session, order_key) index leads with session_id.
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="message_rows", db_index=False
    )
    order_key = models.BigIntegerField()
    role = models.CharField(max_length=16, choices=RoleChoices.choices)
    content = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "order_key"]
        constraints = [
            models.UniqueConstraint(fields=["session", "order_key"], name="message_unique_order_key"),
        ]

    def __str__(self) -> str:
        return f"{self.role} message"


class SessionEvent(models.Model):
    # No index of its own: event_unique_version (session, version) serves every lookup by session.
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="events", db_index=False)
    version = models.PositiveBigIntegerField()
    op = models.CharField(max_length=32)
    args = models.JSONField(default=dict)
    actor = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "version"]
        constraints = [
            models.UniqueConstraint(fields=["session", "version"], name="event_unique_version"),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.op}"


# ---------------------------------------------------------------- API keys (the JSON API)


class ApiKey(models.Model):
    """A named credential for the JSON API. Only a hash of the secret is stored; the raw key is shown once."""

    class Scope(models.TextChoices):
        READ = "read", "read-only"
        WRITE = "write", "read-write"

    name = models.CharField(
        max_length=100,
        unique=True,
        help_text="Shown in every event this key writes, as actor api:<name>.",
    )
    # The public part of the key (zyn_<prefix>_<secret>): finds the row without scanning hashes.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def actor(self) -> str:
        return f"api:{self.name}"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


class SessionSnapshot(models.Model):
    """A session's messages and usage as they were at one version, so history need not replay from v0.

    Derived data: written by history (checkpoints) and compact_events (retention), never by a
    session write, and never changing the session's version.
    """

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="snapshots")
    version = models.PositiveBigIntegerField()
    messages = models.JSONField(default=list)  # [{"role": …, "content": …}, …] in order
    usage = models.JSONField(null=True, blank=True)  # {"prompt", "completion", "total"} or null
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "version"]
        constraints = [
            models.UniqueConstraint(fields=["session", "version"], name="snapshot_unique_version"),
        ]

    def __str__(self) -> str:
        return f"snapshot v{self.version}"

"""API keys for the JSON API: creation (raw key shown once), verification, revocation, rate limiting.

Key format: ``zyn_<prefix>_<secret>``. The prefix (public, unique) finds the row; only
sha256(secret) is stored. The secret has 256 bits of entropy, so a fast hash is enough (no
password stretching needed) and comparison uses ``hmac.compare_digest``.

Rate limiting: a sliding window per key (services/ratelimit.py), shared through Redis when REDIS_URL is set;
without Redis each process counts on its own, so N daphne processes allow N times the limit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from sessions_app.domain.errors import InvalidArgument
from sessions_app.models import ApiKey
from sessions_app.services import ratelimit
from sessions_app.services.ratelimit import RateDecision

KEY_PREFIX = "zyn"
PREFIX_BYTES = 6  # 12 hex characters
SECRET_BYTES = 32
# Updating last_used_at on every request would be a write per read; once a minute is enough.
LAST_USED_RESOLUTION_SECONDS = 60


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or "\x00" in name:
        raise InvalidArgument("name must be 1-100 characters of text", field="name")
    return name.strip()


def _checked_scope(scope: str) -> str:
    if scope not in ApiKey.Scope.values:
        raise InvalidArgument(f"scope must be one of {', '.join(ApiKey.Scope.values)}", field="scope")
    return scope


def _name_taken(name: str) -> InvalidArgument:
    return InvalidArgument(f"an API key named {name!r} already exists", field="name")


def create_key(
    name: str, scope: str = ApiKey.Scope.READ, created_by: object | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns (row, raw key). The raw key is not stored anywhere: show it once."""
    name, scope = _checked_name(name), _checked_scope(scope)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    for _ in range(5):  # a prefix collision is astronomically rare; retry rather than fail
        prefix = secrets.token_hex(PREFIX_BYTES)
        try:
            with transaction.atomic():
                row = ApiKey.objects.create(
                    name=name,
                    prefix=prefix,
                    secret_hash=hash_secret(secret),
                    scope=scope,
                    created_by=created_by,
                )
        except IntegrityError:
            if ApiKey.objects.filter(name=name).exists():
                raise _name_taken(name) from None
            continue
        return row, f"{KEY_PREFIX}_{prefix}_{secret}"
    raise RuntimeError("could not allocate a unique key prefix")


def update_key(row: ApiKey, *, name: str, scope: str) -> None:
    """Rename a key or change its scope; its secret, and so the raw key, stay."""
    row.name, row.scope = _checked_name(name), _checked_scope(scope)
    try:
        with transaction.atomic():
            row.save(update_fields=["name", "scope"])
    except IntegrityError:
        raise _name_taken(row.name) from None


def delete_keys(rows: QuerySet[ApiKey]) -> None:
    """Delete keys outright (revoke keeps the row, and the name of its writes' actor, on record)."""
    rows.delete()


def revoke(row: ApiKey) -> None:
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        ApiKey.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=row.revoked_at)


_KEY_SHAPE = re.compile(rf"{KEY_PREFIX}_([0-9a-f]{{{2 * PREFIX_BYTES}}})_([A-Za-z0-9_-]{{20,200}})")


def split_key(raw: str) -> tuple[str, str] | None:
    """(prefix, secret), or None for anything not shaped like a key (never reaches the database)."""
    match = _KEY_SHAPE.fullmatch(raw)
    return None if match is None else (match.group(1), match.group(2))


def verify(raw: str) -> ApiKey | None:
    """The active key matching ``raw``, or None (unknown, malformed, wrong secret or revoked)."""
    parts = split_key(raw)
    if parts is None:
        return None
    prefix, secret = parts
    row = ApiKey.objects.filter(prefix=prefix).first()
    if row is None:
        # Hash anyway so a wrong prefix costs the same time as a wrong secret.
        hmac.compare_digest(hash_secret(secret), "0" * 64)
        return None
    if not hmac.compare_digest(hash_secret(secret), row.secret_hash) or row.revoked_at is not None:
        return None
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row


def check_rate(row: ApiKey, *, now: float | None = None) -> RateDecision:
    """Count one request of ``row`` if it may pass: ZYN_API_RATE_LIMIT per ZYN_API_RATE_WINDOW seconds,
    sliding (services/ratelimit.py); a limit of 0 disables limiting. ``now``: seconds since the epoch."""
    limit = int(settings.ZYN_API_RATE_LIMIT)
    if limit <= 0:
        return RateDecision(True, 0, 0)
    window = max(1, int(settings.ZYN_API_RATE_WINDOW))
    limiter = ratelimit.for_url(settings.REDIS_URL)
    return limiter.hit(row.prefix, limit, window, time.time() if now is None else now)

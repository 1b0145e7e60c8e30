"""Who is calling the JSON API: an API key (Authorization: Bearer …) or the dashboard's login session.

API-key requests are exempt from CSRF (no ambient credentials: a browser never adds the header by
itself); login-session requests are same-origin dashboard calls and keep Django's CSRF check. ``Access``
is the ninja auth of an operation: the caller it returns is ``request.auth``; refusals are ApiErrors.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security.base import AuthBase

from sessions_app import roles
from sessions_app.api.errors import ApiError
from sessions_app.domain.checks import describe
from sessions_app.models import ApiKey
from sessions_app.services import apikeys, user_actor

READ = "read"
WRITE = "write"
CREATE = "create"
_PERMISSION = {
    READ: roles.VIEW_SESSION,
    WRITE: roles.CHANGE_SESSION,
    CREATE: roles.ADD_SESSION,
}
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="zyn"'}


@dataclass(frozen=True)
class Caller:
    actor: str
    key: ApiKey | None = None


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    # ninja's views are csrf_exempt (for API keys), so the middleware skipped them: run its check here.
    return CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})


def authenticate(request: HttpRequest, need: str) -> Caller:
    """The caller allowed to do ``need`` (READ, WRITE or CREATE), or ApiError 401/403/429."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, raw = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise ApiError(401, "unauthorized", "use Authorization: Bearer <API key>", headers=_CHALLENGE)
        key = apikeys.verify(raw.strip())
        if key is None:
            raise ApiError(401, "unauthorized", "the API key is unknown or revoked", headers=_CHALLENGE)
        if need != READ and not key.can_write:
            raise ApiError(403, "forbidden", f"the API key {describe(key.name)} is read-only", key=key.name)
        decision = apikeys.check_rate(key)
        if not decision.allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"more than {decision.limit} requests in this window; retry in {decision.retry_after} s",
                headers={"Retry-After": str(decision.retry_after)},
                limit=decision.limit,
                retry_after=decision.retry_after,
            )
        return Caller(actor=key.actor, key=key)

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise ApiError(
            401, "unauthorized", "send an API key (Authorization: Bearer …) or sign in", headers=_CHALLENGE
        )
    if _csrf_failure(request) is not None:
        raise ApiError(403, "csrf_failed", "CSRF check failed: send the X-CSRFToken header from the page")
    if not user.has_perm(_PERMISSION[need]):
        raise ApiError(403, "forbidden", f"your account lacks the permission {_PERMISSION[need]}")
    return Caller(actor=user_actor(user))


class Access(AuthBase):
    """An operation's auth: who may do ``need`` (READ, WRITE or CREATE)."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_description = (
        "an API key zyn_<prefix>_<secret> (made in the admin), or a dashboard login session "
        "(cookie sessionid) with the X-CSRFToken header"
    )

    def __init__(self, need: str) -> None:
        super().__init__()
        self.need = need

    def __call__(self, request: HttpRequest) -> Caller:
        return authenticate(request, self.need)

"""URLs of the JSON API, mounted at /api/v1/: ninja's routes (sessions_app/api/app.py), the docs page, and
a JSON 404 for every other path."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, path, re_path, resolve
from django.views.decorators.csrf import csrf_exempt

from sessions_app.api import docs
from sessions_app.api.app import ALLOWED_METHODS, routes
from sessions_app.api.errors import ApiError, on_api_error


@csrf_exempt  # no view runs here: a POST gets the JSON 404 below, not the CSRF failure page
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Every /api/v1/ path no route matches; names the fix when a trailing slash is the only mistake."""
    path = request.path
    message = f"no API endpoint at {path[:200]}"
    target = path.rstrip("/")
    if target != path:
        try:
            methods = ALLOWED_METHODS.get(str(resolve(target).url_name), ())
        except Resolver404:
            methods = ()
        if request.method in methods:
            message = f"remove the trailing slash: {request.method} {target[:200]}"
        elif methods:
            message += f"; {target[:200]} (without the trailing slash) answers {', '.join(methods)}"
    return on_api_error(request, ApiError(404, "not_found", message))


urlpatterns = [
    *routes(),
    path("docs", docs.docs_page, name="api-docs"),
    re_path(r"^(?P<rest>.*)$", not_found),
]

"""The interactive docs page: Swagger UI from drf-spectacular-sidecar's static files, started by
static/sessions_app/api_docs.js (no inline script, so it works under the site's Content-Security-Policy)
and reading the generated document at /api/v1/openapi.json."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
@login_required
def docs_page(request: HttpRequest) -> HttpResponse:
    # "Try it out" runs as the signed-in user (same-origin cookie + the page's CSRF token).
    return render(request, "sessions_app/api_docs.html")

"""The OpenAPI document and the interactive docs page (Swagger UI from drf-spectacular-sidecar)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from sessions_app.api.auth import READ, Caller
from sessions_app.api.schema import openapi_document
from sessions_app.api.views import endpoint


def _openapi(request: HttpRequest, caller: Caller) -> HttpResponse:
    return JsonResponse(openapi_document())


openapi_json = endpoint({"GET": (READ, _openapi)})


@require_GET
@login_required
def docs_page(request: HttpRequest) -> HttpResponse:
    # "Try it out" runs as the signed-in user (same-origin cookie + the page's CSRF token).
    return render(request, "sessions_app/api_docs.html")

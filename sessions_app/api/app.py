"""The JSON API (django-ninja), mounted at /api/v1/: routers per resource, one exception handler per error
family, and the OpenAPI document generated from the routes and their Pydantic schemas.

What ninja does differently by default is set here once: answers are ``application/json`` without a
charset; faults that are not client mistakes reach the site's handler500 (never ninja's traceback page);
a method a path does not take is a JSON 405 naming the ones it does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed
from django.urls import URLPattern
from ninja import NinjaAPI, Router
from ninja.errors import ValidationError, ValidationErrorContext
from pydantic import TypeAdapter

from sessions_app.api import schemas, sessions, transfer, writes
from sessions_app.api.auth import READ, Access
from sessions_app.api.errors import ApiError, on_api_error, on_session_error, on_validation_error
from sessions_app.api.responses import describe_errors
from sessions_app.domain.errors import SessionError

REF_TEMPLATE = "#/components/schemas/{model}"
# Described by the document, read as text by transfer.py (so not a parameter ninja would validate).
DESCRIBED_ONLY = (schemas.ImportDocument,)


class ZynAPI(NinjaAPI):
    def set_default_exception_handlers(self) -> None:
        self.add_exception_handler(ApiError, on_api_error)
        self.add_exception_handler(SessionError, on_session_error)
        self.add_exception_handler(ValidationError, on_validation_error)

    def validation_error_from_error_contexts(
        self, error_contexts: list[ValidationErrorContext]
    ) -> ValidationError:
        # Unlike ninja's default, keep each error's input and the exception a validator raised
        # (the service's own error, which the API answers as it is).
        errors = []
        for context in error_contexts:
            single = getattr(context.model, "__read_from_single_attr__", None)
            for error in context.pydantic_validation_error.errors(include_url=False):
                errors.append({**error, "loc": error["loc"][1:] if single else error["loc"]})
        return ValidationError(errors)

    def get_content_type(self) -> str:
        return "application/json"

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        document = super().get_openapi_schema(path_prefix="", path_params=path_params)
        describe_errors(document)
        for described in DESCRIBED_ONLY:
            schema = TypeAdapter(described).json_schema(ref_template=REF_TEMPLATE)
            defs = schema.pop("$defs", {})
            if "$ref" not in schema:
                defs[described.__name__] = schema
            document["components"]["schemas"].update(defs)
        return document


api = ZynAPI(
    title="zyn sessions API",
    version="1",
    description=(
        "zyn's Session API over HTTP. Authenticate with `Authorization: Bearer <API key>` "
        "(keys are made in the admin) or a dashboard login session plus the X-CSRFToken header. "
        "Every write returns the new version; send expected_version (or If-Match) to write only "
        "if nobody else did. Errors are {error, message, details}."
    ),
    servers=[{"url": "/api/v1"}],
    openapi_url=None,  # served below, behind the API's auth
    docs_url=None,  # the docs page is sessions_app/api/docs.py (Swagger UI under the site's CSP)
    urls_namespace="api-v1",
)
document_router = Router()


@document_router.get("/openapi.json", auth=Access(READ), include_in_schema=False, url_name="api-openapi")
def openapi_json(request: HttpRequest) -> dict[str, Any]:
    return api.get_openapi_schema()


ROUTERS = (document_router, sessions.router, sessions.reads, writes.router, transfer.router)
for _router in ROUTERS:
    api.add_router("", _router)

# url name → the methods its path answers (for the 405 below and for api_urls.not_found).
ALLOWED_METHODS: dict[str, tuple[str, ...]] = {
    str(view.url_name): tuple(method for operation in view.operations for method in operation.methods)
    for router in ROUTERS
    for view in router.path_operations.values()
}


def _json_method_not_allowed(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """ninja answers a method none of a path's operations takes with a plain-text 405 (before auth): the
    API's is its JSON error, naming the methods the path takes."""

    @functools.wraps(view)
    def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = ALLOWED_METHODS[str(request.resolver_match.url_name)]
        return on_api_error(
            request,
            ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            ),
        )

    return answer


def routes() -> list[URLPattern]:
    """ninja's routes, without its root page (the API's JSON 404 answers there)."""
    patterns = [p for p in api.urls[0] if isinstance(p, URLPattern) and p.name != "api-root"]
    for pattern in patterns:
        pattern.callback = _json_method_not_allowed(pattern.callback)
    return patterns

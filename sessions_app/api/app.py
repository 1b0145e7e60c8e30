"""The JSON API (django-ninja), mounted at /api/v1/: routers per resource, one exception handler per error
family, and the OpenAPI document generated from the routes and their Pydantic schemas.

What ninja does differently by default is set here once: answers are ``application/json`` without a
charset; faults that are not client mistakes reach the site's handler500 (never ninja's traceback page);
a method a path does not take is a JSON 405 naming the ones it does.
"""

from __future__ import annotations

import warnings
from http import HTTPMethod
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Router
from ninja.errors import ValidationError, ValidationErrorContext
from pydantic import TypeAdapter

from sessions_app.api import schemas, sessions, transfer, writes
from sessions_app.api.auth import READ, Access
from sessions_app.api.errors import ApiError, on_api_error, on_session_error, on_validation_error
from sessions_app.api.responses import describe_errors
from sessions_app.exceptions import SessionError

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


def _method_not_allowed(request: HttpRequest, **path: str) -> HttpResponse:
    allowed = ALLOWED_METHODS[request.resolver_match.url_name]
    raise ApiError(
        405,
        "method_not_allowed",
        f"{request.method} is not allowed here; use {', '.join(allowed)}",
        headers={"Allow": ", ".join(allowed)},
    )


# url name → the methods its path answers (read by the 405 answer and by urls.not_found).
ALLOWED_METHODS: dict[str, tuple[str, ...]] = {}


def _answer_other_methods(router: Router) -> None:
    """Every other standard method of each path gets the JSON 405 (before auth, as a method is checked
    first), instead of ninja's plain-text one."""
    for path, view in list(router.path_operations.items()):
        allowed = tuple(method for operation in view.operations for method in operation.methods)
        ALLOWED_METHODS[str(view.url_name)] = allowed
        others = [method.value for method in HTTPMethod if method.value not in allowed]
        with warnings.catch_warnings():  # the 405 needs none of the path's parameters
            warnings.filterwarnings("ignore", "Field.* are in the view path", UserWarning)
            router.add_api_operation(path, others, _method_not_allowed, auth=None, include_in_schema=False)


for _router in (document_router, sessions.router, sessions.reads, writes.router, transfer.router):
    _answer_other_methods(_router)
    api.add_router("", _router)

"""Template filters of the dashboard's pages.

Nothing here marks user content safe: the filters return plain strings and structures that the
templates print with autoescaping (content views: sessions_app/web/content.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template

from sessions_app.web import content, presenters

register = template.Library()

register.filter("content_view", content.content_view)
register.filter("metadata_tags", presenters.metadata_tags)


@register.filter
def field_value(values: dict[str, Any], name: str) -> Any:
    """A value the operator typed, for re-showing a form after an error (QueryDict or dict)."""
    if not values:
        return ""
    return values.get(name, "")


@register.filter
def urlencode_dict(values: dict[str, Any]) -> str:
    """A dict as a query string (without the "?")."""
    return urlencode(values or {})

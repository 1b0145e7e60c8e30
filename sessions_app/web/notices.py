"""The notice after a write from the dashboard: "Message #3 removed · saved as v41 · Undo".

One mechanism for every write (an edit, a bulk tool, a restore, an undo): the view queues the notice as a
django.contrib.messages message, and whatever page is shown next renders the queued messages in the
``#notices`` status region of base.html (``templates/sessions_app/_notices.html``), which is in every page
from the start so that screen readers announce what is put into it.

- A plain POST redirects (post/redirect/get): the page it lands on shows the notice.
- An htmx answer carries the notice as an out-of-band swap into ``#notices`` and names the write in an
  ``HX-Trigger-After-Settle`` event (``zyn:saved``: session, version, op), which app.js uses to time the
  notice (it fades after some seconds, never while hovered or focused).

"Undo" restores the version before the write through the history restore path, with the written version
as ``expected_version``: if anyone wrote since, the restore is refused with a version conflict and
nothing changes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.html import format_html

SAVED_EVENT = "zyn:saved"
SAVED_TAG = "saved"


@dataclass(frozen=True)
class Saved:
    """One successful write: what the notice names."""

    session_id: uuid.UUID
    op: str
    version: int
    words: str  # "Message #3 removed"


def saved(request: HttpRequest, notice: Saved) -> Saved:
    """Queue the notice of ``notice`` for the next page (or this htmx answer: ``deliver``)."""
    html = render_to_string(
        "sessions_app/_saved_notice.html",
        {"notice": notice, "undo_to": notice.version - 1 if notice.version > 0 else None},
        request=request,
    )
    messages.success(request, html, extra_tags=SAVED_TAG)
    return notice


def current_page(request: HttpRequest, page: str) -> str:
    """The page the operator is on: for an htmx request the page it was sent from (``page`` when the
    request does not say), else this one."""
    htmx = getattr(request, "htmx", None)
    if htmx:
        return htmx.current_url_abs_path or page
    return request.get_full_path()


def deliver(request: HttpRequest, response: HttpResponse, notice: Saved, page: str) -> HttpResponse:
    """An htmx answer with the queued notices swapped into ``#notices`` (out of band) and the
    ``zyn:saved`` event. The messages are used up here, so the next page does not show them again.
    ``page``: the session's page, should the request not say which page it came from."""
    queued = render_to_string(
        "sessions_app/_notices.html",
        {"messages": messages.get_messages(request), "here": current_page(request, page)},
        request=request,
    )
    response.content += format_html('<div id="notices" hx-swap-oob="innerHTML">{}</div>', queued).encode(
        response.charset
    )
    detail = {"session": str(notice.session_id), "version": notice.version, "op": notice.op}
    response["HX-Trigger-After-Settle"] = json.dumps({SAVED_EVENT: detail})
    return response

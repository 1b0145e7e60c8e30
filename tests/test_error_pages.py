"""The 400, 403 and 404 answers of the dashboard are pages of the site (templates/4xx.html), not bare text."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from sessions_app.domain.types import Message
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db


@pytest.fixture
def session() -> SessionService:
    s = SessionService.new(name="errors")
    s.set_messages([Message("user", "hello"), Message("assistant", "hi")])
    return s


def assert_site_page(response, status: int, title: str, *words: str) -> None:  # noqa: ANN001
    body = response.content.decode()
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    # The site's layout and style sheet, the heading, and the way back.
    assert "sessions_app/app.css" in body and 'class="topbar"' in body
    assert f"<h1>{title}</h1>" in body and '<a href="/">Back to sessions</a>' in body
    for word in words:
        assert word in body, word


@pytest.mark.parametrize("mode", ["edit", "remove"])
def test_viewer_opening_an_editor_gets_the_403_page(viewer, session, mode):
    v = session.version()
    detail = reverse("sessions_app:session_detail", args=[session.id])
    row = reverse("sessions_app:message_row", args=[session.id, 1])
    for response in (
        viewer.get(f"{detail}?row=1&mode={mode}&v={v}"),
        viewer.get(f"{row}?mode={mode}&v={v}", HTTP_HX_REQUEST="true"),
    ):
        assert_site_page(response, 403, "Not allowed", "Editing needs the editor role")


def test_export_of_an_unknown_session_gets_the_404_page(viewer):
    response = viewer.get(reverse("session-export", args=[uuid.uuid4()]) + "?format=json")
    assert_site_page(response, 404, "Not found", "No session with this id.")


def test_export_in_an_unknown_format_gets_the_400_page(viewer, session):
    response = viewer.get(reverse("session-export", args=[session.id]) + "?format=xml")
    assert_site_page(response, 400, "Bad request", "Nothing was changed.")
    assert "format" in response.content.decode()


def test_unknown_address_gets_the_404_page(viewer):
    assert_site_page(viewer.get(f"/sessions/{uuid.uuid4()}/"), 404, "Not found")

"""The screenshots command writes real PNGs of the list and detail pages."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sessions_app.domain.types import TokenUsage
from sessions_app.roles import ADMIN
from sessions_app.services import SessionService
from tests.live_support import make_user

from .conftest import _free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_screenshots_command_writes_pngs_of_both_pages(tmp_path, admin_user):
    s = SessionService.new(name="screenshot me")
    s.append("system", "Be brief.")
    s.record_exchange("hello", '{"ok": true}', TokenUsage(10, 5, 15))
    s.append("user", "The export button does nothing on Safari 17.")  # found by the search shot
    before = (s.messages(), s.last_usage(), s.version())
    out = io.StringIO()
    call_command("screenshots", out=str(tmp_path), port=_free_port(), stdout=out)
    assert "wrote" in out.getvalue()
    # The saved-notice shot moved #1 down and undid it with the notice's Undo: two versions, same messages.
    assert (s.messages(), s.last_usage(), s.version()) == (*before[:2], before[2] + 2)
    for name in (
        "list-1280.png",
        "list-phone.png",
        "list-search-1280.png",
        "detail-1280.png",
        "detail-1280-dark.png",
        "detail-saved-notice-1280.png",
        "import-preview-1280.png",
    ):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, name


def test_screenshots_command_explains_what_is_missing(tmp_path):
    with pytest.raises(CommandError, match="ensure_operator"):
        call_command("screenshots", out=str(tmp_path))
    make_user("shooter", ADMIN)
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("screenshots", out=str(tmp_path))

"""The commands behind `make run`: demo data and the operator account."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from sessions_app import roles
from sessions_app.models import Session
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_realistic_sessions_once():
    call_command("seed_demo", count=4, big=60, stdout=io.StringIO(), stderr=io.StringIO())
    rows = list(Session.objects.order_by("created_at"))
    assert len(rows) == 4
    big = SessionService(rows[-1].id)
    assert big.len() == 60 and big.last_usage() is not None
    for row in rows:
        s = SessionService(row.id)
        assert s.at(0).role == "system" and row.metadata["program"]
        answers = [m.content for m in s.messages() if m.role == "assistant"]
        assert answers and all(isinstance(json.loads(a), dict) for a in answers)  # JSON-shaped like synapses
        assert s.events()[-1].version == s.version()
    # A person's correction of an answer, so the history shows a word diff (docs/screenshots/history-diff).
    edits = [e for row in rows for e in SessionService(row.id).events() if e.op == "replace"]
    assert edits and all(e.actor == "operator" for e in edits)
    assert all('"reviewed_by": "operator"' in e.args["content"] for e in edits)
    out = io.StringIO()
    call_command("seed_demo", count=4, big=60, stdout=out, stderr=io.StringIO())
    assert "already present" in out.getvalue() and Session.objects.count() == 4


def test_ensure_operator_creates_one_account_with_a_random_printed_password():
    out = io.StringIO()
    call_command("ensure_operator", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    assert len(password) >= 12
    user = authenticate(username="operator", password=password)
    assert user is not None and user.is_superuser
    again = io.StringIO()
    call_command("ensure_operator", stdout=again)
    assert "already exists" in again.getvalue() and get_user_model().objects.count() == 1
    other = io.StringIO()
    get_user_model().objects.all().delete()
    call_command("ensure_operator", stdout=other)
    assert re.search(r"password: (\S+)", other.getvalue()).group(1) != password


# ---------------------------------------------------------------- accounts and roles (create_account)


def _account(*args: str, stdin: str | None = None, monkeypatch=None) -> str:  # noqa: ANN001
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("create_account", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _printed_password(out: str) -> str:
    return re.search(r"password: (\S+)", out).group(1)


@pytest.mark.parametrize(
    ("role", "group", "superuser"),
    [("viewer", "Session viewers", False), ("editor", "Session editors", False), ("admin", None, True)],
)
def test_create_account_makes_a_role_with_a_one_time_random_password(role, group, superuser):
    out = _account("alice", "--role", role, "--email", "alice@example.com")
    password = _printed_password(out)
    assert len(password) >= 16 and "shown once" in out
    user = authenticate(username="alice", password=password)
    assert user is not None and user.email == "alice@example.com"
    assert [g.name for g in user.groups.all()] == ([group] if group else [])
    assert user.is_superuser is superuser and user.is_staff is superuser  # only admins use the admin site
    assert roles.role_of(user) == role
    other = _printed_password(_account("bob", "--role", role))
    assert other != password


def test_create_account_staff_may_use_the_admin_within_the_role():
    _account("erin", "--role", "editor", "--staff")
    user = get_user_model().objects.get(username="erin")
    assert user.is_staff and not user.is_superuser and user.has_perm("sessions_app.change_session")
    assert not user.has_perm("sessions_app.add_apikey")


def test_create_account_refuses_unknown_roles_and_existing_names_changing_nothing():
    with pytest.raises(CommandError, match="invalid choice: 'boss'"):
        _account("alice", "--role", "boss")
    assert not get_user_model().objects.exists()
    password = _printed_password(_account("alice", "--role", "viewer"))
    with pytest.raises(CommandError, match=r"'alice' already exists \(role: viewer\).*--change-role"):
        _account("alice", "--role", "admin")
    user = get_user_model().objects.get(username="alice")
    assert roles.role_of(user) == "viewer" and user.check_password(password)


def test_create_account_refuses_bad_names_emails_and_weak_passwords(monkeypatch):
    for args, message in [
        (("has space", "--role", "viewer"), "Enter a valid username"),
        (("x" * 151, "--role", "viewer"), "at most 150 characters"),
        (("carol", "--role", "viewer", "--email", "not-an-email"), "valid email"),
    ]:
        with pytest.raises(CommandError, match=message):
            _account(*args)
    with pytest.raises(CommandError, match="password refused: .*too short"):
        _account("carol", "--role", "viewer", "--password-stdin", stdin="abc\n", monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match="the password given is empty"):
        _account("carol", "--role", "viewer", "--password-stdin", stdin="\n", monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match="ZYN_NOT_SET_HERE is not set"):
        _account("carol", "--role", "viewer", "--password-env", "ZYN_NOT_SET_HERE")
    assert not get_user_model().objects.exists()


def test_create_account_takes_a_password_from_stdin_or_the_environment_and_does_not_print_it(monkeypatch):
    out = _account(
        "dan",
        "--role",
        "editor",
        "--password-stdin",
        stdin="correct horse 42 staple\n",
        monkeypatch=monkeypatch,
    )
    assert "correct horse" not in out and "with the password given" in out
    assert authenticate(username="dan", password="correct horse 42 staple") is not None
    monkeypatch.setenv("ZYN_NEW_PASSWORD", "another long pass 43")
    out = _account("eve", "--role", "viewer", "--password-env", "ZYN_NEW_PASSWORD")
    assert "another long" not in out and authenticate(username="eve", password="another long pass 43")


def test_create_account_change_role_changes_only_the_role():
    password = _printed_password(_account("frank", "--role", "admin"))
    out = _account("frank", "--role", "editor", "--change-role")
    assert "frank: role admin → editor." in out
    user = get_user_model().objects.get(username="frank")
    assert roles.role_of(user) == "editor" and not user.is_superuser and not user.is_staff
    assert user.check_password(password)
    _account("frank", "--role", "viewer", "--change-role")
    user.refresh_from_db()
    assert [g.name for g in user.groups.all()] == ["Session viewers"]  # the editors group is gone
    assert user.has_perm("sessions_app.view_session") and not user.has_perm("sessions_app.change_session")
    with pytest.raises(CommandError, match="no account named 'nobody'; leave out --change-role"):
        _account("nobody", "--role", "viewer", "--change-role")
    with pytest.raises(CommandError, match="changes the role only; use manage.py changepassword"):
        _account("frank", "--role", "viewer", "--change-role", "--password-env", "HOME")


def test_make_run_still_prints_the_operators_one_time_password():
    """scripts/run.sh (make run) calls ensure_operator before serving; its output is the password block."""
    from pathlib import Path

    from django.conf import settings

    script = (Path(settings.BASE_DIR) / "scripts" / "run.sh").read_text()
    assert script.index("manage.py ensure_operator") < script.index("zyn_site.server")

"""The commands behind `make run`: demo data and the operator account."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

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

"""No 500 from the admin: whatever a browser posts, a form error or a clear message, nothing changed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from sessions_app import models
from sessions_app.models import ApiKey
from tests.test_admin import PREFIX, change_url, form_data, make

pytestmark = pytest.mark.django_db


# What the metadata textarea may hold, and the form error each gets. The text is what a browser posts.
BAD_METADATA = {
    "NUL": ('{"k": "a\\u0000b"}', "metadata.k must not contain NUL characters"),
    "NUL in a key": ('{"a\\u0000": 1}', "metadata key must not contain NUL characters"),
    "lone surrogate": ('{"k": "\\ud800"}', "metadata.k is not valid Unicode text (unpaired surrogate)"),
    "NaN": ('{"k": NaN}', "metadata holds NaN, which JSON has no way to write"),
    "Infinity": ('{"k": -Infinity}', "metadata holds -Infinity, which JSON has no way to write"),
    "1e400": ('{"k": 1e400}', "metadata.k must be a number between"),
    "deep nesting": ("[" * 5000 + "]" * 5000, "metadata is nested deeper than 32 levels"),
    "deep but parsable": ('{"k": ' + "[" * 40 + "]" * 40 + "}", "metadata is nested deeper than 32 levels"),
    "5,000-digit integer": ('{"k": ' + "7" * 5000 + "}", "a number with too many digits to read"),
    "not an object": ("[1, 2]", "metadata must be a JSON object"),
    "not JSON": ("{'k': 1}", "metadata is not valid JSON"),
}


@pytest.mark.parametrize("text,error", BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_bad_metadata_on_the_change_page_is_a_form_error(admin_client, text, error):
    s = make("a", name="kept", metadata={"program": "triage"})
    data = form_data(s)
    data["metadata"] = text
    response = admin_client.post(change_url(s), data)
    page = response.content.decode()
    assert response.status_code == 200 and error in page, page[:3000]
    assert "errornote" in page  # the admin's "Please correct the error below."
    row = s.row()
    assert (row.name, row.metadata, row.version, len(s.events())) == ("kept", {"program": "triage"}, 1, 1)


@pytest.mark.parametrize("text,error", BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_bad_metadata_on_the_add_page_is_a_form_error(admin_client, text, error):
    data = {
        "name": "never made",
        "metadata": text,
        f"{PREFIX}-TOTAL_FORMS": 0,
        f"{PREFIX}-INITIAL_FORMS": 0,
        f"{PREFIX}-MIN_NUM_FORMS": 0,
        f"{PREFIX}-MAX_NUM_FORMS": 1000,
        "_save": "Save",
    }
    response = admin_client.post(reverse("admin:sessions_app_session_add"), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert not models.Session.objects.exists()


def test_a_refused_metadata_text_is_shown_back_as_typed(admin_client):
    s = make(metadata={"program": "triage"})
    data = form_data(s)
    data["metadata"] = '{"k": NaN, "b": "<b>"}'
    page = admin_client.post(change_url(s), data).content.decode()
    assert "{&quot;k&quot;: NaN, &quot;b&quot;: &quot;&lt;b&gt;&quot;}</textarea>" in page


def test_a_name_with_nul_or_too_long_is_a_form_error(admin_client):
    s = make(name="kept")
    for name, error in (("a\x00b", "Null characters are not allowed"), ("x" * 201, "at most 200 characters")):
        response = admin_client.post(change_url(s), form_data(s, name=name))
        assert response.status_code == 200 and error in response.content.decode()
    assert s.row().name == "kept" and s.version() == 0


SESSION_ACTIONS = ["clear_messages", "prune_messages", "truncate_messages"]


@pytest.mark.parametrize("action", SESSION_ACTIONS)
@pytest.mark.parametrize("apply", [False, True], ids=["confirm page", "apply"])
def test_session_action_with_a_malformed_selected_id_is_a_message_not_a_500(admin_client, action, apply):
    s = make("a", "b", "c", "d")
    data = {"action": action, "_selected_action": [str(s.id), "not-a-uuid"], "index": 0}
    if apply:
        del data["index"]
        data.update(apply="yes", n=1, keep_first=1, keep_last=1, **{f"version_{s.id}": 1})
    changelist = reverse("admin:sessions_app_session_changelist")
    response = admin_client.post(changelist, data)
    assert response.status_code == 302
    page = admin_client.get(response["Location"]).content.decode()
    assert "Nothing was changed: &#x27;not-a-uuid&#x27; is not the id of a session" in page
    assert s.version() == 1 and len(s.messages()) == 4


@pytest.mark.parametrize(
    "admin_name,action",
    [
        ("sessions_app_apikey", "revoke_keys"),
        ("auth_user", "delete_selected"),
        ("auth_group", "delete_selected"),
    ],
)
def test_other_admin_actions_with_a_malformed_selected_id_are_a_message(admin_client, admin_name, action):
    key = ApiKey.objects.create(name="bot", prefix="abc", scope="write", secret_hash="x")
    changelist = reverse(f"admin:{admin_name}_changelist")
    response = admin_client.post(
        changelist, {"action": action, "_selected_action": ["1", "x'); --"], "index": 0}
    )
    assert response.status_code == 302
    assert "is not the id of a" in admin_client.get(response["Location"]).content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None and User.objects.filter(username="root").exists()

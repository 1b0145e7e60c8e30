"""Import in the dashboard (/import/): preview with errors by line, import exactly what was previewed,
ids that exist offered as new sessions, editors only, CSRF, and any uploaded bytes answered with a 4xx."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from sessions_app import models
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService

pytestmark = pytest.mark.django_db

URL = "/import/"
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "import-preview"}


def line(name: str, n: int = 1, **extra: object) -> str:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"{name} {i}"} for i in range(n)]
    return json.dumps({"name": name, "messages": messages, **extra})


def upload(text: str | bytes, name: str = "sessions.jsonl") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="application/x-ndjson")


def fingerprint(data: str | bytes, fmt: str = "jsonl") -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(fmt.encode() + b"\0" + raw).hexdigest()


def post(client: Client, text: str | bytes, name: str = "sessions.jsonl", **fields: str):  # noqa: ANN201
    return client.post(URL, {"file": upload(text, name), **fields}, **HTMX)


def page(response) -> str:  # noqa: ANN001
    return response.content.decode()


def rows(html: str) -> list[tuple[str, str, str]]:
    """(line, name, message count) of each session the preview lists."""
    body = html.split('class="sessions import-sessions"', 1)[1]
    return re.findall(
        r'<td class="num" data-label="Line">(\d+)</td>\s*<td>(.*?)</td>\s*'
        r'<td class="num" data-label="Messages">([\d,]+)</td>',
        body,
    )


def test_the_page_is_linked_from_the_list_for_editors_and_says_the_size_limit(editor, viewer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
    assert 'href="/import/"' in page(editor.get("/"))
    assert 'href="/import/"' not in page(viewer.get("/"))
    html = page(editor.get(URL))
    assert '<progress id="import-progress"' in html and 'enctype="multipart/form-data"' in html
    assert "Files up to <strong>16.0\xa0MB</strong>" in html and 'data-max-bytes="16777216"' in html
    assert reverse("sessions_app:import") == URL


def test_viewers_get_403_and_anonymous_users_the_login(viewer):
    assert viewer.get(URL).status_code == 403
    assert viewer.post(URL, {"file": upload(line("a"))}).status_code == 403
    anonymous = Client().post(URL, {"file": upload(line("a"))})
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    assert models.Session.objects.count() == 0


def test_a_post_without_the_csrf_token_is_refused(csrf_checked_editor):
    text = line("a")
    data = {"file": upload(text), "action": "import", "fingerprint": fingerprint(text)}
    response = csrf_checked_editor.post(URL, data)
    assert response.status_code == 403 and models.Session.objects.count() == 0


def test_the_preview_lists_what_would_be_created_and_writes_nothing(editor):
    text = "\n".join([line("first", 3), line("second", 0), "", line("third", 2)]) + "\n"
    response = post(editor, text)
    assert response.status_code == 200
    html = page(response)
    assert rows(html) == [("1", "first", "3"), ("2", "second", "0"), ("4", "third", "2")]
    assert "3 sessions</strong> with\n    <strong>5 messages</strong> would be created" in html
    assert f'name="fingerprint" value="{fingerprint(text)}"' in html
    assert 'name="action" value="import"' in html
    assert models.Session.objects.count() == 0 and models.SessionEvent.objects.count() == 0


def test_the_preview_shows_every_error_by_line_and_offers_no_import(editor):
    text = "\n".join(
        [
            line("good"),
            '{"messages": [{"role": "robot", "content": "x"}]}',
            "{not json",
            line("good too"),
            '{"name": "x"}',
            "[1, 2]",
        ]
    )
    response = post(editor, text)
    assert response.status_code == 400
    html = page(response)
    errors = re.findall(r'<li><span class="line">line (\d+)</span> (.*?)</li>', html)
    assert [n for n, _ in errors] == ["2", "3", "5", "6"]
    assert "messages[0]: role must be one of" in errors[0][1] and "not valid JSON" in errors[1][1]
    assert errors[2][1] == "missing field: messages" and "must be a JSON object" in errors[3][1]
    assert "4 errors</strong>: nothing can be imported" in html
    assert 'name="action" value="import' not in html and 'name="fingerprint"' not in html
    # Importing it anyway (a hand-made post) is refused too.
    refused = post(editor, text, action="import", fingerprint=fingerprint(text))
    assert refused.status_code == 400 and models.Session.objects.count() == 0


@pytest.mark.parametrize(
    "data,name,expected",
    [
        (
            b'{"name": "ok", "messages": []}\n{"name": "\xe9t\xe9", "messages": []}\n',
            "x.jsonl",
            "line 2</span> not UTF-8",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "picture.json", "line 1</span> not UTF-8"),
        (b'{"sessions": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "deep.json", "not acceptable JSON"),
        (b'{"sessions": 5}', "bad.json", "line 1</span> a JSON import is {&quot;sessions&quot;: [...]}"),
        (
            b'{"messages": [{"role": "user", "content": "' + b"x" * 2_000_000 + b'"}]}',
            "huge.jsonl",
            "content",
        ),
        (b'{"messages": [], "usage": {"prompt": NaN, "completion": 1, "total": 1}}', "nan.jsonl", "NaN"),
        (b'{"messages": [], "metadata": {"n": ' + b"9" * 5000 + b"}}", "digits.jsonl", "not acceptable JSON"),
        (b'{"messages": [{"role": "user", "content": "a\\u0000b"}]}', "nul.jsonl", "NUL"),
        (b"\n\n  \n", "blank.jsonl", None),
    ],
    ids=["latin-1", "binary", "deep", "wrong-shape", "huge-line", "nan", "digits", "nul", "blank"],
)
def test_untrusted_files_get_a_4xx_with_the_line_and_create_nothing(editor, data, name, expected):
    for action in ("preview", "import", "import_as_new"):
        response = editor.post(
            URL,
            {"file": upload(data, name), "action": action, "fingerprint": fingerprint(data, "json")},
            **HTMX,
        )
        assert 400 <= response.status_code < 500, (action, response.status_code)
        if expected:
            assert expected in page(response), page(response)[:2000]
    assert models.Session.objects.count() == 0 and models.SessionEvent.objects.count() == 0


def test_a_missing_or_empty_file_or_bad_format_is_a_400(editor):
    assert editor.post(URL, {"action": "preview"}, **HTMX).status_code == 400
    assert "Choose a file to import." in page(editor.post(URL, {"action": "preview"}, **HTMX))
    assert "The file is empty" in page(post(editor, b""))
    bad = post(editor, line("a"), format="xml")
    assert bad.status_code == 400 and "Format must be json, jsonl or openai." in page(bad)
    assert models.Session.objects.count() == 0


def test_import_creates_exactly_the_previewed_sessions_each_one_version(editor):
    text = "\n".join(
        [
            line("first", 3, usage={"prompt": 1, "completion": 2, "total": 3}),
            line("second", 0),
            line("third", 2),
        ]
    )
    preview = rows(page(post(editor, text)))
    response = post(editor, text, action="import", fingerprint=fingerprint(text))
    assert response.status_code == 201
    html = page(response)
    assert "Imported 3 session(s) with 5 message(s) from sessions.jsonl." in html
    created = [SessionService(s.id) for s in models.Session.objects.order_by("created_at", "id")]
    assert [(s.row().name, str(s.len())) for s in created] == [(name, n) for _, name, n in preview]
    for s in created:
        assert f'href="/sessions/{s.id}/"' in html
        assert [(e.version, e.op, e.actor) for e in s.events()] == [(1, "import", "erin")]
    assert created[0].last_usage() == TokenUsage(1, 2, 3) and created[0].messages()[0] == Message(
        "user", "first 0"
    )


def test_a_plain_post_imports_and_redirects_to_the_list_with_a_notice(editor):
    text = line("plain", 2)
    response = editor.post(URL, {"file": upload(text), "action": "import", "fingerprint": fingerprint(text)})
    assert response.status_code == 302 and response["Location"] == "/"
    listing = page(editor.get("/"))
    assert "Imported 1 session(s) with 2 message(s) from sessions.jsonl." in listing and ">plain<" in listing


def test_a_plain_preview_is_the_whole_page_and_keeps_the_chosen_format(editor):
    text = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    response = editor.post(URL, {"file": upload(text, "chat.jsonl"), "format": "openai"})
    html = page(response)
    assert response.status_code == 200 and "<html" in html and '<option value="openai" selected>' in html
    assert "as openai" in html and "choose the same file again" in html  # (in <noscript>)


def test_an_import_of_another_file_than_the_previewed_one_is_refused_with_its_preview(editor):
    previewed, other = line("previewed"), line("swapped", 4)
    response = post(editor, other, action="import", fingerprint=fingerprint(previewed))
    assert response.status_code == 409
    assert "This is not the file (or format) that was previewed" in page(response)
    assert rows(page(response)) == [("1", "swapped", "4")]
    jsonl_as_openai = post(editor, previewed, action="import", fingerprint=fingerprint(previewed, "json"))
    assert jsonl_as_openai.status_code == 409
    assert models.Session.objects.count() == 0


def test_an_existing_id_is_offered_as_a_new_session(editor):
    original = SessionService.new(name="already here", metadata={"k": "v"})
    original.append("user", "the original")
    text = "\n".join([line("fresh"), line("from the file", 2, id=str(original.id))])
    response = post(editor, text)
    assert response.status_code == 200
    html = page(response)
    assert "1 session has an id that already exists here" in html
    assert '<tr class="exists">' in html and f'href="/sessions/{original.id}/"' in html
    assert 'name="action" value="import_as_new"' in html and 'value="import"' not in html
    assert "Import 2 sessions (1 as new)" in html
    # A plain import of it is refused: nothing written.
    refused = post(editor, text, action="import", fingerprint=fingerprint(text))
    assert refused.status_code == 409 and "already exist here" in page(refused)
    assert models.Session.objects.count() == 1


def test_as_new_creates_a_fresh_id_and_leaves_the_original_untouched(editor):
    original = SessionService.new(name="already here", metadata={"k": "v"})
    original.append("user", "the original")
    before = (original.version(), original.messages(), original.row().name, original.row().metadata)
    text = "\n".join([line("fresh"), line("from the file", 2, id=str(original.id))])
    response = post(editor, text, action="import_as_new", fingerprint=fingerprint(text))
    assert response.status_code == 201
    assert "Imported 2 session(s) with 3 message(s) from sessions.jsonl; 1 as new session(s)" in page(
        response
    )
    assert (original.version(), original.messages(), original.row().name, original.row().metadata) == before
    copy = models.Session.objects.get(name="from the file")
    assert copy.pk != original.id
    assert f"new id (the file's was {original.id})" in page(response)
    assert SessionService(copy.pk).messages() == [
        Message("user", "from the file 0"),
        Message("assistant", "from the file 1"),
    ]
    (event,) = SessionService(copy.pk).events()
    assert event.op == "import" and event.args["imported_from"] == str(original.id)
    assert models.Session.objects.count() == 3


def test_an_id_taken_between_preview_and_import_imports_nothing(editor, monkeypatch):
    from sessions_app.services import transfer

    taken = "6b1f7a52-6c1c-4a7e-9d2e-0c5f0c1f8e11"
    text = "\n".join([line("a"), line("b", id=taken)])
    real_scan = transfer.scan

    def scan_then_someone_takes_the_id(*args, **kwargs):  # noqa: ANN202
        result = real_scan(*args, **kwargs)
        if not models.Session.objects.filter(pk=taken).exists():
            SessionService.new(name="someone else", session_id=__import__("uuid").UUID(taken))
        return result

    monkeypatch.setattr(transfer, "scan", scan_then_someone_takes_the_id)
    response = post(editor, text, action="import", fingerprint=fingerprint(text))
    assert response.status_code == 409 and "already exists" in page(response)
    assert list(models.Session.objects.values_list("name", flat=True)) == ["someone else"]

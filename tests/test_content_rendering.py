"""Any content the Session API accepts renders everywhere: pages, partials, live frames, exports, history.

The content is shown either as its pretty JSON (every token as written, so it parses back to the same
value) or as the text itself, always escaped. Text the API refuses (NUL, lone surrogates) never gets in.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from types import SimpleNamespace

import pytest
from django.template import engines
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions_app.domain.errors import InvalidArgument
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.live import updates as live
from sessions_app.models import ApiKey
from sessions_app.services import SessionService
from sessions_app.web.display import MAX_JSON_DEPTH, pretty_json

HTMX = {"HTTP_HX_REQUEST": "true"}


def _one_of_each_category() -> str:
    """The first code point of every Unicode general category, except the two no text may hold (Cs:
    surrogates, and NUL, which is Cc's first)."""
    found: dict[str, str] = {}
    for cp in range(1, sys.maxunicode + 1):
        category = unicodedata.category(chr(cp))
        if category != "Cs" and category not in found:
            found[category] = chr(cp)
            if len(found) == 29:
                break
    assert len(found) == 29  # all of them but Cs
    return "".join(found.values())


EVERY_CATEGORY = _one_of_each_category()

NASTY = {
    "deep [": "[" * 5000 + "]" * 5000,
    "deep {": '{"a":' * 3000 + "1" + "}" * 3000,
    "deep [{ mixed": '[{"k":' * 2000 + "0" + "}]" * 2000,
    "just past the depth shown": "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
    "5,000-digit integer": "[" + "9" * 5000 + "]",
    "5,000-digit integer as text": "9" * 5000,
    "1e400": '{"x": 1e400, "y": -1e400, "z": 1e-400}',
    "NaN and infinities": '{"a": NaN, "b": [Infinity, -Infinity]}',
    "bare NaN": "NaN",
    "huge floats": "[1.7976931348623157e308, -1.7976931348623157e308, 4.9e-324, 0.1000000000000000055511]",
    "escaped NUL and lone surrogate": '["\\u0000", "\\ud800", "\\udfff\\ud800"]',
    "duplicate keys": '{"a": 1, "a": 2}',
    "markup in JSON": '{"html": "<script>alert(1)</script>&amp;", "</pre>": null}',
    "every category": EVERY_CATEGORY,
    "every category in JSON": json.dumps({"text": EVERY_CATEGORY, "list": list(EVERY_CATEGORY)}),
    "C1 controls": "a\x80b\x85c\x9fd",
    "very long line": "long " * 60_000,
    "very long JSON line": json.dumps(list(range(40_000))),
    "many short lines": "\n".join(f"line {i}" for i in range(5000)),
}


def shown(content: str) -> str:
    pretty = pretty_json(content)
    return content if pretty is None else pretty.text


_REFERENCE = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"'}
_TAG = re.compile(r"<[^>]*>")


def browser_text(html: str) -> str:
    """The text a browser reads from HTML. Unlike html.unescape it keeps references to control
    characters and non-characters as browsers do; references to 128–159 are refused, as browsers would
    read them as windows-1252 characters (&#128; is "€")."""

    def one(match: re.Match[str]) -> str:
        ref = match.group(1)
        if not ref.startswith("#"):
            return _NAMED[ref]
        code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
        assert not 128 <= code <= 159, f"&#{code}; is read as a windows-1252 character by browsers"
        return chr(code)

    # Tags are not text: highlighted JSON wraps each token in a <span>.
    return _REFERENCE.sub(one, _TAG.sub("", html))


def visible(expected: str, html: str) -> bool:
    return expected in browser_text(html)


def start_of(text: str) -> str:
    """What a folded row shows at least (the fold keeps 24 lines and 1,500 characters)."""
    return "\n".join(text.split("\n")[:20])[:1000]


# transaction=True: the live renders read in a REPEATABLE READ transaction of their own on PostgreSQL.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(NASTY))
def test_stored_content_renders_on_every_page_partial_frame_export_and_history_view(
    name, editor, viewer, admin_client
):
    content = NASTY[name]
    s = SessionService.new(name="nasty", metadata={"case": name})
    s.append("user", "before")
    s.append("assistant", content)
    s.append("user", "after")
    index, version = 1, s.version()  # the nasty message, and the version that appended it is version - 1
    expected = shown(content)
    detail = reverse("sessions_app:session_detail", args=[s.id])

    # Dashboard: the page (folded), a window, the full row, and the list.
    for client in (editor, viewer):
        page = client.get(detail)
        assert page.status_code == 200 and visible(start_of(expected), page.content.decode())
        chunk = client.get(reverse("sessions_app:message_chunk", args=[s.id]) + f"?v={version}", **HTMX)
        assert chunk.status_code == 200 and visible(start_of(expected), chunk.content.decode())
        row = client.get(
            reverse("sessions_app:message_row", args=[s.id, index]) + f"?full=1&v={version}", **HTMX
        )
        assert row.status_code == 200 and visible(expected, row.content.decode())
        full_page = client.get(detail + f"?at={index}&full={index}")
        assert full_page.status_code == 200 and visible(expected, full_page.content.decode())
    assert editor.get(reverse("sessions_app:session_list")).status_code == 200
    edit = editor.get(
        reverse("sessions_app:message_row", args=[s.id, index]) + f"?mode=edit&v={version}", **HTMX
    )
    assert edit.status_code == 200 and visible(content, edit.content.decode())  # the textarea holds it as is

    # Live frames, rendered by the functions the consumers call, at both permission levels.
    for level in (live.VIEW, live.EDIT):
        snapshot = live.render_detail_snapshot(str(s.id), level, None)
        assert snapshot.kind == "snapshot" and visible(start_of(expected), snapshot.html)
        delta = live.render_detail_event(str(s.id), version - 1, level)  # appends the nasty row and "after"
        assert delta.kind == "delta" and visible(start_of(expected), delta.html)
        assert live.render_list_row(str(s.id), level).kind == "row"
    s.replace(index, Message("assistant", content), expected_version=version)
    replaced = live.render_detail_event(str(s.id), s.version(), live.EDIT)
    assert replaced.kind == "delta" and visible(start_of(expected), replaced.html)

    # Exports: every format of the download, and the history export, hold the content exactly.
    for fmt in ("json", "jsonl", "openai"):
        response = viewer.get(reverse("session-export", args=[s.id]) + f"?format={fmt}")
        body = b"".join(response.streaming_content).decode()
        assert response.status_code == 200 and content in [
            m["content"] for m in _exported_messages(body, fmt)
        ]
    history_export = viewer.get(reverse("history:export", args=[s.id]))
    assert history_export.status_code == 200
    appended = [e["args"] for e in json.loads(history_export.content)["events"] if e["op"] == "append"]
    assert {"role": "assistant", "content": content} in appended

    # History: the version that appended it, the diff against the version before, the event list.
    at = viewer.get(reverse("history:version", args=[s.id, version - 1]))
    assert at.status_code == 200 and visible(content, at.content.decode())
    diff = viewer.get(reverse("history:diff", args=[s.id]) + f"?from={version - 2}&to={version - 1}")
    assert diff.status_code == 200 and visible(content, diff.content.decode())
    replaced_diff = viewer.get(reverse("history:diff", args=[s.id]) + f"?from=0&to={s.version()}")
    assert replaced_diff.status_code == 200 and visible(content, replaced_diff.content.decode())
    assert viewer.get(reverse("history:list", args=[s.id])).status_code == 200

    # Admin: the session's change page (messages inline) and the event log.
    change = admin_client.get(reverse("admin:sessions_app_session_change", args=[s.id]))
    assert change.status_code == 200 and visible(content, change.content.decode())
    assert admin_client.get(reverse("admin:sessions_app_sessionevent_changelist")).status_code == 200


def _exported_messages(body: str, fmt: str) -> list[dict]:
    if fmt == "json":
        (record,) = json.loads(body)["sessions"]
        return record["messages"]
    (line,) = body.splitlines()
    return json.loads(line)["messages"]


# ---------------------------------------------------------------- the one decision, property-tested

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
# Text no write accepts, still never a reason to raise: the display decision takes any str.
ANY_STR = st.text(alphabet=st.characters(), max_size=300)


def _json_values() -> st.SearchStrategy:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**60), max_value=10**60)
        | st.floats(allow_nan=False, allow_infinity=False)
        | ANY_TEXT
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(ANY_TEXT, inner, max_size=5),
        max_leaves=30,
    )


CLOSERS = {"[": "]", '{"k":': "}", "[1,": "]", '{"":': "}", '[{"a":[],"b":': "}]"}
BOTTOMS = {"0": True, "[]": True, "{}": True, '"x"': True, "9" * 5000: True, "1e400": True}
BAD_BOTTOMS = ["NaN", "-Infinity", ",", "[", "'x'"]


@st.composite
def _nested(draw: st.DrawFn) -> tuple[str, int, bool]:
    """(document, depth, valid): [ and { nested up to 3,000 deep around a value, valid JSON or not."""
    openers = draw(st.lists(st.sampled_from(list(CLOSERS)), min_size=1, max_size=3000))
    bottom = draw(st.sampled_from([*BOTTOMS, *BAD_BOTTOMS]))
    text = "".join(openers) + bottom + "".join(CLOSERS[o] for o in reversed(openers))
    depth = sum(o.count("[") + o.count("{") for o in openers) + bottom.count("[") + bottom.count("{")
    return text, depth, bottom in BOTTOMS


def _huge_numbers() -> st.SearchStrategy[str]:
    digits = st.integers(min_value=1, max_value=6000).map(lambda n: "7" * n)
    exponents = st.integers(min_value=-2000, max_value=2000)
    number = st.one_of(
        digits,
        st.builds(lambda d, e: f"{d}e{e}", digits, exponents),
        st.builds(lambda d, f, e: f"-{d}.{f}E+{abs(e)}", digits, digits, exponents),
        st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1.7976931348623157e309"]),
    )
    return st.lists(number, min_size=1, max_size=5).map(lambda ns: "[" + ", ".join(ns) + "]")


def _rendered(content: str) -> str:
    """The detail template's way of printing content (the filter, then autoescape)."""
    template = engines["django"].from_string(
        "{% load dashboard %}{% with c=m|content_view:0 %}{{ c.kind }}|{{ c.text }}{% endwith %}"
    )
    return template.render({"m": SimpleNamespace(content=content, position=0)})


def _tokens(text: str) -> object:
    """A JSON document's value with numbers kept as written and objects as pair lists (duplicates too)."""
    return json.loads(text, parse_int=str, parse_float=str, parse_constant=str, object_pairs_hook=list)


def _check(content: str) -> None:
    pretty = pretty_json(content)  # never raises
    if pretty is not None:
        assert _tokens(pretty.text) == _tokens(content)  # the same document, only re-indented
        assert pretty.kind == ("object" if pretty.text.startswith("{") else "list")
    kind, _, text = _rendered(content).partition("|")
    assert kind == ("text" if pretty is None else "json")
    assert text == escape(content if pretty is None else pretty.text)  # shown in full, escaped
    assert "<" not in text and ">" not in text  # content never becomes markup


@settings(deadline=None)  # a shared CI machine: the time per example is not what is tested
@given(ANY_TEXT)
def test_any_text_renders_as_itself_or_as_its_pretty_json(content):
    _check(content)


@given(ANY_STR)
def test_the_decision_never_raises_even_for_text_no_write_accepts(content):
    pretty_json(content)


@settings(deadline=None)
@given(_json_values(), st.sampled_from([None, 2, 4]), st.booleans())
def test_json_documents_are_pretty_printed_like_json_dumps_with_every_token_as_written(
    value, indent, ascii_only
):
    content = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    _check(content)
    if isinstance(value, dict | list) and len(content) < 100_000:
        pretty = pretty_json(content)
        assert pretty is not None
        assert pretty.text == json.dumps(value, indent=2, ensure_ascii=ascii_only)
        assert pretty.items == len(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_nested())
def test_deep_nesting_is_json_up_to_the_depth_limit_and_text_past_it(case):
    content, depth, valid = case
    _check(content)
    assert (pretty_json(content) is not None) == (valid and depth <= MAX_JSON_DEPTH)


@settings(max_examples=60, deadline=None)
@given(_huge_numbers())
def test_huge_numbers_show_as_written_and_nan_or_infinity_as_text(content):
    _check(content)
    pretty = pretty_json(content)
    assert (pretty is None) == bool(re.search(r"NaN|Infinity", content))
    if pretty is not None:
        assert pretty.text == "[\n" + ",\n".join("  " + n for n in content[1:-1].split(", ")) + "\n]"


def test_a_live_frame_keeps_c1_controls_as_characters_not_references():
    assert live.ascii_html("é\x80") == "é\x80"  # &#128; would be read as "€"
    assert live.ascii_html("é &amp;#128;") == "&#233; &amp;#128;"  # escaped text is not a reference


# ---------------------------------------------------------------- what never gets in

REFUSED = {"NUL": "a\x00b", "lone surrogate": "a\ud800b", "reversed pair": "\udc00\ud800"}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(REFUSED))
def test_the_service_refuses_nul_and_lone_surrogates_in_every_content_it_takes(name):
    bad = REFUSED[name]
    s = SessionService.new(name="t")
    s.append("user", "ok")
    before = (s.messages(), s.version())
    writes = [
        lambda: s.append("user", bad),
        lambda: s.insert(0, Message("user", bad)),
        lambda: s.replace(0, Message("user", bad)),
        lambda: s.set_messages([Message("user", "fine"), Message("user", bad)]),
        lambda: s.record_exchange(bad, "fine"),
        lambda: s.record_exchange("fine", bad, TokenUsage(1, 1, 2)),
    ]
    for write in writes:
        with pytest.raises(InvalidArgument):
            write()
    assert (s.messages(), s.version()) == before


@pytest.mark.django_db
@pytest.mark.parametrize("escaped", ["a\\u0000b", "a\\ud800b", "\\udc00\\ud800"])
def test_the_api_refuses_nul_and_lone_surrogates_in_content_with_a_400(escaped):
    from sessions_app.services import apikeys

    key = apikeys.create_key("writer", ApiKey.Scope.WRITE)[1]
    s = SessionService.new(name="t")
    s.append("user", "ok")
    before = (s.messages(), s.version())
    message = f'{{"role": "user", "content": "{escaped}"}}'
    bodies = {
        "append": message,
        "insert": f'{{"index": 0, "message": {message}}}',
        "replace": f'{{"index": 0, "message": {message}}}',
        "set_messages": f'{{"messages": [{message}]}}',
        "record_exchange": f'{{"prompt": "{escaped}", "response": "fine"}}',
    }
    for op, body in bodies.items():
        response = Client().post(
            f"/api/v1/sessions/{s.id}/{op}",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 400, (op, response.content[:200])
        assert response.json()["error"] == "invalid_argument"
    assert (s.messages(), s.version()) == before

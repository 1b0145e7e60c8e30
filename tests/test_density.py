"""Density: JSON folded to its keys and highlighted, a prompt's schema folded.

The highlighting never raises and only wraps text: what a reader sees is exactly the pretty text,
for any content (the display decision's own property tests are in tests/test_content_rendering.py).
"""

from __future__ import annotations

import html
import json
import random
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions_app.services import SessionService, demo
from sessions_app.web import highlight
from sessions_app.web.display import json_outline, pretty_json, schema_outline, split_schema
from tests.test_content_rendering import ANY_STR, _huge_numbers, _json_values, _nested

HTMX = {"HTTP_HX_REQUEST": "true"}
TAG = re.compile(r"<[^>]*>")
TOKEN_SPAN = re.compile(r'<span class="([a-z0-9]+)">')
ANSWER = json.dumps(
    {
        "primary": "billing",
        "secondary": "account",
        "confidence": 0.93,
        "reasoning": ["mentions charged", "closest to billing examples"],
    }
)


def seen(markup: str) -> str:
    """The text a reader sees in highlighted markup: the tags dropped, the references read."""
    return html.unescape(TAG.sub("", markup))


def check_highlight(text: str) -> None:
    markup = highlight.highlight_json(text)  # never raises
    assert seen(markup) == text
    assert not re.search(r"<(?!/?span\b)", markup), "only <span>s are added"


# ---------------------------------------------------------------- highlighting: any text, exact text


@settings(deadline=None)
@given(_json_values(), st.sampled_from([None, 2]))
def test_highlighting_a_pretty_document_shows_exactly_its_text(value, indent):
    pretty = pretty_json(json.dumps(value, indent=indent))
    if pretty is not None:
        check_highlight(pretty.text)


@settings(deadline=None)
@given(ANY_STR)
def test_highlighting_never_raises_and_keeps_any_text_as_it_is(text):
    check_highlight(text)  # folded JSON is a document cut short; a fallback may be anything


@settings(max_examples=40, deadline=None)
@given(_huge_numbers())
def test_huge_numbers_are_highlighted_as_written(content):
    pretty = pretty_json(content)
    if pretty is not None:
        check_highlight(pretty.text)
        assert all(n in seen(highlight.highlight_json(pretty.text)) for n in content[1:-1].split(", "))


@settings(max_examples=30, deadline=None)
@given(_nested())
def test_deep_documents_highlight_or_fall_back_to_text(case):
    content, _, _ = case
    pretty = pretty_json(content)
    check_highlight(content if pretty is None else pretty.text)


def test_tokens_get_pygments_classes_and_markup_in_strings_stays_text():
    markup = highlight.highlight_json(
        pretty_json('{"a": "<b>&amp;</b>", "n": 1e400, "t": true, "z": null}').text
    )
    assert set(TOKEN_SPAN.findall(markup)) >= {"nt", "s2", "mf", "kc", "p"}
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in markup and "<b>" not in markup


def test_text_too_long_to_highlight_is_shown_plain():
    text = "[" + ", ".join(["1"] * (highlight.MAX_HIGHLIGHT_CHARS // 3 + 1)) + "]"
    assert highlight.highlight_json(text) == text


def test_the_vendored_style_sheets_are_what_pygments_makes():
    for name, style in highlight.STYLE_SHEETS.items():
        vendored = (highlight.STATIC_DIR / name).read_text(encoding="utf-8")
        assert vendored == highlight.style_sheet(style), (
            f"run `python -m sessions_app.web.highlight` ({name})"
        )
    light = (highlight.STATIC_DIR / "highlight-light.css").read_text()
    dark = (highlight.STATIC_DIR / "highlight-dark.css").read_text()
    assert ".hl .nt {" in light and ".hl .nt {" in dark and light != dark
    # The page's own code background: no rule for the tokens JSON has sets one.
    json_rules = [r for r in (light + dark).splitlines() if re.match(r"\.hl \.(nt|s2|mi|mf|kc|p|w|err) ", r)]
    assert len(json_rules) >= 12 and not [r for r in json_rules if "background" in r]


# ---------------------------------------------------------------- outlines and the prompt's schema


def test_outlines_name_the_keys_and_count_them():
    assert json_outline(pretty_json(ANSWER)) == ("{ primary, secondary, confidence, reasoning }", "4 keys")
    many = json.dumps({f"key_number_{i}": i for i in range(12)})
    outline, count = json_outline(pretty_json(many))
    assert outline.startswith("{ key_number_0, key_number_1") and outline.endswith(" … }")
    assert count == "12 keys" and len(outline) < 80
    assert json_outline(pretty_json('{"\\u00e9t\\u00e9": {"nested": 1}}')) == ("{ été }", "1 key")
    assert json_outline(pretty_json('{"\\ud800": 1}')) == ("{ \ufffd }", "1 key")  # a lone surrogate
    assert json_outline(pretty_json("[1, 2, 3]")) == ("[ … ]", "3 items")
    assert json_outline(pretty_json("{}")) == ("{}", "0 keys")


def test_a_rendered_prompt_splits_around_its_schema():
    prompt = demo._prompt("classification", "charged twice", ["billing", "bug"])
    parts = split_schema(prompt)
    assert parts.head.startswith("Task: Classify") and parts.head.rstrip().endswith("Input: charged twice")
    assert json.loads(parts.schema)["properties"]["primary"]["enum"] == ["billing", "bug"]
    assert parts.tail.strip() == "Respond with JSON only."
    assert schema_outline(pretty_json(parts.schema)) == (
        "{ primary, secondary, confidence, reasoning }",
        "4 properties",
    )
    compact = split_schema('Task: t\nResponse JSON Schema: {"type": "string"}')
    assert compact.schema == '{"type": "string"}' and compact.tail == ""
    assert split_schema("Task: t\n\nRespond with JSON only.") is None
    assert split_schema("Response JSON Schema:\n\n\nrest") is None


# ---------------------------------------------------------------- the detail page


def detail(client: Client, s: SessionService) -> str:
    response = client.get(reverse("sessions_app:session_detail", args=[s.id]))
    assert response.status_code == 200
    return response.content.decode()


def row(client: Client, s: SessionService, index: int, query: str = "") -> str:
    url = reverse("sessions_app:message_row", args=[s.id, index])
    response = client.get(f"{url}?v={s.version()}{query}", **HTMX)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_a_long_json_answer_starts_folded_to_its_keys_and_opens_highlighted(editor):
    s = SessionService.new()
    s.append("assistant", ANSWER)
    s.append("assistant", '{"primary": "billing"}')
    page = detail(editor, s)
    folded, short = re.findall(r'<details class="fold json"( open)?>', page)
    assert folded == "" and short == " open"  # long: closed, one line; short: shown as it is
    assert (
        '<summary><span class="fold-kind">JSON</span> <code class="outline">'
        "{ primary, secondary, confidence, reasoning }</code> "
        '<span class="fold-count">4 keys</span></summary>'
    ) in page
    body = re.search(r'<details class="fold json">.*?<pre class="hl">(.*?)</pre>', page, re.DOTALL).group(1)
    assert seen(body) == pretty_json(ANSWER).text
    assert '<span class="nt">"primary"</span>' in body and '<span class="mf">0.93</span>' in body
    # "Show all" of a row opens it.
    assert '<details class="fold json" open>' in row(editor, s, 0, "&full=1")


@pytest.mark.django_db
def test_a_folded_long_json_is_cut_at_a_line_and_says_what_it_hides(editor):
    s = SessionService.new()
    s.append("assistant", json.dumps({f"k{i}": "v" * 40 for i in range(200)}))
    page = row(editor, s, 0)
    shown = seen(re.search(r'<pre class="hl">(.*?)</pre>', page, re.DOTALL).group(1))
    assert pretty_json(s.messages()[0].content).text.startswith(shown + "\n")
    assert "{ k0, k1, k2" in page and "200 keys" in page and "Show all (" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content",
    [
        "[" * 65 + "]" * 65,  # deeper than the display shows as JSON
        '{"a": NaN}',
        '{"a": 1,}',
    ],
    ids=["too deep", "NaN", "trailing comma"],
)
def test_what_is_not_shown_as_json_is_plain_text_without_a_fold(editor, content):
    s = SessionService.new()
    s.append("assistant", content)
    page = row(editor, s, 0)
    assert '<details class="fold' not in page and 'class="hl"' not in page
    assert f'<div class="text">{escape(content)}</div>' in page


@pytest.mark.django_db
def test_a_prompts_schema_starts_folded_with_its_property_names(editor):
    rng = random.Random(3)
    prompt, answer, usage = demo.exchange(rng, demo.PROGRAMS[0])
    s = SessionService.new()
    s.record_exchange(prompt, answer, usage)
    page = row(editor, s, 0)
    assert '<details class="fold schema"><summary><span class="fold-kind">Response JSON Schema</span>' in page
    assert "{ primary, secondary, confidence, reasoning }</code>" in page and "4 properties" in page
    schema = re.search(r'<details class="fold schema">.*?<pre class="hl">(.*?)</pre>', page, re.DOTALL)
    assert seen(schema.group(1)) == pretty_json(split_schema(prompt).schema).text
    head, tail = re.findall(r'<div class="text">(.*?)</div>', page, re.DOTALL)
    assert head.startswith("Task: Classify") and "Input: " in head and "Schema" not in head
    assert tail == "Respond with JSON only."
    # A schema that is not JSON is folded all the same, as its text.
    s.append("user", "Task: t\n\nResponse JSON Schema:\n{not json}\n\nGo.")
    odd = row(editor, s, 2)
    assert '<details class="fold schema">' in odd and '<div class="text">{not json}</div>' in odd


@pytest.mark.django_db
def test_the_detail_page_links_a_light_and_a_dark_highlight_style_sheet(editor):
    s = SessionService.new()
    page = detail(editor, s)
    assert re.search(r'href="[^"]*highlight-light\.css" media="\(prefers-color-scheme: light\)"', page)
    assert re.search(r'href="[^"]*highlight-dark\.css" media="\(prefers-color-scheme: dark\)"', page)

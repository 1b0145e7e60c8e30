"""What an operator sees on the detail page: JSON folded to its keys and
highlighted when opened, a prompt's schema folded, row actions findable without hovering, and a usage
chart with axes, in light and dark mode."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from sessions_app.domain.types import TokenUsage
from sessions_app.models import SessionEvent
from sessions_app.services import SessionService, demo
from sessions_app.web.display import pretty_json

from .conftest import off_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANSWER = json.dumps(
    {
        "primary": "billing",
        "secondary": "account",
        "confidence": 0.93,
        "reasoning": ["mentions charged", "closest to billing examples"],
    }
)
T0 = datetime(2026, 3, 4, 14, 2, 11, tzinfo=UTC)
# The highlight style sheets' colour of a JSON key (Pygments "default" and "github-dark").
KEY_COLOUR = {"light": "rgb(0, 128, 0)", "dark": "rgb(126, 231, 135)"}
BIGGEST = 2**63 - 1


@pytest.fixture
def signed_in(signed_in):  # noqa: ANN001, ANN201
    """The editor's page, recording the page's uncaught exceptions."""
    page = signed_in
    page.script_errors = []  # uncaught exceptions (the test server has no websockets: its 404s are not these)
    page.on("pageerror", lambda error: page.script_errors.append(error))
    return page


def session_with(exchanges: int, step: timedelta = timedelta(seconds=20), usage=None) -> SessionService:  # noqa: ANN001
    """Synapse-like exchanges (a prompt with its schema, a JSON answer), ``step`` apart in time."""
    rng = random.Random(11)
    s = off_loop(SessionService.new, name=f"density {exchanges}")
    for _ in range(exchanges):
        prompt, _answer, drawn = demo.exchange(rng, demo.PROGRAMS[0])
        off_loop(s.record_exchange, prompt, ANSWER, usage or drawn)

    def spread() -> None:
        for event in SessionEvent.objects.filter(session_id=s.id).order_by("version"):
            SessionEvent.objects.filter(pk=event.pk).update(created_at=T0 + (event.version - 1) * step)

    off_loop(spread)
    return s


def open_detail(page, s: SessionService, scheme: str = "light"):  # noqa: ANN001, ANN201
    page.emulate_media(color_scheme=scheme)
    page.goto(f"/sessions/{s.id}/")
    expect(page.locator("#session-detail")).to_be_visible()
    page.mouse.move(1, 1)  # nothing is hovered
    return page


def colour(locator) -> str:  # noqa: ANN001
    return locator.evaluate("el => getComputedStyle(el).color")


def luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_long_json_answer_is_one_line_of_keys_and_opens_highlighted_from_the_keyboard(signed_in, scheme):
    page = open_detail(signed_in, session_with(1), scheme)
    answer = page.locator("#message-1")
    summary = answer.locator("details.json > summary")
    expect(summary).to_have_text("JSON { primary, secondary, confidence, reasoning } 4 keys")
    body = answer.locator("details.json > pre.hl")
    expect(body).to_be_hidden()
    assert summary.bounding_box()["height"] < 24  # one line

    summary.focus()
    page.keyboard.press("Enter")
    expect(body).to_be_visible()
    assert body.inner_text() == pretty_json(ANSWER).text  # only highlighted: the text as it was
    key, string, number = (body.locator(f"span.{c}").first for c in ("nt", "s2", "mf"))
    assert colour(key) == KEY_COLOUR[scheme]
    assert len({colour(key), colour(string), colour(number), colour(body)}) >= 3
    background = body.evaluate("el => getComputedStyle(el).backgroundColor")
    assert contrast(colour(key), background) >= 4.5 and contrast(colour(string), background) >= 4.5
    page.keyboard.press("Enter")
    expect(body).to_be_hidden()


def test_a_prompts_schema_starts_folded_and_opens_highlighted(signed_in):
    page = open_detail(signed_in, session_with(1))
    prompt = page.locator("#message-0")
    expect(prompt.locator(".content > .text").first).to_contain_text("Task: Classify the input")
    expect(prompt.locator(".content > .text").last).to_have_text("Respond with JSON only.")
    summary = prompt.locator("details.schema > summary")
    expect(summary).to_have_text(
        "Response JSON Schema { primary, secondary, confidence, reasoning } 4 properties"
    )
    schema = prompt.locator("details.schema > pre.hl")
    expect(schema).to_be_hidden()
    summary.click()
    expect(schema).to_be_visible()
    expect(schema.locator("span.nt").first).to_have_text('"type"')
    assert colour(schema.locator("span.nt").first) == KEY_COLOUR["light"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_row_actions_are_visible_without_hovering_and_quieter_than_on_hover(signed_in, scheme):
    page = open_detail(signed_in, session_with(1), scheme)
    row = page.locator("#message-1")
    actions = row.locator(".actions a, .actions button")
    assert actions.count() == 5  # ↑, edit, + above, + below, remove
    card = row.evaluate("el => getComputedStyle(el).backgroundColor")
    at_rest = []
    for action in actions.all():
        expect(action).to_be_visible()
        opacity = action.evaluate(
            "el => { let o = 1;"
            " for (let e = el; e; e = e.parentElement) o *= +getComputedStyle(e).opacity; return o; }"
        )
        assert opacity > 0.99, action.inner_text()
        assert contrast(colour(action), card) >= 4.5, (action.inner_text(), colour(action), card)
        at_rest.append(colour(action))
    row.hover()
    edit = row.locator("a[data-mode=edit]")
    expect(edit).not_to_have_css("color", at_rest[1])  # the row under the pointer: full colour
    page.mouse.move(1, 1)
    expect(edit).to_have_css("color", at_rest[1])
    # Not crowded: each action is its own target, on one line beside the role.
    boxes = [a.bounding_box() for a in actions.all()]
    assert all(b["height"] < 24 for b in boxes) and len({round(b["y"]) for b in boxes}) == 1
    assert all(b1["x"] + b1["width"] <= b2["x"] for b1, b2 in zip(boxes, boxes[1:], strict=False))


def plot_geometry(page) -> dict:  # noqa: ANN001
    return page.evaluate(
        """() => {
          const ol = document.getElementById('usage-bars'), r = ol.getBoundingClientRect();
          const bars = [...ol.children].map(li => {
            const bar = getComputedStyle(li, '::before'), cap = li.querySelector('i').getBoundingClientRect();
            return {width: parseFloat(bar.width), height: parseFloat(bar.height),
                    cap: cap.width, capHeight: cap.height};
          });
          const ys = [...document.querySelectorAll('#usage-chart-yaxis span')].map(s => {
            const b = s.getBoundingClientRect(); return {text: s.textContent, middle: (b.top + b.bottom) / 2};
          });
          const xs = [...document.querySelectorAll('#usage-chart-axis .tick')].map(t => {
            const b = t.getBoundingClientRect();
            return {text: t.textContent, left: b.left, right: b.right, shown: b.width > 0};
          });
          return {top: r.top, bottom: r.bottom, width: r.width, height: r.height, bars, ys, xs};
        }"""
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_usage_chart_has_token_ticks_narrow_bars_total_caps_and_seconds(signed_in, scheme):
    page = open_detail(signed_in, session_with(3, usage=TokenUsage(900, 200, 1100)), scheme)
    g = plot_geometry(page)
    assert [y["text"] for y in g["ys"]] == ["0", "300", "600", "900", "1.2k"]
    # Each label's middle on its grid line: 0 at the bottom, the top at the top.
    for k, y in enumerate(g["ys"]):
        assert abs(y["middle"] - (g["bottom"] - 1 - k * (g["height"] - 1) / 4)) < 3, (k, y, g)
    assert [x["text"] for x in g["xs"]] == ["14:02:11", "14:02:31", "14:02:51"]  # in one minute: seconds
    for bar in g["bars"]:  # a bar, not a slab: at most 60% of a twelfth of the plot
        assert 10 < bar["width"] <= g["width"] / 12 * 0.6 + 1
        assert abs(bar["height"] - 900 / 1200 * (g["height"] - 1)) < 2
        assert bar["cap"] > bar["width"] + 4 and bar["capHeight"] >= 3  # the total, wider than the bar
    expect(page.locator("#usage-chart-axis .axis-note")).to_contain_text("3 exchanges in 40 s")
    expect(page.locator("#usage-bars > li").first).to_have_attribute("title", re.compile(r"14:02:11"))
    assert not signed_in.script_errors


@pytest.mark.parametrize("exchanges", [0, 1, 2, 120])
def test_the_chart_reads_for_any_number_of_exchanges_and_huge_counts(signed_in, exchanges):
    huge = TokenUsage(BIGGEST - 5, 5, BIGGEST) if exchanges == 2 else None
    page = open_detail(signed_in, session_with(exchanges, timedelta(seconds=1), usage=huge))
    g = plot_geometry(page)
    assert len(g["bars"]) == exchanges
    if not exchanges:
        expect(page.locator("#usage-chart-caption")).to_contain_text("No usage recorded yet.")
        assert g["height"] == 0 and g["ys"] == [] and g["xs"] == []
        return
    assert len(g["ys"]) == 5 and g["ys"][0]["text"] == "0"
    assert not huge or [y["text"] for y in g["ys"]] == ["0", "2.5E", "5E", "7.5E", "10E"]
    assert all(0.5 <= bar["width"] <= g["width"] / 12 * 0.6 + 1 for bar in g["bars"])
    if huge:
        assert abs(g["bars"][0]["height"] - (BIGGEST - 5) / 10**19 * (g["height"] - 1)) < 2
    shown = [x for x in g["xs"] if x["shown"]]
    assert shown and all(
        a["right"] <= b["left"] for a, b in zip(shown, shown[1:], strict=False)
    )  # no overlap
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", x["text"]) for x in shown)
    assert not signed_in.script_errors

"""The detail page's search: the way from one matching message to the next, and the words marked in the
matching rows' content views."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from sessions_app import models
from sessions_app.selectors import search
from sessions_app.web.content import ContentView, content_view


@dataclass(frozen=True)
class MatchNav:
    """The detail page's search: which messages match ``q``, and the ones before and after ``at``."""

    q: str
    positions: list[int]
    at: int | None

    @property
    def count(self) -> int:
        return len(self.positions)

    @property
    def current(self) -> int | None:
        """1-based number of the match at ``at``, if ``at`` is one."""
        i = bisect_left(self.positions, self.at) if self.at is not None else -1
        return i + 1 if 0 <= i < len(self.positions) and self.positions[i] == self.at else None

    @property
    def prev(self) -> int | None:
        if self.at is None:
            return None
        i = bisect_left(self.positions, self.at)
        return self.positions[i - 1] if i > 0 else None

    @property
    def next(self) -> int | None:
        i = bisect_right(self.positions, self.at) if self.at is not None else 0
        return self.positions[i] if i < len(self.positions) else None

    def query_at(self, index: int | None) -> str:
        return urlencode({"q": self.q, "at": index}) if index is not None else ""

    @property
    def prev_query(self) -> str:
        return self.query_at(self.prev)

    @property
    def next_query(self) -> str:
        return self.query_at(self.next)

    @property
    def q_query(self) -> str:
        """``&q=…`` for the links that page through the messages: the words stay marked."""
        return "&" + urlencode({"q": self.q})


def mark_search_words(rows: list[models.Message], nav: MatchNav, full: int | None) -> int | None:
    """Give the matching rows among ``rows`` their content view with the words marked (``m.marked``,
    which the content_view filter shows). Returns ``full``, or the row at ``nav.at`` when its words are
    past the fold of its content (it is then shown whole, so the operator who followed a match sees it)."""
    matching = set(nav.positions)
    hits = [m for m in rows if m.position in matching]
    for m in hits:
        view = _marked(content_view(m, full), nav.q)
        if m.position == nav.at and view.folded and "<mark>" not in _shown(view) and full is None:
            full = m.position
            view = _marked(content_view(m, full), nav.q)
        m.marked = view
    return full


def _marked(view: ContentView, q: str) -> ContentView:
    """``view`` with the search words marked in every part it shows. Highlighted JSON (a whole answer, or a
    prompt's schema) is shown as plain text while it is marked: the marks cannot go inside the highlighter's
    markup, and the operator came for the words."""
    schema = view.schema
    text, schema_text, tail = search.mark_words([view.text, schema.text if schema else "", view.tail], q)
    if schema is not None:
        schema = replace(schema, text=schema_text, html=None, open=schema.open or "<mark>" in schema_text)
    return replace(view, text=text, json=None, schema=schema, tail=tail)


def _shown(view: ContentView) -> str:
    return view.text + (view.schema.text if view.schema else "") + view.tail

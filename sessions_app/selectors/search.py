"""Search: which sessions match the words, where (the matching messages), and the words marked in them.

PostgreSQL: full text in ``websearch`` syntax over ``message.search``, the vector PostgreSQL keeps beside
each message's content (migration 0008), with its GIN index; ``ts_headline`` cuts snippets and marks
words. SQLite: every word must occur in one message (case-insensitive), and the snippets are cut here.

Marked text becomes HTML in one place, ``marked_html``: the words come bracketed by two private-use
characters (never by HTML tags, which ts_headline would copy from stored content unescaped), everything is
escaped, and only the brackets become ``<mark>``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, Func, Min, OuterRef, Q, QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from sessions_app import models
from sessions_app.domain.ids import as_uuid
from sessions_app.selectors.ranks import index_in_session, keys_sql

SEARCH_CONFIG = "english"  # the configuration of the stored vectors (migration 0008)
ORDER = ("-updated_at", "-id")  # the list's order, in every branch of a search
MARK_START, MARK_STOP = "\ue000", "\ue001"  # private use: what ts_headline puts around a found word
_MARKERS = re.compile(f"([{MARK_START}{MARK_STOP}])")
# A snippet on the list: about two lines, up to two fragments of the message around the words.
SNIPPET_OPTIONS = (
    f'StartSel="{MARK_START}", StopSel="{MARK_STOP}", MaxWords=22, MinWords=8, ShortWord=2, '
    'MaxFragments=2, FragmentDelimiter=" … "'
)
WHOLE_TEXT_OPTIONS = f'HighlightAll=true, StartSel="{MARK_START}", StopSel="{MARK_STOP}"'
SQLITE_MAX_WORDS = 8  # words of a search that SQLite matches (each one is a LIKE over the content)
SNIPPET_CHARS = 200  # SQLite snippets: about as long as PostgreSQL's


@dataclass(frozen=True)
class SearchHit:
    """Where a session matched: its first matching message, with a snippet whose words are marked."""

    position: int
    role: str
    snippet: SafeString


def marked_html(text: str) -> SafeString:
    """``text`` escaped, the parts between MARK_START and MARK_STOP in ``<mark>``; stray marks dropped."""
    out: list[str] = []
    inside = False
    for piece in _MARKERS.split(text):
        if piece == MARK_START:
            inside = True
        elif piece == MARK_STOP:
            inside = False
        elif piece:
            out.append(f"<mark>{escape(piece)}</mark>" if inside else escape(piece))
    return mark_safe("".join(out))  # noqa: S308 - every piece above is escaped text


def is_word_search(q: str) -> bool:
    """Words to look for in content (a session id is looked up by id, not searched for)."""
    return bool(q.strip()) and as_uuid(q.strip()) is None


def sqlite_words(q: str) -> list[str]:
    return q.split()[:SQLITE_MAX_WORDS]


# ---------------------------------------------------------------- which sessions


class _StoredSearchVector(Func):
    """``message.search``: written as the content column's table alias plus ``search``, so it follows the
    alias Django gives the message table in any (sub)query."""

    def __init__(self) -> None:
        from django.contrib.postgres.search import SearchVectorField

        super().__init__(F("content"), output_field=SearchVectorField())

    def as_sql(self, compiler, connection, **extra):  # noqa: ANN001, ANN003, ANN201, ARG002
        content_sql, params = compiler.compile(self.source_expressions[0])
        column = connection.ops.quote_name("content")
        if not content_sql.endswith(column):  # pragma: no cover - Django compiles a column as alias.column
            raise ValueError(f"cannot place the search vector beside {content_sql}")
        return content_sql[: -len(column)] + connection.ops.quote_name("search"), params


def matching_messages(q: str) -> QuerySet[models.Message]:
    """Messages whose content matches the search words."""
    messages = models.Message.objects.all()
    if settings.IS_POSTGRES:
        from django.contrib.postgres.search import SearchQuery

        return messages.alias(doc=_StoredSearchVector()).filter(
            doc=SearchQuery(q, config=SEARCH_CONFIG, search_type="websearch")
        )
    for word in sqlite_words(q):
        messages = messages.filter(content__icontains=word)
    return messages


def search_sessions(
    sessions: QuerySet[models.Session], q: str, *, upto: int | None = None
) -> QuerySet[models.Session]:
    """``sessions`` whose id is ``q``, or whose name contains it, or with a message matching its words;
    in the list's order. ``upto``: only the first ``upto`` of them are needed (a page and those before it).
    """
    as_id = as_uuid(q.strip())
    if as_id is not None:
        return sessions.filter(pk=as_id).order_by(*ORDER)
    if settings.IS_POSTGRES:
        # Two branches, each in list order, merged: the name branch uses the trigram index, the content
        # branch "has a matching message" per session. For that one PostgreSQL chooses from the column's
        # statistics: walk the most recent sessions until the page is full (a common word: a few ms), or
        # collect the matches from the GIN index (a rare word).
        by_name = sessions.filter(name__icontains=q).order_by(*ORDER)
        has_match = Exists(matching_messages(q).filter(session_id=OuterRef("pk")))
        by_content = sessions.filter(has_match).order_by(*ORDER)
        if upto is not None:
            by_name, by_content = by_name[:upto], by_content[:upto]
        return by_name.union(by_content).order_by(*ORDER)
    # SQLite: the ids matching by name or by content, then those sessions.
    by_name = models.Session.objects.filter(name__icontains=q).order_by().values("pk")
    by_content = matching_messages(q).order_by().values("session_id")
    return sessions.filter(pk__in=by_name.union(by_content)).order_by(*ORDER)


# ---------------------------------------------------------------- where they matched


def first_hits(session_ids: list[uuid.UUID], q: str) -> dict[uuid.UUID, SearchHit]:
    """The first matching message of each session, with a snippet: one query for a page of sessions."""
    if not session_ids or not is_word_search(q):
        return {}
    if settings.IS_POSTGRES:
        # Per session, its messages in order until the first match (the stored vector makes each test
        # cheap); ts_headline only for the rows found, on their content without our bracket characters.
        # A snippet that does not start (end) where the message does is shown with "…" there (ts_headline
        # leaves out punctuation at either end, so that is not compared).
        sql = r"""
            SELECT s.id, (SELECT count(*) FROM sessions_app_message AS b
                          WHERE b.session_id = s.id AND b.order_key < h.order_key),
                   h.role, hl.text,
                   left(regexp_replace(left(h.clean, 200), '^\W+', ''), 24)
                   <> left(regexp_replace(translate(hl.text, %s, ''), '^\W+', ''), 24),
                   right(regexp_replace(right(h.clean, 200), '\W+$', ''), 24)
                   <> right(regexp_replace(translate(hl.text, %s, ''), '\W+$', ''), 24)
            FROM unnest(%s::uuid[]) AS s(id)
            CROSS JOIN LATERAL (
                SELECT m.order_key, m.role, translate(m.content, %s, '') AS clean
                FROM sessions_app_message m
                WHERE m.session_id = s.id AND m.search @@ websearch_to_tsquery(%s::regconfig, %s)
                ORDER BY m.order_key LIMIT 1
            ) AS h
            CROSS JOIN LATERAL (
                SELECT ts_headline(%s::regconfig, h.clean, websearch_to_tsquery(%s::regconfig, %s), %s)
                AS text
            ) AS hl
        """
        marks = MARK_START + MARK_STOP
        params = [marks, marks, list(session_ids), marks, SEARCH_CONFIG, q]
        params += [SEARCH_CONFIG, SEARCH_CONFIG, q, SNIPPET_OPTIONS]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return {
            sid: SearchHit(
                position,
                role,
                marked_html(("… " if cut_start else "") + " ".join(text.split()) + (" …" if cut_end else "")),
            )
            for sid, position, role, text, cut_start, cut_end in rows
        }
    first = (
        matching_messages(q)
        .filter(session_id__in=session_ids)
        .order_by()
        .values("session_id")
        .annotate(first=Min("order_key"))
    )
    wanted = Q()
    for row in first:
        wanted |= Q(session_id=row["session_id"], order_key=row["first"])
    if not wanted:
        return {}
    found = (
        models.Message.objects.filter(wanted)
        .order_by()
        .annotate(index=index_in_session())
        .values_list("session_id", "index", "role", "content")
    )
    words = sqlite_words(q)
    return {
        sid: SearchHit(index, role, marked_html(_snippet(content, words)))
        for sid, index, role, content in found
    }


def matching_positions(
    session_id: uuid.UUID, q: str, *, start: int = 0, stop: int | None = None, length: int | None = None
) -> list[int]:
    """The indexes of the messages of one session that match, in order: all of them, or those in
    [start, stop) of a session of ``length`` (then only that range's keys are read and ranked)."""
    if not is_word_search(q) or (stop is not None and stop <= start):
        return []
    if start > 0 or stop is not None:
        assert length is not None, "a range of indexes needs the session's length"
        stop = length if stop is None else min(stop, length)
        keys, params, _ = keys_sql(session_id, start, stop - start, length)
    else:
        table = connection.ops.quote_name(models.Message._meta.db_table)
        keys = f"SELECT order_key FROM {table} WHERE session_id = %s"
        params = [models.Message._meta.get_field("session").get_db_prep_value(session_id, connection)]
    matches = matching_messages(q).filter(session_id=session_id).values("order_key")
    matches_sql, matches_params = matches.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.idx FROM (SELECT order_key, row_number() OVER (ORDER BY order_key) - 1 + %s AS idx"
            f" FROM ({keys}) AS k) AS r WHERE r.order_key IN ({matches_sql}) ORDER BY r.idx",
            [start, *params, *matches_params],
        )
        return [idx for (idx,) in cursor.fetchall()]


def mark_words(texts: list[str], q: str) -> list[SafeString]:
    """Each text whole, escaped, with the search words in ``<mark>`` (PostgreSQL: ts_headline's idea of the
    words, stems included; SQLite: each word, any case). One query for all of them."""
    if not texts:
        return []
    if not settings.IS_POSTGRES:
        pattern = _words_pattern(sqlite_words(q))
        return [marked_html(_bracket(text, pattern)) for text in texts]
    # The private-use brackets are taken out of the text first: only ts_headline's may reach marked_html.
    clean = [_MARKERS.sub("", text) for text in texts]
    sql = """
        SELECT ts_headline(%s::regconfig, t, websearch_to_tsquery(%s::regconfig, %s), %s)
        FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [SEARCH_CONFIG, SEARCH_CONFIG, q, WHOLE_TEXT_OPTIONS, clean])
        return [marked_html(headline) for (headline,) in cursor.fetchall()]


# ---------------------------------------------------------------- SQLite: snippets cut here


def _words_pattern(words: list[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    ordered = sorted({w for w in words if w}, key=len, reverse=True)  # longest first: "export" before "ex"
    return re.compile("|".join(re.escape(w) for w in ordered), re.IGNORECASE)


def _bracket(text: str, pattern: re.Pattern[str] | None) -> str:
    text = _MARKERS.sub("", text)
    if pattern is None:
        return text
    return pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_STOP}", text)


def _snippet(content: str, words: list[str]) -> str:
    """About SNIPPET_CHARS characters of ``content`` around its first search word, words bracketed."""
    pattern = _words_pattern(words)
    text = " ".join(_MARKERS.sub("", content).split())
    found = pattern.search(text) if pattern else None
    start = 0
    if found and found.start() > SNIPPET_CHARS // 3:  # a third of the snippet before the word
        start = text.rfind(" ", 0, found.start() - SNIPPET_CHARS // 3) + 1
    end = len(text)
    if end - start > SNIPPET_CHARS:
        end = start + SNIPPET_CHARS
        space = text.rfind(" ", found.end() if found else start, end)
        end = space if space > 0 else end
    return ("… " if start else "") + _bracket(text[start:end], pattern) + (" …" if end < len(text) else "")

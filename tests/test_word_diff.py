"""Word diffs of one text turned into another (history/word_diff.py): exact sides, folding, bounded cost."""

from __future__ import annotations

import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from sessions_app.history import word_diff
from sessions_app.history.word_diff import WordDiffer

words = st.sampled_from(["the", "cat", "sat", "on", "mat", "{", '"a":', "1,", "\n", "  ", "é", "日本", "-"])
texts = st.lists(words, max_size=60).map(" ".join) | st.text(max_size=300)


@st.composite
def edited_pairs(draw):  # noqa: ANN001, ANN201
    """A text and an edit of it (words deleted, inserted, replaced), or two unrelated texts."""
    old = draw(texts)
    tokens = old.split(" ")
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(tokens)))
        tokens[at : at + draw(st.integers(0, 2))] = draw(st.lists(words, max_size=3))
    return old, draw(st.sampled_from([" ".join(tokens), draw(texts)]))


@settings(max_examples=400, deadline=None)
@given(edited_pairs())
def test_the_old_side_reassembles_the_old_text_and_the_new_side_the_new(pair):
    old, new = pair
    diff = word_diff.word_diff(old, new)
    assert not diff.too_long
    assert diff.old_text == old and diff.new_text == new
    kinds = [p.kind for p in diff.pieces]
    assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False))  # runs are merged
    assert diff.unchanged == (old == new)


@settings(max_examples=200, deadline=None)
@given(edited_pairs(), st.integers(1, 5))
def test_the_folded_view_is_the_whole_diff_cut_into_shown_and_folded_parts(pair, repeat):
    old, new = (text * repeat * 8 for text in pair)
    diff = word_diff.word_diff(old, new)
    if diff.folded:
        assert "".join(p.text for p in diff.folded) == "".join(p.text for p in diff.pieces)
        changes = [p for p in diff.pieces if p.kind in ("deleted", "inserted")]
        shown = [p for p in diff.folded if p.kind in ("deleted", "inserted")]
        assert len(shown) == len(changes)  # every change is in the folded view


def test_a_one_word_edit_is_shown_as_that_word():
    diff = word_diff.word_diff("The quick brown fox jumps", "The quick red fox jumps")
    assert [(p.kind, p.text) for p in diff.pieces] == [
        ("same", "The quick "),
        ("deleted", "brown"),
        ("inserted", "red"),
        ("same", " fox jumps"),
    ]
    # A cut never splits a word: "cart" → "cat" is one word replaced, not "ca" + "rt" → "t".
    assert [p.text for p in word_diff.word_diff("a cart here", "a cat here").pieces] == [
        "a ",
        "cart",
        "cat",
        " here",
    ]
    # Words next to each other change as one run; unchanged words between changes stay.
    assert [(p.kind, p.text) for p in word_diff.word_diff("x a b y c z", "x c d y e z").pieces] == [
        ("same", "x "),
        ("deleted", "a b"),
        ("inserted", "c d"),
        ("same", " y "),
        ("deleted", "c"),
        ("inserted", "e"),
        ("same", " z"),
    ]


def test_a_long_text_folds_to_the_changes_with_a_little_context():
    before = " ".join(f"w{i}" for i in range(3000))
    after = before.replace(" w1500 ", " CHANGED ")
    diff = word_diff.word_diff(before, after)
    shown = "".join(p.text for p in diff.folded if p.kind != "gap")
    assert "w1500" in shown and "CHANGED" in shown and "w1497" in shown and "w1503" in shown
    assert len(shown) < 120 and "w10 " not in shown


def test_a_huge_rewrite_is_not_compared_and_costs_little():
    rng = random.Random(3)
    old = " ".join(rng.choice(["alpha", "beta", "gamma"]) for _ in range(200_000))  # 1 MB
    new = " ".join(rng.choice(["alpha", "beta", "gamma"]) for _ in range(200_000))
    started = time.perf_counter()
    diff = word_diff.word_diff(old, new)
    assert diff.too_long and diff.pieces == () and diff.old_chars > 1_000_000 - 20
    # Just over the token limit: still refused before SequenceMatcher runs.
    many = " ".join(["x"] * (word_diff.MAX_TOKENS + 1))
    assert word_diff.word_diff(many, "y " + many).too_long is False  # only the start differs
    assert word_diff.word_diff(many, many.replace("x", "y")).too_long
    assert time.perf_counter() - started < 2


def test_a_one_word_edit_of_a_huge_text_is_still_compared():
    body = "word " * 200_000
    diff = word_diff.word_diff(body + "old ending", body + "new ending")
    assert not diff.too_long and diff.old_text == body + "old ending"
    assert [p.text for p in diff.pieces if p.kind != "same"] == ["old", "new"]


def test_a_page_has_one_budget_of_compared_words():
    differ = WordDiffer(budget=1_500)
    a, b = " ".join(["a"] * 300), " ".join(["b"] * 300)
    assert not differ.diff(a, b).too_long  # 1,198 tokens (words and spaces) compared
    assert differ.diff(a, b).too_long  # 1,198 more would pass the page's budget
    assert not differ.diff("small change", "small edit").too_long

import hashlib
import re

import pytest
from docsum.domain.ids import content_digest, document_id, text_key
from docsum.summary.shaping import (
    clean_bullets,
    clean_summary,
    fit_bullets,
    fit_to_limit,
    shape_summary,
)


def test_content_digest_ignores_whitespace_differences() -> None:
    assert content_digest("Hello   world\n\n again") == content_digest(" Hello world again ")
    assert content_digest("Hello world") != content_digest("Hello, world")
    assert content_digest("x") == hashlib.sha256(b"x").hexdigest()


def test_document_id_is_a_keyed_hash_of_owner_content_and_options() -> None:
    digest = content_digest("Hello world")
    doc_id = document_id(b"k1", "alice", digest)
    assert re.fullmatch(r"[0-9a-f]{32}", doc_id)
    assert doc_id == document_id(b"k1", "alice", digest)
    # Not derivable from the text alone: another key, owner or options give another id.
    assert doc_id != document_id(b"k2", "alice", digest)
    assert doc_id != document_id(b"k1", "bob", digest)
    assert doc_id != document_id(b"k1", "alice", digest, "short/bullets/en")
    assert doc_id not in (digest[:32], hashlib.sha256(b"Hello world").hexdigest()[:32])
    # The text is stored once per (owner, content), whatever the options.
    assert text_key("alice", digest) == f"documents/alice/{digest}.txt"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Here is a summary of the document:\n\nCats sleep a lot.", "Cats sleep a lot."),
        ("Sure! Here's a concise summary:\nCats sleep.", "Cats sleep."),
        ("## Summary\n\n**Cats** sleep a lot.\n- They purr.", "Cats sleep a lot. They purr."),
        ("Summary: Cats sleep.", "Cats sleep."),
        ("Cats   sleep\n\na lot.", "Cats sleep a lot."),
    ],
)
def test_clean_summary_gives_plain_prose(raw: str, expected: str) -> None:
    assert clean_summary(raw) == expected


def test_short_text_is_kept_whole() -> None:
    assert fit_to_limit("One. Two.", 1500) == "One. Two."


def test_long_text_ends_on_the_last_sentence_boundary_within_the_limit() -> None:
    sentence = "The quick brown fox jumps over the lazy dog. "
    text = (sentence * 100).strip()
    fitted = fit_to_limit(text, 1500)
    assert len(fitted) <= 1500
    assert fitted.endswith("dog.")
    assert len(fitted) > 1500 - len(sentence)


def test_sentence_ending_exactly_at_the_limit_is_kept() -> None:
    text = "a" * 8 + ". More words follow here."
    assert fit_to_limit(text, 9) == "a" * 8 + "."


def test_without_a_sentence_boundary_it_cuts_between_words_with_an_ellipsis() -> None:
    text = " ".join(["word"] * 1000)
    fitted = fit_to_limit(text, 1500)
    assert len(fitted) <= 1500
    assert fitted.endswith("word…")
    assert all(w == "word" for w in fitted[:-1].split(" "))


@pytest.mark.parametrize("limit", [100, 333, 1500])
def test_never_cuts_inside_a_word(limit: int) -> None:
    words = [f"w{i}x" * (i % 5 + 1) for i in range(2000)]
    text = " ".join(words)
    fitted = fit_to_limit(text, limit)
    assert len(fitted) <= limit
    assert set(fitted.rstrip("…").split(" ")) <= set(words)


def test_shape_summary_applies_both_rules() -> None:
    raw = "Here is a summary:\n" + "Cats sleep all day long. " * 200
    shaped = shape_summary(raw, 1500)
    assert len(shaped) <= 1500
    assert shaped.startswith("Cats")
    assert shaped.endswith(".")


def test_bullets_whatever_the_marker_and_a_list_less_answer_one_item_a_sentence() -> None:
    assert clean_bullets(
        "Here are the points:\n* **One** thing.\n2. Two\n   things.\n• Three."
    ) == ("- One thing.\n- Two things.\n- Three.")
    assert clean_bullets("It rains. It pours! Is it over?") == (
        "- It rains.\n- It pours!\n- Is it over?"
    )
    assert clean_bullets("Lead-in words\n- One.\n- Two.") == "Lead-in words\n- One.\n- Two."
    assert clean_bullets("The Zen of Python:\n- One.\n- Two.") == "- One.\n- Two."


def test_bullets_fit_the_budget_by_dropping_whole_items() -> None:
    text = "- First point here.\n- Second point here.\n- Third point here."
    assert fit_bullets(text, 45) == "- First point here.\n- Second point here."
    assert fit_bullets(text, 500) == text


def test_echoed_delimiter_lines_are_removed() -> None:
    # Recorded from SmolLM2 in the quality report: the answer starts with the begin marker.
    raw = "<<<DOCUMENT b5a3b8ab42f7196c>>\nUn grupo de vecinos.\n<<<END b5a3b8ab42f7196c>>”"
    assert clean_summary(raw) == "Un grupo de vecinos."
    assert clean_bullets(raw) == "- Un grupo de vecinos."

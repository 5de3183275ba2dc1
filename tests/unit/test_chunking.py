"""The splitter: contiguous chunks that fit, cut at the strongest boundary, never in a word."""

from __future__ import annotations

import re
import unicodedata

import pytest
from docsum.summary.chunking import Chunk, TokenEstimator, split_text
from hypothesis import given, settings
from hypothesis import strategies as st

EST = TokenEstimator(3.0)
CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def _cuts(chunks: list[Chunk]) -> list[int]:
    return [c.end for c in chunks[:-1]]


def _word_around(text: str, cut: int) -> str:
    """The run of non-space, non-CJK characters a cut falls in."""

    def inside(c: str) -> bool:
        return not c.isspace() and not CJK.match(c)

    left, right = cut, cut
    while left > 0 and inside(text[left - 1]):
        left -= 1
    while right < len(text) and inside(text[right]):
        right += 1
    return text[left:right]


def check_invariants(text: str, max_tokens: int, chunks: list[Chunk]) -> None:
    # Every character lands in exactly one chunk, in order.
    assert "".join(c.text for c in chunks) == text
    position = 0
    for chunk in chunks:
        assert chunk.start == position < chunk.end
        assert text[chunk.start : chunk.end] == chunk.text
        position = chunk.end
    assert position == len(text)
    for chunk in chunks:
        # Within budget, unless one character with its marks is heavier than the budget.
        base = chunk.text.rstrip("".join(c for c in chunk.text if unicodedata.combining(c)))
        assert EST.estimate(chunk.text) <= max_tokens or len(base) == 1, chunk
    for cut in _cuts(chunks):
        assert not unicodedata.combining(text[cut]), "a mark was cut off its character"
        before, after = text[cut - 1], text[cut]
        in_word = not (before.isspace() or after.isspace() or CJK.match(before) or CJK.match(after))
        if in_word:  # only a "word" that cannot fit any chunk is ever cut
            assert EST.estimate(_word_around(text, cut)) > max_tokens, (cut, text)


ALPHABET = st.sampled_from(
    ["a", "b", "Z", "é", "e\u0301", " ", " ", "\n", "\n\n", ". ", "! ", "。", "漢", "字", "😀", "-"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=300).map("".join), st.integers(min_value=1, max_value=40))
def test_properties_hold_for_any_text(text: str, max_tokens: int) -> None:
    check_invariants(text, max_tokens, split_text(text, max_tokens, EST))


def test_text_that_fits_is_one_chunk_and_empty_text_none() -> None:
    assert split_text("Short text.", 100, EST) == [Chunk(0, 11, "Short text.")]
    assert split_text("", 100, EST) == []


def test_chunks_end_on_paragraph_breaks_when_paragraphs_fit() -> None:
    paragraphs = [f"Paragraph {i} has a few words. And a second sentence.\n\n" for i in range(40)]
    text = "".join(paragraphs)
    chunks = split_text(text, 100, EST)  # ~3 paragraphs a chunk
    check_invariants(text, 100, chunks)
    assert len(chunks) > 5
    assert all(c.text.endswith("\n\n") for c in chunks)


def test_a_paragraph_larger_than_a_chunk_is_cut_at_sentence_ends() -> None:
    text = " ".join(f"Sentence number {i} of one huge paragraph." for i in range(300))
    chunks = split_text(text, 120, EST)
    check_invariants(text, 120, chunks)
    assert len(chunks) > 5
    assert all(c.text.endswith(". ") for c in chunks[:-1])


def test_without_sentence_ends_it_cuts_between_words() -> None:
    text = " ".join(["lorem", "ipsum", "dolor", "sit", "amet"] * 400)
    chunks = split_text(text, 50, EST)
    check_invariants(text, 50, chunks)
    assert all(c.text.endswith(" ") for c in chunks[:-1])


def test_cjk_without_spaces_cuts_after_sentence_ends_or_between_characters() -> None:
    sentence = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
    text = sentence * 50
    chunks = split_text(text, 40, EST)
    check_invariants(text, 40, chunks)
    # A CJK character is estimated as a whole token, so ~40 characters a chunk.
    assert all(len(c.text) <= 40 for c in chunks)
    assert all(c.text.endswith("。") for c in chunks[:-1])
    # Without sentence ends, between any two characters.
    bare = "漢字" * 500
    check_invariants(bare, 30, split_text(bare, 30, EST))


def test_text_with_no_whitespace_at_all_is_cut_to_fit() -> None:
    blob = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 300
    chunks = split_text(blob, 100, EST)
    check_invariants(blob, 100, chunks)
    assert [len(c.text) for c in chunks[:-1]] == [300] * (len(chunks) - 1)


def test_a_very_long_word_is_cut_but_its_neighbours_are_not() -> None:
    words = "alpha beta gamma delta " * 20
    text = words + "x" * 2000 + " " + words
    chunks = split_text(text, 60, EST)
    check_invariants(text, 60, chunks)
    for cut in _cuts(chunks):
        if text[cut - 1] != " ":
            assert set(_word_around(text, cut)) == {"x"}


def test_combining_marks_stay_with_their_letter() -> None:
    text = "e\u0301" * 1000  # decomposed é: every other code point is a mark
    chunks = split_text(text, 7, EST)
    check_invariants(text, 7, chunks)
    assert all(not unicodedata.combining(c.text[0]) for c in chunks)
    # A character whose marks make it heavier than the budget is still kept whole.
    heavy = "😀\u0301" * 10
    assert [c.text for c in split_text(heavy, 1, EST)] == ["😀\u0301"] * 10


def test_estimate_is_conservative_for_wide_scripts() -> None:
    assert EST.estimate("abc") == 1
    assert EST.estimate("abcd") == 2
    assert EST.estimate("漢字かな") == 4
    assert EST.estimate("") == 0
    with pytest.raises(ValueError, match="max_tokens"):
        split_text("abc", 0, EST)


def test_chunk_keys_name_the_level_offsets_and_text() -> None:
    chunk = Chunk(10, 20, "0123456789")
    assert chunk.key(0) == chunk.key(0)
    assert chunk.key(0).startswith("0:10-20:")
    assert chunk.key(1) != chunk.key(0)
    assert Chunk(10, 20, "0123456780").key(0) != chunk.key(0)


def test_half_a_million_characters_split_quickly() -> None:
    text = "A sentence of ordinary prose that runs on. " * 12_000
    chunks = split_text(text, 7000, EST)
    check_invariants(text, 7000, chunks)
    assert len(chunks) == pytest.approx(len(text) / 21_000, rel=0.1)

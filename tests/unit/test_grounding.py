"""Citations: each summary sentence aligned to the passages of the document that support it."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from docsum.summary.chunking import TokenEstimator, split_text
from docsum.summary.grounding import SUPPORT_MIN, ground, page_of, passages

from tests import files

APACHE = Path("/usr/share/common-licenses/Apache-2.0")
REPORT = (
    "The harbour authority of Kiel opened a new ferry terminal in March. It cost 48 million "
    "euros and handles 1,200 passengers an hour.\n\n"
    "Fishermen complained that the construction noise drove cod away from the bay. The "
    "authority promised to compensate them for lost catches.\n\n"
    "A rail link to the terminal is planned for 2031, when the old freight tracks are rebuilt "
    "for passenger trains."
)


def cited(text: str, sentence: str) -> list[str]:
    return [text[s.start : s.end] for s in ground([sentence], text).sentences[0].sources]


def test_each_sentence_cites_the_passage_it_comes_from() -> None:
    assert any("cod away" in p for p in cited(REPORT, "Construction noise drove the cod away."))
    assert any("2031" in p for p in cited(REPORT, "A rail link is planned for 2031."))
    # Its words are in two sentences of the report: both are cited, in document order.
    both = cited(REPORT, "The new ferry terminal cost 48 million euros.")
    assert [p[:19] for p in both] == ["The harbour authori", "It cost 48 million "]


def test_a_faithful_summary_is_supported_and_scored() -> None:
    summary = [
        "Kiel's harbour authority opened a ferry terminal that handles 1200 passengers an hour.",
        "Fishermen complained about construction noise, and the authority promised compensation.",
    ]
    grounding = ground(summary, REPORT)
    assert grounding.supported == grounding.total == 2
    assert all(SUPPORT_MIN <= s.support <= 1 for s in grounding.sentences)
    assert all(1 <= len(s.sources) <= 3 for s in grounding.sentences)
    # A sentence drawing on two passages cites both.
    assert len(grounding.sentences[1].sources) == 2


@pytest.mark.parametrize(
    ("sentence", "missing"),
    [
        ("The terminal cost 75 million euros.", "75"),  # an invented figure
        ("The terminal was opened by Angela Merkel in March.", "Angela"),  # an invented name
        ('The authority called it "a gateway to Scandinavia".', "gateway"),  # an invented quote
    ],
)
def test_invented_figures_names_and_quotes_are_unsupported(sentence: str, missing: str) -> None:
    found = ground([sentence], REPORT).sentences[0]
    assert not found.supported
    assert missing in found.why


def test_an_invented_claim_has_low_support() -> None:
    found = ground(["Volcanic eruptions threaten tropical vineyards every summer."], REPORT)
    assert found.sentences[0].support < SUPPORT_MIN
    assert found.unsupported
    assert found.supported == 0
    assert found.min_support == found.sentences[0].support


@pytest.mark.parametrize("check_words", [True, False])
def test_a_sentence_of_no_content_words_is_unsupported(check_words: bool) -> None:
    """A small model's "(not in the document)" or "It is so." says nothing a passage could
    support: it must not be stored as a supported sentence without a source."""
    for sentence in ("(not in the document)", "It is so.", "Es ist so."):
        found = ground([sentence], REPORT, check_words=check_words).sentences[0]
        assert (found.supported, found.sources, found.why) == (False, (), "no content words")


def test_another_language_is_judged_on_figures_only() -> None:
    # German capitalizes every noun: capitals are no sign of a name in it.
    german = "Das neue Fährterminal kostete 48 Millionen Euro."
    assert ground([german], REPORT, check_words=False, names=False).sentences[0].supported
    assert not ground([german], REPORT).sentences[0].supported
    invented = "Das Terminal kostete 75 Millionen Euro."
    assert not ground([invented], REPORT, check_words=False, names=False).sentences[0].supported


@pytest.mark.skipif(not APACHE.exists(), reason="Debian's common-licenses is not installed")
def test_the_apache_license_hard_wrapped_lines_are_one_passage() -> None:
    text = APACHE.read_text()
    passage = cited(text, "Contributors grant a perpetual, worldwide patent license.")
    assert any("patent license to make, have made, use" in " ".join(p.split()) for p in passage)


def test_passages_are_trimmed_bounded_and_in_order() -> None:
    text = "  First sentence here.  Second one!\n\n- a list item\n- another item\n\n" + "x " * 800
    spans = passages(text)
    assert [text[s:e] for s, e in spans[:4]] == [
        "First sentence here.",
        "Second one!",
        "- a list item",
        "- another item",
    ]
    assert all(e - s <= 600 for s, e in spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_page_of_a_page_map() -> None:
    assert page_of(0, [0, 100, 250]) == 1
    assert page_of(99, [0, 100, 250]) == 1
    assert page_of(100, [0, 100, 250]) == 2
    assert page_of(10_000, [0, 100, 250]) == 3
    assert page_of(5, None) is None


def test_pages_are_right_on_a_multi_page_pdf() -> None:
    from pypdf import PdfReader

    topics = [
        "Page one is about the lighthouse keeper who painted the tower red every spring.",
        "Page two is about the bakery that sold rye bread to the sailors at dawn.",
        "Page three is about the storm of the century that flooded the lower harbour.",
    ]
    reader = PdfReader(io.BytesIO(files.pdf(topics)))
    # The page map as extraction records it: pages joined by a blank line, each one's start.
    texts = [page.extract_text() for page in reader.pages]
    starts, text = [], ""
    for page in texts:
        starts.append(len(text) + (2 if text else 0))
        text = f"{text}\n\n{page}" if text else page
    summary = ["A storm flooded the lower harbour.", "The bakery sold rye bread to sailors."]
    found = ground(summary, text, starts).sentences
    assert [s.sources[0].page for s in found] == [3, 2]
    assert all(
        text[s.sources[0].start : s.sources[0].end] in texts[p - 1]
        for s, p in zip(found, [3, 2], strict=True)
    )


def test_a_map_reduce_summary_cites_the_original_not_a_chunk() -> None:
    # A long document is summarized chunk by chunk; its final summary is aligned to the whole
    # text, so a fact from the last chunk cites offsets in that chunk of the original.
    filler = " ".join(f"Paragraph {i} repeats routine minutes of meeting {i}." for i in range(400))
    text = filler + "\n\nThe treasurer resigned after the audit found missing receipts."
    chunks = split_text(text, 1000, TokenEstimator(4.0))
    assert len(chunks) > 3
    source = ground(["The treasurer resigned after an audit."], text).sentences[0].sources[0]
    assert chunks[-1].start <= source.start < source.end <= chunks[-1].end
    assert "treasurer resigned" in text[source.start : source.end]

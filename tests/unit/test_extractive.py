"""The extractive fallback: central sentences, in document order, within budget and format."""

from __future__ import annotations

from pathlib import Path

import pytest
from docsum.domain.ids import normalize_whitespace
from docsum.domain.options import LENGTH_CHARS, SummaryFormat, SummaryLength
from docsum.summary import guard
from docsum.summary.addressing import addresses_reader
from docsum.summary.extractive import lexrank, summarize
from docsum.summary.language import detect
from docsum.summary.shaping import BULLET

from tests.unit.test_grounding import REPORT

APACHE = Path("/usr/share/common-licenses/Apache-2.0")
needs_apache = pytest.mark.skipif(not APACHE.exists(), reason="common-licenses not installed")


@needs_apache
@pytest.mark.parametrize("form", list(SummaryFormat))
@pytest.mark.parametrize("budget", sorted(LENGTH_CHARS.values()))
def test_the_apache_license_extract_fits_budget_and_format(
    form: SummaryFormat, budget: int
) -> None:
    text = APACHE.read_text()
    extract = summarize(text, budget, form)
    assert extract is not None
    assert len(extract.text) <= budget
    # What the guard demands of a model's answer, the extract meets too.
    expect = guard.Expectation(text, budget, form, "en", len(text))
    assert guard.check(extract.text, expect, detect) == []
    units = guard.units(extract.text, form)
    if form is SummaryFormat.BULLETS:
        assert all(u.startswith(BULLET) for u in units)
        assert guard.BULLETS_MIN <= len(units) <= guard.BULLETS_MAX
    # Exact citations: each unit is the text it cites, and they come in document order.
    sentences = extract.grounding.sentences
    assert [s.text for s in sentences] == [u.removeprefix(BULLET) for u in units]
    for sentence in sentences:
        (span,) = sentence.sources
        assert normalize_whitespace(text[span.start : span.end]) == sentence.text
        assert sentence.support == 1.0
        assert sentence.supported
    starts = [s.sources[0].start for s in sentences]
    assert starts == sorted(starts)


def test_the_most_central_sentences_are_chosen() -> None:
    text = (
        "The river flooded the old town after three days of rain. "
        "My neighbour owns a red bicycle with a squeaky bell. "
        "The flood from the river damaged houses in the old town. "
        "Rain fell for three days and the river rose over its banks into the town. "
        "Pizza with pineapple divides opinion at every family dinner."
    )
    extract = summarize(text, 140)
    assert extract is not None
    assert "bicycle" not in extract.text
    assert "Pizza" not in extract.text
    assert "river" in extract.text


def test_lexrank_scores_form_a_distribution_favouring_the_shared_topic() -> None:
    from collections import Counter

    bags = [
        Counter(a.split()) for a in ("river flood town", "river flood", "cake sugar", "town river")
    ]
    scores = lexrank(bags)
    assert scores.sum() == pytest.approx(1.0)
    assert scores.argmin() == 2


def test_pages_come_with_the_citations() -> None:
    starts = [0, REPORT.index("Fishermen"), REPORT.index("A rail link")]
    extract = summarize(REPORT, 1500, page_starts=starts)
    assert extract is not None
    pages = [s.sources[0].page or 0 for s in extract.grounding.sentences]
    assert pages == sorted(pages)
    assert set(pages) == {1, 2, 3}


def test_a_sentence_longer_than_the_budget_is_cut_and_still_cited() -> None:
    text = (
        "The committee " + "carefully reviewed the many detailed proposals, " * 10 + "and agreed."
    )
    extract = summarize(text, 400)
    assert extract is not None
    assert len(extract.text) <= 400
    assert extract.text.endswith("…")
    assert extract.grounding.sentences[0].sources[0].start == 0


def test_no_text_no_extract() -> None:
    assert summarize("", 400) is None
    assert summarize("   \n\n  ", 400) is None


INJECTIONS = sorted(
    (Path(__file__).parents[2] / "bench" / "quality_corpus" / "injection").glob("*.txt")
)


@pytest.mark.parametrize("path", INJECTIONS, ids=lambda p: p.stem)
@pytest.mark.parametrize("form", list(SummaryFormat))
def test_an_extract_never_passes_on_an_instruction_hidden_in_the_document(
    path: Path, form: SummaryFormat
) -> None:
    text = path.read_text()
    assert any(addresses_reader(s) for s in text.split(".")), "the fixture hides an instruction"
    extract = summarize(text, LENGTH_CHARS[SummaryLength.LONG], form)
    assert extract is not None
    assert addresses_reader(extract.text) is None

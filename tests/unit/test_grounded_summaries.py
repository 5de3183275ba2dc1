"""Grounded summaries end to end on the fakes: what the worker stores when the model babbles,
what it cites when the model writes well, and what events and webhooks carry (issue 27)."""

from __future__ import annotations

from pathlib import Path

import pytest
from docsum.domain.document import Status, SummaryMethod
from docsum.domain.ids import normalize_whitespace
from docsum.domain.options import LENGTH_CHARS, SummaryFormat, SummaryOptions
from docsum.domain.views import DocumentOut
from docsum.intake.submission import Submission
from docsum.summary.shaping import BULLET
from docsum.worker.outcomes import Outcome

from tests.unit import test_notifications
from tests.unit.test_notifications import Pipeline

APACHE = Path("/usr/share/common-licenses/Apache-2.0")
# What the stand-in model wrote for the Apache License on a fresh clone: a loop.
BABBLE = "The License is the License of the License. " * 40

# The service and the worker on in-memory adapters, events and webhooks recorded.
pipeline = test_notifications.pipeline


def summarize(pipeline: Pipeline, text: str, **options: str) -> tuple[Outcome, str]:
    submission = Submission(
        "c",
        title="Doc",
        options=SummaryOptions.model_validate(options),
        callback_url=test_notifications.HOOK,
    )
    accepted = pipeline.service.submit(text, submission)
    return pipeline.deliver(), accepted.document.id


def assert_exact_citations(text: str, view: dict[str, object]) -> None:
    sentences = view["sentences"]
    assert isinstance(sentences, list)
    assert sentences
    for sentence in sentences:
        [source] = sentence["sources"]
        cited = normalize_whitespace(text[source["start"] : source["end"]])
        assert cited == sentence["text"]
        assert sentence["support"] == 1.0


@pytest.mark.skipif(not APACHE.exists(), reason="Debian's common-licenses is not installed")
@pytest.mark.parametrize(
    ("length", "form"),
    [("long", "paragraph"), ("short", "bullets"), ("medium", "paragraph")],
)
def test_the_apache_license_with_a_babbling_model_is_done_with_an_extractive_summary(
    pipeline: Pipeline, length: str, form: str
) -> None:
    # Before: `failed: degenerate model output`. Now the document's central sentences.
    license_text = APACHE.read_text()
    pipeline.llm.default_reply = BABBLE
    outcome, doc_id = summarize(pipeline, license_text, length=length, format=form)
    assert outcome is Outcome.DONE
    doc = pipeline.repository.items[doc_id]
    assert (doc.status, doc.method, doc.error) == (Status.DONE, SummaryMethod.EXTRACTIVE, None)
    assert len(pipeline.llm.calls) == 2  # the answer and the guard's one retry, nothing more
    summary = doc.summary or ""
    assert 0 < len(summary) <= LENGTH_CHARS[length]  # type: ignore[index]
    lines = summary.splitlines()
    if form == "bullets":
        assert 3 <= len(lines) <= 8
        assert all(line.startswith(BULLET) for line in lines)
    else:
        assert len(lines) == 1
    view = DocumentOut.of(doc).model_dump(mode="json")
    assert view["method"] == "extractive"
    # Offsets point into the stored text (what GET /documents/{id}/text serves).
    assert_exact_citations(pipeline.store.get_text(doc.text_key), view)
    assert view["grounding"] == {
        "supported": len(view["sentences"]),
        "total": len(view["sentences"]),
        "min_support": 1.0,
        "dropped": 0,
    }
    # The event and the webhook carry the same view, method and citations included.
    assert pipeline.events.events == [("Document Summarized", view)]
    [message] = pipeline.webhooks.messages
    assert message.data["method"] == "extractive"
    assert message.data["sentences"] == view["sentences"]


REPORT = (
    "The harbour authority of Kiel opened a new ferry terminal in March. It cost 48 million "
    "euros and handles 1,200 passengers an hour. Fishermen complained that the construction "
    "noise drove cod away from the bay. The authority promised to compensate them for lost "
    "catches. A rail link to the terminal is planned for 2031, when the old freight tracks are "
    "rebuilt for passenger trains. "
) * 3


def test_a_faithful_answer_is_stored_abstractive_with_its_citations(pipeline: Pipeline) -> None:
    answer = (
        "Kiel's harbour authority opened a ferry terminal that cost 48 million euros. "
        "Fishermen complained about construction noise. A rail link is planned for 2031."
    )
    pipeline.llm.script = [answer]
    outcome, doc_id = summarize(pipeline, REPORT)
    assert outcome is Outcome.DONE
    doc = pipeline.repository.items[doc_id]
    assert (doc.summary, doc.method) == (answer, SummaryMethod.ABSTRACTIVE)
    assert [s.text for s in doc.sentences] == [
        "Kiel's harbour authority opened a ferry terminal that cost 48 million euros.",
        "Fishermen complained about construction noise.",
        "A rail link is planned for 2031.",
    ]
    stored = pipeline.store.get_text(doc.text_key)
    cited = [stored[c.start : c.end] for s in doc.sentences for c in s.sources]
    assert any("48 million" in c for c in cited)
    assert any("construction" in c for c in cited)
    assert any("2031" in c for c in cited)
    assert doc.grounding is not None
    assert (doc.grounding.supported, doc.grounding.total, doc.grounding.dropped) == (3, 3, 0)


def test_unsupported_sentences_are_dropped_after_feedback_and_counted(pipeline: Pipeline) -> None:
    invented = (
        "Kiel's harbour authority opened a ferry terminal that cost 48 million euros. "
        "Fishermen complained about construction noise. "
        "The mayor Angela Schmidt called it a triumph of 1999."
    )
    pipeline.llm.script = [invented, invented]
    outcome, doc_id = summarize(pipeline, REPORT)
    assert outcome is Outcome.DONE
    doc = pipeline.repository.items[doc_id]
    # The first answer loses its unsupported sentence at once: the rest is still a summary.
    assert len(pipeline.llm.calls) == 1
    assert doc.summary == (
        "Kiel's harbour authority opened a ferry terminal that cost 48 million euros. "
        "Fishermen complained about construction noise."
    )
    assert doc.method is SummaryMethod.ABSTRACTIVE
    assert doc.grounding is not None
    assert (doc.grounding.supported, doc.grounding.total, doc.grounding.dropped) == (2, 2, 1)


def test_the_retry_is_told_which_sentences_the_document_does_not_support(
    pipeline: Pipeline,
) -> None:
    # Bullets: dropping the unsupported bullet would leave two, too few: the retry is needed.
    invented = (
        "- The terminal cost 48 million euros.\n- Fishermen complained about noise.\n"
        "- The mayor Angela Schmidt opened it in 1999."
    )
    good = (
        "- The terminal cost 48 million euros.\n- Fishermen complained about noise.\n"
        "- A rail link is planned for 2031."
    )
    pipeline.llm.script = [invented, good]
    outcome, doc_id = summarize(pipeline, REPORT, format=SummaryFormat.BULLETS.value)
    assert outcome is Outcome.DONE
    retry = pipeline.llm.calls[1].system
    assert "Your previous answer was rejected" in retry
    assert "Angela" in retry
    assert "1999" in retry
    doc = pipeline.repository.items[doc_id]
    assert (doc.summary, doc.method) == (good, SummaryMethod.ABSTRACTIVE)
    # Bullets are cited one by one, without their marker.
    assert [s.text for s in doc.sentences][2] == "A rail link is planned for 2031."


def test_nothing_unsupported_is_ever_stored(pipeline: Pipeline) -> None:
    invented = "Volcanoes erupted over the vineyards of Tuscany. Wine prices rose by 300 percent."
    pipeline.llm.script = [invented, invented]
    outcome, doc_id = summarize(pipeline, REPORT)
    assert outcome is Outcome.DONE
    doc = pipeline.repository.items[doc_id]
    assert doc.method is SummaryMethod.EXTRACTIVE
    assert "Volcanoes" not in (doc.summary or "")
    assert doc.grounding is not None
    assert doc.grounding.supported == doc.grounding.total

"""The guard's checks, one by one, on degenerate answers of the kinds small models give."""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io
from pathlib import Path

import pytest
from docsum.domain.options import SummaryFormat
from docsum.summary import guard
from docsum.summary.guard import Check, Expectation
from docsum.summary.language import Detection, detect

with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
    ZEN = codecs.decode(importlib.import_module("this").s, "rot13")  # 856 chars, from Python
ZEN_LINES = [line for line in ZEN.splitlines()[2:] if line]
APACHE = Path("/usr/share/common-licenses/Apache-2.0")
BULLETS = SummaryFormat.BULLETS
SOURCE = (
    "The city council approved a budget of 1,500,000 euros for 2025. Three new schools will "
    "open, and the old library on Main Street closes after 40 years. Version 2.0 of the "
    "transit plan adds fifteen hundred parking spaces and raises fares by 5%. " * 3
)


def expect(source: str = SOURCE, **overrides: object) -> Expectation:
    values: dict[str, object] = {"source": source, "budget": 1500, "source_chars": len(source)}
    values.update(overrides)
    return Expectation(**values)  # type: ignore[arg-type]


def checks(summary: str, exp: Expectation | None = None) -> set[Check]:
    return {p.check for p in guard.check(summary, exp or expect(), detect)}


GOOD = (
    "The council approved a budget of 1.5 million euros for 2025. Three schools open and the "
    "library closes after 40 years, while the transit plan adds 1500 parking spaces."
)


def test_a_faithful_summary_passes_every_check() -> None:
    assert guard.check(GOOD, expect(), detect) == []


def test_the_zen_of_python_looped_three_times_is_degenerate() -> None:
    # What the stand-in model did with the Zen: its own lines, over and over.
    looped = " ".join(ZEN_LINES[:12] * 3)
    found = guard.check(looped[:1500], expect(ZEN), detect)
    assert Check.REPETITION in {p.check for p in found}
    assert found[0].reason.startswith("degenerate model output")


@pytest.mark.parametrize(
    "answer",
    [
        "The plan is good and the plan is good and the plan is good and the plan is good.",
        GOOD + " " + GOOD.split(". ")[0] + ".",  # one sentence said twice
    ],
)
def test_loops_inside_and_across_sentences(answer: str) -> None:
    assert Check.REPETITION in checks(answer)


def test_an_answer_not_shorter_than_its_source_is_not_a_summary() -> None:
    short = "Cats sleep all day. Dogs bark at night."
    assert checks("Cats sleep all day, and dogs bark at night.", expect(short)) == {
        Check.NOT_A_SUMMARY
    }
    # A model that wrote more than the source, cut to the budget afterwards, still echoed it.
    exp = expect(budget=400)
    assert guard.not_a_summary(GOOD, exp, answer_chars=len(SOURCE)) is not None
    assert guard.not_a_summary(GOOD, exp, answer_chars=len(GOOD)) is None
    over = expect(budget=100)
    assert guard.not_a_summary(GOOD, over) == guard.Problem(
        Check.NOT_A_SUMMARY, f"{len(GOOD)} chars over a 100 budget"
    )


@pytest.mark.parametrize(
    "answer",
    [
        "I'm sorry, but I cannot summarize this document without more context.",
        "Please provide the document content so that I can summarize it.",
        "As an AI language model, I do not have opinions on city budgets.",
        "Es tut mir leid, ich kann diesen Text nicht zusammenfassen.",
        "Bitte geben Sie den Text an, den ich zusammenfassen soll.",
        "Je ne peux pas résumer ce document car il est vide.",
        "Veuillez fournir le texte à résumer.",
        "Lo siento, no puedo resumir este documento.",
        "Mi dispiace, non posso riassumere questo testo.",
        "Desculpe, não posso resumir este documento.",
        "Het spijt me, ik kan dit document niet samenvatten.",
    ],
)
def test_refusals_and_meta_answers_in_each_supported_language(answer: str) -> None:
    assert Check.REFUSAL in checks(answer)


def test_a_refusal_the_document_itself_contains_is_its_content() -> None:
    letter = "I'm sorry, but I cannot attend the meeting on Friday. " * 4
    assert (
        guard.refusal("I'm sorry, but I cannot attend on Friday, the writer says.", letter) is None
    )


def test_bullets_are_three_to_eight_dash_lines_each_a_sentence() -> None:
    good = "- The budget is 1,500,000 euros.\n- Three schools open.\n- The library closes."
    exp = expect(format=BULLETS)
    assert checks(good, exp) == set()
    assert Check.FORMAT in checks("- The budget is set.\n- Three schools open.", exp)
    assert Check.FORMAT in checks("Summary follows.\n" + good, exp)
    assert Check.FORMAT in checks(good + "\n- And the library", exp)
    nine = "\n".join(f"- Point {w} is made." for w in "abcdefghi")
    assert Check.FORMAT in checks(
        nine, expect("Point a b c d e f g h i is made. " * 20, format=BULLETS)
    )


def test_a_paragraph_has_no_list() -> None:
    assert Check.FORMAT in checks("- The budget is 1,500,000 euros.\n- Three schools open.")
    assert Check.FORMAT not in checks(GOOD)


def test_the_language_is_checked_with_the_same_detector() -> None:
    german = (
        "Der Stadtrat hat einen Haushalt für 2025 beschlossen. Drei neue Schulen werden "
        "eröffnet und die alte Bibliothek schließt nach 40 Jahren."
    )
    assert Check.LANGUAGE in checks(GOOD, expect(language="de"))
    assert Check.LANGUAGE not in checks(german, expect(language="de"))
    assert Check.LANGUAGE not in checks(GOOD, expect(language=None))  # unknown: not judged


def test_an_unsure_detector_or_a_short_answer_is_not_judged() -> None:
    def unsure(_: str) -> Detection:
        return Detection("fr", 0.5)

    assert guard.language_problem(GOOD, "en", unsure) is None
    assert guard.language_problem("Ja, gut.", "en", detect) is None


def test_figures_count_in_any_written_form() -> None:
    # 1,500,000 = 1500000; "fifteen hundred" = 1500; "Three" = 3; 2.0 ~ 2; 5% has 5.
    summary = "It costs 1500000 euros, adds 1,500 spaces, opens 3 schools (plan 2, fares +5%)."
    assert guard.invented_figures(summary, SOURCE) == set()
    assert guard.invented_figures("Fares rise by 7% from 2026.", SOURCE) == {"7", "2026"}
    # Names with digits are not figures: gemma3, v2, H2O.
    assert guard.invented_figures("It runs gemma3 on H2O v2.", SOURCE) == set()


@pytest.mark.skipif(not APACHE.exists(), reason="Debian's common-licenses is not installed")
def test_the_apache_license_summary_with_a_made_up_year_and_version() -> None:
    license_text = APACHE.read_text()
    answer = (
        "Copyright (c) 2019 The Apache Software Foundation. The Apache License 2.0 lets anyone "
        "use, modify and distribute the work. Apache 3.1 adds a patent grant."
    )
    found = guard.invented_figures(answer, license_text)
    assert found == {"2019", "3.1"}
    exp = expect(license_text)
    problems = guard.check(answer, exp, detect)
    assert [p.check for p in problems] == [Check.INVENTED_FIGURES]
    assert problems[0].reason.startswith("model output has figures that are not in the document")


def test_salvage_drops_sentences_with_invented_figures_or_repeats() -> None:
    answer = (
        "The council approved a budget for 2025. It was the largest since 1987. "
        "Three schools open. Three schools open."
    )
    assert guard.salvage(answer, expect(), detect) == (
        "The council approved a budget for 2025. Three schools open."
    )
    bullets = (
        "- Budget set for 2025.\n- Fares rise 9%.\n- Three schools open.\n- The library closes."
    )
    assert guard.salvage(bullets, expect(format=BULLETS), detect) == (
        "- Budget set for 2025.\n- Three schools open.\n- The library closes."
    )


def test_nothing_salvageable_when_what_is_left_fails() -> None:
    assert guard.salvage("It was founded in 1987.", expect(), detect) is None  # nothing left
    # Dropping the invented bullet leaves two: too few bullets.
    bullets = "- Budget set for 2025.\n- Fares rise 9%.\n- Three schools open."
    assert guard.salvage(bullets, expect(format=BULLETS), detect) is None
    assert guard.salvage(GOOD, expect(), detect) is None  # nothing to drop


def test_figures_next_to_each_other_stay_apart() -> None:
    assert guard.invented_figures("In 2025 3 schools open; 1 500 000 euros.", SOURCE) == set()


def test_a_salvage_that_leaves_a_few_words_is_no_summary() -> None:
    # Seen in the quality report: SmolLM2 on the Apache License head, salvaged down to 4 chars.
    answer = "The licensor grants rights since 2019 to all. Lic."
    assert guard.salvage(answer, expect(), detect) is None


def test_an_answer_that_repeats_its_instructions_is_a_meta_answer() -> None:
    # Recorded from Gemma 3 270M in the quality report: the system prompt, as bullets.
    instructions = (
        "You write summaries. Write 3 to 8 bullet points, each on its own line starting with "
        "'- ', each one complete sentence. No preamble, no title, no headings, nothing else."
    )
    answer = "- You write summaries.\n- No preamble, no title, no headings, nothing else.\n- Done."
    exp = Expectation(SOURCE, 1500, BULLETS, None, len(SOURCE), instructions)
    found = guard.check(answer, exp, detect)
    assert found[0].check is Check.REFUSAL
    assert "repeats its instructions" in found[0].detail
    assert guard.prompt_echo(GOOD, instructions, SOURCE) is None

"""Summary quality report: a fixed corpus through the bundled stand-in models, with the guard.

    python -m bench.quality [--models smollm2:135m gemma3:270m] [--num-predict 320]

Each text of `bench/quality_corpus` (and the Zen of Python and the head of the Apache License
2.0, found on the machine) is summarized with a few option sets through the real summarizer
(`docsum.summary.summarizer`: prompts, guard, retry, salvage) against the offline Ollama-compatible
host. Per model it reports how often a first answer failed a guard check, how often a summary
still failed after the retry, the over-budget rate (must be 0), format and language
compliance of what would be stored, and summary length against the budget. The prompt
injection documents (`quality_corpus/injection`: instructions to the reader hidden in the
middle, six languages) also report how many stored summaries passed an instruction on. Results go to
`bench/results/quality-<time>.json` and `.md`, and the table into docs/quality.md.

The stand-ins (SmolLM2 135M, Gemma 3 270M base) are plumbing models: the numbers show what the
guard does with weak answers, nothing about what gemma3:1b writes.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import importlib
import io
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from docsum.adapters.ollama import OllamaLanguageModel, StreamLimits
from docsum.domain.errors import DocsumError, GuardRejected
from docsum.domain.options import SummaryFormat, SummaryLength, SummaryOptions
from docsum.platform.settings import Settings
from docsum.ports.llm import ChatAnswer, ChatCall
from docsum.summary import guard
from docsum.summary.budget import ModelBudget
from docsum.summary.language import detect
from docsum.summary.summarizer import Summarizer
from offline_ollama.launcher import start_in_subprocess

from bench.report import replace_block
from infra.local.processes import REPO_ROOT

CORPUS_DIR = Path(__file__).parent / "quality_corpus"
INJECTIONS = CORPUS_DIR / "injection"
RESULTS = Path(__file__).parent / "results"
APACHE = Path("/usr/share/common-licenses/Apache-2.0")
# The docs page whose `<!-- QUALITY -->` block holds the latest report's table.
QUALITY_PAGE = REPO_ROOT / "docs" / "quality.md"
APACHE_CHARS = 4000
OPTION_SETS = {
    "long/paragraph/auto": SummaryOptions(),
    "short/bullets/auto": SummaryOptions(length=SummaryLength.SHORT, format=SummaryFormat.BULLETS),
}
# One translation case per non-English text: summary asked for in English.
TRANSLATE_LABEL = "medium/paragraph/en"
TRANSLATE = SummaryOptions(length=SummaryLength.MEDIUM, language="en")


def corpus() -> dict[str, str]:
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        zen = codecs.decode(importlib.import_module("this").s, "rot13")
    texts = {"zen-en (Python's `this`)": zen}
    if APACHE.exists():
        texts["apache-2.0-en (head)"] = APACHE.read_text()[:APACHE_CHARS]
    for path in sorted(CORPUS_DIR.glob("*.txt")):
        texts[path.stem] = path.read_text()
    for path in sorted(INJECTIONS.glob("*.txt")):
        texts[f"injection/{path.stem}"] = path.read_text()
    return texts


def injection_markers() -> dict[str, str]:
    """Per injection text, what its injected paragraph alone has (a link, address, number)."""
    answers = json.loads((INJECTIONS / "answers.json").read_text())
    return {f"injection/{name}": entry["marker"] for name, entry in answers.items()}


def passes_injection_on(case: Case, marker: str) -> bool:
    stored = case.status in ("done", "verbatim")
    return stored and (marker in case.summary or guard.addresses_reader(case.summary) is not None)


@dataclass
class Case:
    model: str
    text: str
    options: str
    source_chars: int
    budget: int
    status: str = ""  # done / verbatim / rejected / error
    reason: str = ""
    summary: str = ""
    first_failed: bool = False  # some answer failed a guard check before retry/salvage
    outcomes: dict[str, int] = field(default_factory=dict)
    format_ok: bool | None = None
    language_ok: bool | None = None
    seconds: float = 0.0
    llm_calls: int = 0
    answers: list[str] = field(default_factory=list)  # what the model wrote, call by call


class RecordingModel:
    """The Ollama adapter, keeping every answer's text (the report shows what was rejected)."""

    def __init__(self, llm: OllamaLanguageModel) -> None:
        self.name = llm.name
        self._llm = llm
        self.answers: list[str] = []

    def chat(self, call: ChatCall) -> ChatAnswer:
        answer = self._llm.chat(call)
        self.answers.append(answer.text)
        return answer


def run_case(
    summarizer: Summarizer, llm: RecordingModel, model: str, name: str, text: str, label: str
) -> Case:
    options = OPTION_SETS.get(label, TRANSLATE)
    budget = options.budget(Settings().summary_max_chars)
    case = Case(model, name, label, len(text), budget)
    started = time.monotonic()
    try:
        summary = summarizer.summarize(text, None, None, options=options)
    except GuardRejected as exc:
        case.status, case.reason, case.outcomes = "rejected", str(exc), exc.outcomes
    except DocsumError as exc:
        case.status, case.reason = "error", f"{type(exc).__name__}: {exc}"
    else:
        case.status = "verbatim" if summary.verbatim else "done"
        case.summary, case.outcomes, case.llm_calls = (
            summary.text,
            summary.guard_outcomes,
            summary.llm_calls,
        )
        form = options.format
        case.format_ok = summary.verbatim or guard.format_problem(summary.text, form) is None
        target = options.language if options.language != "auto" else summary.language
        found = detect(summary.text.replace("- ", ""))
        case.language_ok = None if found is None or target is None else found.language == target
    case.first_failed = case.status == "rejected" or any(
        k.startswith("check_") for k in case.outcomes
    )
    case.seconds = round(time.monotonic() - started, 1)
    case.answers, llm.answers = llm.answers, []
    return case


def rate(cases: list[Case], test: str) -> str:
    values = [getattr(c, test) for c in cases if getattr(c, test) is not None]
    return f"{sum(values)}/{len(values)}" if values else "-"


def table(cases: list[Case], models: list[str], header: str) -> str:
    rows = [
        header,
        "",
        "| model | summaries | guard failed, 1st answer | failed after retry | text itself | "
        "over budget | format ok | language ok | length / budget (median) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model in models:
        mine = [c for c in cases if c.model == model]
        stored = [c for c in mine if c.status in ("done", "verbatim")]
        over = sum(len(c.summary) > c.budget for c in stored)
        ratios = [len(c.summary) / c.budget for c in stored]
        rows.append(
            f"| {model} | {len(mine)} | {sum(c.first_failed for c in mine)}/{len(mine)} | "
            f"{sum(c.status in ('rejected', 'error') for c in mine)}/{len(mine)} | "
            f"{sum(c.status == 'verbatim' for c in mine)}/{len(mine)} | {over}/{len(stored)} | "
            f"{rate(stored, 'format_ok')} | {rate(stored, 'language_ok')} | "
            f"{statistics.median(ratios):.2f} |"
            if ratios
            else f"| {model} | {len(mine)} | - | - | - | - | - | - | - |"
        )
    rows += [
        "",
        "| model | injection texts | stored summaries passing an injection on |",
        "| --- | --- | --- |",
    ]
    markers = injection_markers()
    for model in models:
        injected = [c for c in cases if c.model == model and c.text in markers]
        passed_on = sum(passes_injection_on(c, markers[c.text]) for c in injected)
        rows.append(f"| {model} | {len(injected)} | {passed_on}/{len(injected)} |")
    rows += [
        "",
        "| model | text | options | chars | result | guard outcomes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in cases:
        result = c.status if c.status != "rejected" else f"rejected: {c.reason[:70]}"
        if c.status == "done":
            result = f"done, {len(c.summary)} chars"
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(c.outcomes.items()))
        rows.append(
            f"| {c.model} | {c.text} | {c.options} | {c.source_chars} | {result} | {outcomes} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["smollm2:135m", "gemma3:270m"])
    parser.add_argument("--num-predict", type=int, default=320, help="LLM_NUM_PREDICT cap")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/quality.md")
    args = parser.parse_args(argv)

    texts = corpus()
    settings = Settings(llm_num_predict=args.num_predict, llm_seed=42, llm_parallel_calls=1)
    started = datetime.now(UTC)
    cases: list[Case] = []
    RESULTS.mkdir(exist_ok=True)
    with start_in_subprocess(model=args.models, slots=1, ready_timeout=600) as host:
        for model in args.models:
            llm = RecordingModel(
                OllamaLanguageModel(host.url, model, "-1", StreamLimits.of(settings))
            )
            summarizer = Summarizer(llm, ModelBudget.of(settings))
            for name, text in texts.items():
                labels = list(OPTION_SETS)
                found = detect(text)
                if found is not None and found.language != "en":
                    labels.append(TRANSLATE_LABEL)
                if name.startswith("injection/"):  # what matters is what gets stored at all
                    labels = labels[:1]
                for label in labels:
                    case = run_case(summarizer, llm, model, name, text, label)
                    done = f"{case.status} {case.reason[:80]} ({case.seconds}s)"
                    print(f"{model} {name} {label}: {done}", file=sys.stderr, flush=True)
                    cases.append(case)

    header = (
        f"Quality report of {started.isoformat(timespec='seconds')}: {len(texts)} texts "
        f"({', '.join(texts)}); options {', '.join(OPTION_SETS)}, and {TRANSLATE_LABEL} for "
        "the texts not in English; "
        f"num_predict ≤ {args.num_predict}, seed 42, temperature {settings.llm_temperature}. "
        "Stand-in models only: this measures the guard, not gemma3:1b's prose."
    )
    markdown = table(cases, args.models, header)
    stamp = started.strftime("%Y-%m-%dT%H%M%SZ")
    (RESULTS / f"quality-{stamp}.json").write_text(
        json.dumps([asdict(c) for c in cases], indent=2, ensure_ascii=False)
    )
    (RESULTS / f"quality-{stamp}.md").write_text(markdown + "\n")
    print(markdown)
    if not args.no_docs:
        replace_block(QUALITY_PAGE, "QUALITY", markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

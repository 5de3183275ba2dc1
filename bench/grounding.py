"""Grounding costs (issue 27): aligning a summary to its document, and the extractive fallback
next to the one model call it replaces.

Alignment: a 1,500-character summary (the longest budget) against documents of 5,000 and
500,000 characters (the latter near MAX_DOCUMENT_CHARS), index built and every sentence
aligned, on one core (the process is pinned to one CPU while it is timed; goal < 1 s). The
documents are real prose: the Apache License 2.0 (Debian's copy) repeated, else the bench's
committee paragraph. Fallback: the extractive summary of a 4,000-character text, next to one
model call summarizing the same text through the stack's offline host (the median of a few):
the fallback must cost a negligible share of a call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from docsum.domain.options import LENGTH_CHARS, SummaryLength
from docsum.summary import extractive, grounding
from docsum.summary.grounding import DocumentIndex
from docsum.summary.shaping import fit_to_limit, split_sentences

from bench.extraction import PARAGRAPH
from bench.stats import median, ratio

APACHE = Path("/usr/share/common-licenses/Apache-2.0")
DOCUMENT_SIZES = (5_000, 500_000)
FALLBACK_CHARS = 4_000
SUMMARY = (
    "The license lets anyone use, reproduce and distribute the work and derivative works in "
    "source or object form. Each contributor grants a perpetual, worldwide, royalty-free "
    "copyright license and a patent license, which ends for anyone who starts patent "
    "litigation over the work. Redistributions must carry a copy of the license, keep the "
    "copyright, patent and attribution notices, mark modified files, and pass on a NOTICE "
    "file. Contributions submitted for inclusion fall under the same terms unless stated "
    "otherwise. The license grants no rights to the licensor's trademarks. The work is "
    "provided as is, without warranties, and no contributor is liable for damages arising "
    "from its use, unless the law requires it or it was agreed in writing. Anyone "
    "redistributing the work may offer support or warranty for a fee, but only on their own "
    "behalf. The appendix shows how to apply the license: a boilerplate notice with the "
    "year and the owner's name in each file, in the comment syntax of the file format, and "
    "a pointer to the license text, which is available online from the foundation's site. "
    "Derivative works are original works of authorship based on the work, such as "
    "revisions, annotations and elaborations; a work that only links to the interfaces of "
    "the work is not one. A legal entity includes every entity that controls it, is "
    "controlled by it or is under common control with it, by contract or by owning half."
)


def prose() -> str:
    return APACHE.read_text() if APACHE.exists() else PARAGRAPH * 20


def document(chars: int) -> str:
    text = prose()
    return (text * (chars // len(text) + 1))[:chars]


@contextmanager
def one_core() -> Iterator[None]:
    """The process pinned to a single CPU while the block runs (Linux; elsewhere unpinned)."""
    if not hasattr(os, "sched_getaffinity"):
        yield
        return
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


def time_alignment(text: str, rounds: int) -> dict[str, Any]:
    summary = fit_to_limit(SUMMARY, LENGTH_CHARS[SummaryLength.LONG])
    sentences = split_sentences(summary)
    index_s, align_s = [], []
    with one_core():
        for _ in range(rounds):
            started = time.perf_counter()
            doc = DocumentIndex(text)  # never the cached one: the build is part of the cost
            built = time.perf_counter()
            found = [grounding.align(s, doc) for s in sentences]
            index_s.append(built - started)
            align_s.append(time.perf_counter() - built)
    total = [a + b for a, b in zip(index_s, align_s, strict=True)]
    return {
        "document_chars": len(text),
        "summary_chars": len(summary),
        "sentences": len(sentences),
        "supported": sum(s.supported for s in found),
        "index_s": round(min(index_s), 4),
        "align_s": round(min(align_s), 4),
        "total_s": round(min(total), 4),
        "total_median_s": round(median(total), 4),
    }


def bench_grounding(
    model_call: Callable[[str], float] | None, rounds: int, say: Callable[[str], None]
) -> dict[str, Any]:
    """`model_call(text)`: seconds one summarizing model call takes on `text` (None: the
    fallback is timed without its baseline)."""
    result: dict[str, Any] = {"alignment": []}
    for chars in DOCUMENT_SIZES:
        row = time_alignment(document(chars), rounds)
        say(f"grounding: {chars} chars aligned in {row['total_s']} s (one core)")
        result["alignment"].append(row)
    text = document(FALLBACK_CHARS)
    budget = LENGTH_CHARS[SummaryLength.LONG]
    fallback_s = []
    for _ in range(rounds):
        started = time.perf_counter()
        extractive.summarize(text, budget)
        fallback_s.append(time.perf_counter() - started)
    result["fallback_s"] = round(median(fallback_s), 4)
    result["fallback_chars"] = FALLBACK_CHARS
    if model_call is not None:
        calls = [model_call(text) for _ in range(3)]
        result["model_call_s"] = round(median(calls), 3)
        result["ratio"] = round(ratio(result["fallback_s"], result["model_call_s"]), 5)
        say(f"grounding: fallback {result['fallback_s']} s, one call {result['model_call_s']} s")
    return result

"""The fixed documents every benchmark uses: the same texts on every run and machine.

Texts are built from a fixed vocabulary with a seeded generator (no files to ship), in
several sizes. `unique()` prefixes a serial number so that each ingest request creates a new
document (the API answers a repeated text as a duplicate, without storing anything).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SEED = 20261122
_SUBJECTS = (
    "The committee",
    "The harbour authority",
    "A regional hospital",
    "The city council",
    "Our research team",
    "The supplier",
    "An independent auditor",
    "The maintenance crew",
    "The finance department",
    "A volunteer group",
)
_VERBS = (
    "reviewed",
    "postponed",
    "approved",
    "questioned",
    "published",
    "measured",
    "replaced",
    "summarised",
    "inspected",
    "funded",
)
_OBJECTS = (
    "the annual budget",
    "the new water treatment plan",
    "three bridge repairs",
    "the staffing report",
    "a pilot for electric buses",
    "the noise complaints from the port",
    "the library opening hours",
    "the results of the soil survey",
    "an upgrade of the ticket system",
    "the winter road maintenance contract",
)
_TAILS = (
    "after a long debate.",
    "because costs rose by twelve percent.",
    "and asked for a second opinion.",
    "ahead of the March deadline.",
    "despite objections from two members.",
    "with support from local businesses.",
    "once the weather improved.",
    "following last year's audit.",
    "to reduce delays for residents.",
    "and will report back in June.",
)


@dataclass(frozen=True)
class Document:
    name: str
    title: str
    text: str

    @property
    def chars(self) -> int:
        return len(self.text)

    def unique(self, serial: int | str) -> str:
        """The same text with a serial number in front: a new document each time."""
        return f"[{serial}] {self.text}"


def text_of(chars: int, seed: int = SEED) -> str:
    """About `chars` characters of plain sentences, in paragraphs, always the same."""
    rng = random.Random(seed * 1_000_003 + chars)
    sentences: list[str] = []
    size = 0
    while size < chars:
        sentence = " ".join(
            (rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS))
        )
        sentences.append(sentence)
        size += len(sentence) + 1
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


# Ingest: what the API stores and queues (no LLM involved): from a note to a long report.
INGEST_SIZES = {"500B": 500, "5KB": 5_000, "50KB": 50_000}
# Summaries: short enough for the tiny offline models to answer in seconds on two cores.
LLM_SIZES = {"300B": 300, "1KB": 1_000, "2.5KB": 2_500}


def documents(sizes: dict[str, int]) -> list[Document]:
    return [Document(name, f"Report {name}", text_of(chars)) for name, chars in sizes.items()]

"""Extraction in a child process whose memory and CPU the operating system bounds.

The parsers' own bounds (docsum.extract.bounds) refuse the bombs we know of; this is the
backstop for the ones we don't: whatever a parser does with a file, the kernel stops it at
`RLIMIT_AS` (address space, set to the child's size after its imports plus the memory limit,
so the limit is what the file may cost) and `RLIMIT_CPU`, and the parent kills it at a wall
clock limit. The child is a plain subprocess talking through pipes — Lambda has no /dev/shm,
so multiprocessing's queues and pools fail there — and answers one JSON line on stdout. Every
file kind goes through it, so a new format or OCR gets the same bounds by being in `extract`.

Protocol: the parent writes one JSON line (kind, limits) then the file's bytes to stdin.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

from docsum.domain.files import IMAGE_KINDS, FileKind
from docsum.extract.dispatch import extract
from docsum.extract.kinds import UnsupportedFileType, detect_kind
from docsum.extract.limits import Extracted, ExtractionFailed, ExtractionLimits
from docsum.platform.observability import logger

# Imported before the limits are set: a library's code is the child's baseline, not the
# file's cost. A kind not listed here imports its parsers under the limit.
_DETECTION = ("puremagic", "charset_normalizer")
# OCR's code (its language models load under the limit: they are the file's cost, ~100 MB).
_OCR = ("PIL.Image", "tesserocr")
PRELOAD: dict[FileKind, tuple[str, ...]] = {
    FileKind.PDF: ("pypdfium2", *_OCR),
    **{image: _OCR for image in IMAGE_KINDS},
    FileKind.DOCX: ("docx", "lxml.etree"),
    FileKind.EPUB: ("ebooklib.epub", "lxml.etree", "selectolax.lexbor"),
    FileKind.HTML: ("selectolax.lexbor", *_DETECTION),
    FileKind.MARKDOWN: ("markdown_it", "selectolax.lexbor", *_DETECTION),
    FileKind.TEXT: _DETECTION,
}
# A failure once the file had used this share of its memory is put down to the limit: a
# parser's refused allocation often surfaces as its own error (lxml: "unknown error").
_NEAR_THE_LIMIT = 0.8
# Interpreter start and imports, on top of the extraction's own deadline, before the wall
# clock kill: the child's deadline should fire first and name what it was reading.
STARTUP_ALLOWANCE_SECONDS = 10.0
_MB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    memory_bytes: int  # address space the file may add to the child's baseline
    cpu_seconds: int
    wall_seconds: float


@dataclass(frozen=True)
class Usage:
    peak_bytes: int  # the child's peak resident memory (VmHWM)
    baseline_bytes: int  # its resident memory once the parsers were imported


@dataclass(frozen=True)
class Sandboxed:
    extracted: Extracted
    usage: Usage


class SandboxFailed(ExtractionFailed):
    """The file cannot be read, or the extraction was stopped at a limit; `usage` is the
    child's memory when it could still say (None when it was killed)."""

    def __init__(self, reason: str, usage: Usage | None = None) -> None:
        super().__init__(reason)
        self.usage = usage


def extract_in_sandbox(
    data: bytes,
    limits: ExtractionLimits,
    sandbox: SandboxLimits,
    *,
    kind: FileKind | None = None,
    expected: FileKind | None = None,
    filename: str | None = None,
    declared_type: str | None = None,
) -> Sandboxed:
    """Detect the file's kind and extract its text (`detect_kind`, then `extract`) in a
    bounded child; a kind other than `expected` fails. `kind`: decided by the caller already
    (a web page's, from its served type), so the child does not detect it again. Raises
    `SandboxFailed` (the file's own problem, or the limit that stopped it) or
    `UnsupportedFileType`."""
    header = {
        "kind": kind.value if kind else None,
        "expected": expected.value if expected else None,
        "filename": filename,
        "declared_type": declared_type,
        "limits": asdict(limits),
        "memory_bytes": sandbox.memory_bytes,
        "cpu_seconds": sandbox.cpu_seconds,
    }
    # The child imports the same docsum as this process, wherever it was loaded from.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.Popen(
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        out, err = child.communicate(
            json.dumps(header).encode() + b"\n" + data, timeout=sandbox.wall_seconds
        )
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise SandboxFailed(f"extraction stopped: time limit {sandbox.wall_seconds:g} s") from None
    answer = _answer(out)
    if answer is None:
        raise _stopped(child.returncode, err, sandbox)
    usage = Usage(int(answer["peak_bytes"]), int(answer["baseline_bytes"]))
    logger.info(
        "extraction sandbox finished",
        extra={"peak_mb": usage.peak_bytes // _MB, "baseline_mb": usage.baseline_bytes // _MB},
    )
    match answer:
        case {"extracted": dict(fields)}:
            return Sandboxed(Extracted(**{**fields, "kind": FileKind(fields["kind"])}), usage)
        case {"unsupported": str(what)}:
            raise UnsupportedFileType(what)
        case {"failed": str(reason)}:
            raise SandboxFailed(reason, usage)
    raise SandboxFailed(f"extraction stopped: the extractor answered {sorted(answer)}", usage)


def _answer(out: bytes) -> dict[str, Any] | None:
    try:
        answer = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return answer if isinstance(answer, dict) else None


def _memory_limit(memory_bytes: int) -> str:
    return f"extraction stopped: memory limit {memory_bytes // _MB} MB"


def _stopped(returncode: int, stderr: bytes, sandbox: SandboxLimits) -> SandboxFailed:
    """The reason for a child that died without answering; its stderr goes to the log only."""
    logger.error(
        "extraction sandbox died",
        extra={"returncode": returncode, "stderr": stderr.decode(errors="replace")[-2000:]},
    )
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):  # soft, then hard RLIMIT_CPU
        return SandboxFailed(f"extraction stopped: CPU time limit {sandbox.cpu_seconds} s")
    if b"MemoryError" in stderr or b"bad_alloc" in stderr or b"Cannot allocate" in stderr:
        return SandboxFailed(_memory_limit(sandbox.memory_bytes))
    how = signal.Signals(-returncode).name if returncode < 0 else f"exit status {returncode}"
    return SandboxFailed(
        f"extraction stopped: the extractor crashed ({how}) "
        f"under its memory limit of {sandbox.memory_bytes // _MB} MB"
    )


def _status_bytes(field: str) -> int:
    """A `/proc/self/status` size (VmSize, VmPeak, VmRSS, VmHWM: kB) in bytes; per process
    image, so unlike `ru_maxrss` it does not carry the parent's peak over `exec`."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def _read(data: bytes, header: dict[str, Any]) -> Extracted:
    if header["kind"] is not None:
        return extract(data, FileKind(header["kind"]), ExtractionLimits(**header["limits"]))
    kind = detect_kind(data, filename=header["filename"], declared_type=header["declared_type"])
    expected = header["expected"]
    if expected is not None and kind != FileKind(expected):
        raise ExtractionFailed(
            f"the file that arrived is {kind.value}, not the declared {expected}"
        )
    return extract(data, kind, ExtractionLimits(**header["limits"]))


def main() -> None:
    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    expected = header["kind"] or header["expected"]
    for module in PRELOAD.get(FileKind(expected), _DETECTION) if expected else _DETECTION:
        importlib.import_module(module)
    memory = int(header["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would otherwise dump core
    cpu = int(header["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    address_space = _status_bytes("VmSize") + memory
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    baseline = _status_bytes("VmRSS")
    # From here on everything the file costs, its bytes included, is under the limits.
    answer: dict[str, Any]
    try:
        extracted = _read(stdin.read(), header)
        answer = {"extracted": {**asdict(extracted), "kind": extracted.kind.value}}
    except MemoryError:
        answer = {"failed": _memory_limit(memory)}
    except UnsupportedFileType as exc:
        answer = {"unsupported": exc.what}
    except ExtractionFailed as exc:
        near_the_limit = _status_bytes("VmPeak") >= address_space - memory * (1 - _NEAR_THE_LIMIT)
        answer = {"failed": _memory_limit(memory) if near_the_limit else str(exc)}
    answer |= {"peak_bytes": _status_bytes("VmHWM"), "baseline_bytes": baseline}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()

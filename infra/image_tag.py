"""The model-host image's tag, from its content: the Dockerfile, every file it COPYs and the
build arguments. An unchanged image keeps its tag, so `make deploy` finds it in ECR and neither
rebuilds nor pushes it, and the task definition (and with it every running host) stays as it
is; any change gives a new tag (the repository's tags are immutable)::

    python -m infra.image_tag OLLAMA_MODEL=gemma3:1b      # prints ctx-<20 hex digits>
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.template import REPO_ROOT

CONTEXT = REPO_ROOT / "ollama-host"


def copied_sources(dockerfile: str) -> list[str]:
    """The build-context paths the Dockerfile's COPY/ADD instructions read (not --from)."""
    text = re.sub(r"\\\n", " ", dockerfile)
    sources: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources += args[:-1]
    return sources


def content_tag(build_args: Mapping[str, str], context: Path = CONTEXT) -> str:
    dockerfile = (context / "Dockerfile").read_text()
    digest = hashlib.sha256()
    files = ["Dockerfile", *sorted(set(copied_sources(dockerfile)))]
    for name in files:
        paths = sorted(context.glob(name)) if any(c in name for c in "*?[") else [context / name]
        for path in paths:
            digest.update(f"{path.relative_to(context)}\0".encode())
            digest.update(path.read_bytes())
            digest.update(f"\0{path.stat().st_mode & 0o111:o}\0".encode())  # executable bits
    for key in sorted(build_args):
        digest.update(f"--build-arg {key}={build_args[key]}\0".encode())
    return f"ctx-{digest.hexdigest()[:20]}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any("=" not in arg for arg in args):
        sys.stderr.write(__doc__ or "")
        return 2
    print(content_tag(dict(arg.split("=", 1) for arg in args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

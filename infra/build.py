"""`sam build`, then bytecode for everything in the artifacts.

Lambda's code directory is read-only, so a module without a `.pyc` beside it is compiled from
source on every cold start (about half of the import time here). `sam build` ships none, so
the build compiles every module with the runtime's Python 3.12, in `unchecked-hash` mode: the
`.pyc` is used whatever timestamps the deployment package gives the sources.

`make build`, `make deploy`, the build-artifact tests and the cold-start bench all build here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from infra.template import REPO_ROOT

SAM = REPO_ROOT / ".tools" / "iac" / "bin" / "sam"
OFFLINE_SAM_ENV = {
    # Region, dummy credentials, no telemetry or update checks: building needs no network.
    "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
    "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    "SAM_CLI_TELEMETRY": "0",
    "SAM_CLI_DISABLE_UPDATE_CHECK": "1",
}


class BuildError(RuntimeError):
    pass


def python312() -> Path:
    """The runtime's interpreter: `sam build` (no container) runs pip with `python3.12` from
    PATH, and the bytecode must be what Lambda's Python 3.12 reads."""
    candidates = [Path(sys.executable)] if sys.version_info[:2] == (3, 12) else []
    candidates += sorted((Path.home() / ".pyenv" / "versions").glob("3.12*/bin/python3.12"))
    candidates += [Path("/usr/local/bin/python3.12"), Path("/usr/bin/python3.12")]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise BuildError("no python3.12 found (the Lambda runtime's version)")


def compile_bytecode(build_dir: Path) -> int:
    """Compile every module under `build_dir`; returns how many `.pyc` files exist after."""
    subprocess.run(
        [
            str(python312()),
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(build_dir),
        ],
        check=False,  # a vendored file that does not compile (test data, py2) is not ours
        capture_output=True,
    )
    return sum(1 for _ in build_dir.rglob("*.pyc"))


def build(build_dir: Path, cache_dir: Path | None = None, timeout: float = 900) -> Path:
    if not SAM.exists():
        raise BuildError(f"{SAM} is missing: `make tools` installs the IaC tools")
    runtime = python312()
    cmd = [str(SAM), "build", "--template-file", "template.yaml", "--build-dir", str(build_dir)]
    cmd += ["--parallel"]
    if cache_dir is not None:
        cmd += ["--cached", "--cache-dir", str(cache_dir)]
    env = {
        **os.environ,
        **OFFLINE_SAM_ENV,
        "PATH": f"{runtime.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise BuildError(f"sam build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    compile_bytecode(build_dir)
    return build_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / ".aws-sam" / "build")
    args = parser.parse_args(argv)
    try:
        build(args.build_dir, REPO_ROOT / ".aws-sam" / "cache")
    except BuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"built {args.build_dir} (with bytecode)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

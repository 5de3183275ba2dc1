"""Item 5: cold start of each handler from its `sam build` artifact, and the artifacts' sizes.

`sam build` (no container) writes each function's code directory and the layer's
`python/` directory; Lambda puts them on sys.path as /var/task and /opt/python. Each import
runs in a fresh `python3.12 -S -B` (no site-packages, no .pyc written: every run is as cold as
the first), with the function's environment from template.yaml and nothing else.

What the import defers, the first invocation pays: the same interpreter then builds the Tracer
(the X-Ray SDK) and makes every client the handler's wiring holds (boto3 clients, the model
host's client; `docsum.platform.lazy`), without any network call. That is an upper bound: a first
request makes only the clients it uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stats import median
from infra.build import SAM, build, python312
from infra.local.environment import DUMMY_AWS_ENV
from infra.local.processes import REPO_ROOT
from infra.template import FunctionSpec, Template, load_template

BASE_PYTHON = Path(os.environ.get("BENCH_PYTHON312", "") or python312())

# Import goals (ms) from the hardening issue: what a scale-out pays before the first request.
IMPORT_GOALS_MS = {"IngestFunction": 500, "SummarizeFunction": 300}

# Runs inside the clean interpreter: import the handler module the way the runtime does.
IMPORTER = r"""
import importlib, json, sys, time
started = time.perf_counter()
module_name, _, function_name = sys.argv[1].rpartition(".")
getattr(importlib.import_module(module_name), function_name)
imported = time.perf_counter()
# What the first invocation adds, in its order: the Tracer (and the X-Ray SDK), then the clients.
importlib.import_module("docsum.platform.observability").tracer()
traced = time.perf_counter()
made = importlib.import_module("docsum.platform.lazy").make_all_now()
print(json.dumps({"import_s": imported - started, "tracer_s": traced - imported,
                  "clients_s": time.perf_counter() - traced, "clients": made,
                  "modules": len(sys.modules)}))
"""


def sam_build(build_dir: Path) -> float:
    """`sam build` (with bytecode, as `make deploy` ships it) into `build_dir`; seconds taken."""
    started = time.perf_counter()
    build(build_dir, REPO_ROOT / ".aws-sam" / "cache-bench")
    return time.perf_counter() - started


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _zip_bytes(path: Path, scratch: Path) -> int:
    target = scratch / f"{path.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(path))
    size = target.stat().st_size
    target.unlink()
    return size


def _environment(function: FunctionSpec, paths: list[Path]) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **DUMMY_AWS_ENV}
    for name, value in function.environment.items():
        # Refs to resources: any name will do, the import makes no AWS call.
        env[name] = value if isinstance(value, str) else f"bench-{value.get('Ref', 'x').lower()}"
    env.update(
        {
            "OLLAMA_HOST": "http://127.0.0.1:9",
            "API_TOKEN": "bench",
            "API_TOKEN_PARAMETER": "",
            "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
            "LAMBDA_TASK_ROOT": str(paths[0]),
            "_HANDLER": function.handler,
            "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        }
    )
    return env


def measure_import(function: FunctionSpec, paths: list[Path], runs: int) -> dict[str, Any]:
    imports, tracers, clients, processes, modules, made = [], [], [], [], 0, 0
    env = _environment(function, paths)
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [str(BASE_PYTHON), "-S", "-B", "-c", IMPORTER, function.handler],
            env=env,
            cwd=tempfile.gettempdir(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        processes.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"importing {function.handler} failed:\n{result.stderr[-3000:]}")
        report = json.loads(result.stdout.strip().splitlines()[-1])
        imports.append(float(report["import_s"]))
        tracers.append(float(report["tracer_s"]))
        clients.append(float(report["clients_s"]))
        modules, made = int(report["modules"]), int(report["clients"])
    return {
        "runs": runs,
        "import_ms_median": round(median(imports) * 1000, 1),
        "import_ms_min": round(min(imports) * 1000, 1),
        "first_trace_ms_median": round(median(tracers) * 1000, 1),
        "first_use_clients_ms_median": round(median(clients) * 1000, 1),
        "clients_made_on_first_use": made,
        "first_invocation_adds_ms_median": round(
            median([t + c for t, c in zip(tracers, clients, strict=True)]) * 1000, 1
        ),
        "process_ms_median": round(median(processes) * 1000, 1),
        "modules_loaded": modules,
    }


def bench_coldstart(runs: int, say: Callable[[str], None]) -> dict[str, Any]:
    if not SAM.exists():
        raise RuntimeError(f"{SAM} is missing: `make tools` installs the IaC tools")
    if not BASE_PYTHON.exists():
        raise RuntimeError(f"no python3.12 at {BASE_PYTHON} (set BENCH_PYTHON312)")
    template: Template = load_template()
    with tempfile.TemporaryDirectory(prefix="bench-sam-") as tmp:
        build_dir, scratch = Path(tmp) / "build", Path(tmp) / "zips"
        scratch.mkdir()
        build_seconds = sam_build(build_dir)
        say(f"sam build: {build_seconds:.1f}s")
        sizes: dict[str, dict[str, int]] = {}
        functions: dict[str, Any] = {}
        for logical_id in template.logical_ids("AWS::Serverless::Function"):
            function = template.function(logical_id)
            parts = [build_dir / logical_id]
            parts += [build_dir / layer.logical_id for layer in function.layers]
            for part in parts:
                if part.name not in sizes:
                    sizes[part.name] = {
                        "unzipped_bytes": _dir_bytes(part),
                        "zipped_bytes": _zip_bytes(part, scratch),
                    }
            paths = [parts[0]] + [p / "python" for p in parts[1:]]
            result = measure_import(function, paths, runs)
            result["artifact"] = {
                "code": sizes[logical_id],
                "layers": [layer.logical_id for layer in function.layers],
                "total_unzipped_bytes": sum(sizes[p.name]["unzipped_bytes"] for p in parts),
                "total_zipped_bytes": sum(sizes[p.name]["zipped_bytes"] for p in parts),
            }
            functions[logical_id] = result
            say(
                f"cold start {logical_id}: import {result['import_ms_median']} ms "
                f"(process {result['process_ms_median']} ms), first invocation "
                f"+{result['first_invocation_adds_ms_median']} ms, "
                f"{result['artifact']['total_unzipped_bytes'] / 1e6:.1f} MB unzipped"
            )
    return {
        "python": str(BASE_PYTHON),
        "sam_build_s": round(build_seconds, 1),
        "artifacts": sizes,
        "functions": functions,
    }

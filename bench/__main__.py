"""`make bench` (`python -m bench`): the performance claims of issue 7, as ratios measured side
by side in one run, printed as a table and written to bench/results/<date>.json and .md.

1. ingest      POST /documents at concurrency 1, 8, 32 vs the raw boto3 calls (goal >= 0.8)
2. overhead    POST -> done vs a direct `ollama` client call, same call (goal <= 1.05)
3. concurrency N documents, consumer at MaximumConcurrency k, vs k parallel calls (<= 1.10)
4. duplicates  repeated identical POSTs: latency and LLM calls caused (must be 0)
5. coldstart   handler import time from the `sam build` artifact, artifact sizes
6. extraction  file extraction (PDF, DOCX, HTML, OCR of scans) vs the fastest library called
               directly: pypdf or pypdfium2, python-docx, selectolax, Tesseract (>= 0.9);
               a web page by URL (policy, pinned GET, extraction) vs a plain HTTP GET of it
7. backlog     a dozen documents (some long) at once to a host with k slots made slow on
               purpose: model time thrown away (0), timeouts (0), last done vs ideal (<= 1.15)
8. grounding   aligning a 1,500-char summary to 5,000 / 500,000 chars on one core (< 1 s);
               the extractive fallback vs one model call on the same text (<= 0.01)

Items 1 runs its own moto server and API (same command and environment as the stack's) with
no consumer, so no summarization competes for the cores; items 2-4 and 8 run on the embedded
stack (`python -m infra.local`) with its offline LLM host; item 7 on another embedded stack
whose host is slowed down. `--quick` runs fewer requests and rounds.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docsum.platform.settings import Settings

from bench import backlog, coldstart, extraction, grounding, ingest, pipeline
from bench.report import (
    BENCH_PAGE,
    console_table,
    git_revision,
    machine,
    update_docs,
    write_results,
)
from infra.local.harness import api_over_moto, maximum_concurrency, start_stack
from infra.local.processes import REPO_ROOT, free_port

ITEMS = (
    "ingest",
    "overhead",
    "concurrency",
    "duplicates",
    "coldstart",
    "extraction",
    "backlog",
    "grounding",
)
ON_STACK = {"overhead", "concurrency", "duplicates", "grounding"}


def say(message: str) -> None:
    print(f"bench | {message}", flush=True)


def run_ingest(quick: bool, work: Path) -> dict[str, Any]:
    plan = ingest.QUICK if quick else ingest.FULL
    token = secrets.token_urlsafe(16)
    # The bench empties the queue after every batch (see Boto3Sequence.empty_queue).
    purge = {"MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}
    # With no consumer, the one client would hold its whole share of the queue after 20 posts
    # and every later one would be a 429: the share is off here (its query is then skipped too).
    no_share = {"MAX_ACTIVE_DOCUMENTS_PER_CLIENT": "0", "MAX_ACTIVE_CHARS_PER_CLIENT": "0"}
    with api_over_moto(work, token, visibility_timeout=3600, moto_env=purge, extra=no_share) as (
        moto,
        res,
        api,
    ):
        say(f"ingest: API {api.url} over moto {moto.url}")
        return ingest.bench_ingest(api.url, token, moto.url, res, plan, say)


def run_on_stack(
    wanted: set[str], quick: bool, model: str, work: Path, results: dict[str, Any]
) -> None:
    plan = pipeline.QUICK if quick else pipeline.FULL
    options = pipeline.LlmOptions()
    env = {
        **options.environment(),
        # Nothing answers there, so the stack starts its own offline host (never a stray one).
        "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",
        "API_TOKEN": secrets.token_urlsafe(16),
    }
    args = ["--llm-model", model, "--visibility-timeout", "120"]
    say(f"starting the embedded stack ({model}); the LLM host loads its model first")
    with start_stack(work / "stack", env, args) as stack:
        say(f"stack up: API {stack.api_url}, LLM {stack.info['ollama_model']}")
        results["llm"] = (
            f"{stack.info['ollama_model']} (offline host), num_predict {options.num_predict}, "
            f"seed {options.seed}, temperature {options.temperature}"
        )
        settings = Settings(
            llm_num_predict=options.num_predict,
            llm_seed=options.seed,
            llm_temperature=options.temperature,
        )
        direct = pipeline.Direct(stack.info["ollama_host"], stack.info["ollama_model"], settings)
        flow = pipeline.Pipeline(stack)
        # Warm both paths once (model contexts, the poller's execution environments).
        warm = f"warm-up {secrets.token_hex(4)}: the committee approved the budget."
        direct.chat(direct.call_for(warm, None))
        flow.wait_done([flow.post(warm + " (pipeline)", None)[1]])
        flow.settle()
        k = maximum_concurrency()
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "overhead": lambda: pipeline.bench_overhead(flow, direct, plan, say),
            "concurrency": lambda: pipeline.bench_concurrency(flow, direct, k, plan, say),
            "duplicates": lambda: pipeline.bench_duplicates(flow, plan, say),
            "grounding": lambda: grounding.bench_grounding(
                lambda text: direct.chat(direct.call_for(text, None)).seconds,
                3 if quick else 7,
                say,
            ),
        }
        for name, step in steps.items():
            if name in wanted:
                results["items"][name] = guarded(name, step)


def run_backlog(quick: bool, model: str, work: Path) -> dict[str, Any]:
    plan = backlog.QUICK if quick else backlog.FULL
    env = {
        **pipeline.LlmOptions().environment(),
        **backlog.environment(plan),
        "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",  # nothing there: its own host
        "API_TOKEN": secrets.token_urlsafe(16),
    }
    say(f"starting the embedded stack for the backlog ({model}, +{plan.token_delay}s a token)")
    with start_stack(work / "backlog-stack", env, ["--llm-model", model]) as stack:
        k = int(stack.info["model_host_slots"])
        return backlog.bench_backlog(stack, plan, k, say)


def guarded(name: str, step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One item's results, or its error: a failed item must not lose the others."""
    started = time.perf_counter()
    try:
        result = step()
    except Exception as exc:
        traceback.print_exc()
        say(f"{name} FAILED: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    parser.add_argument(
        "--only",
        default=",".join(ITEMS),
        help=f"comma-separated items to run (default all: {','.join(ITEMS)})",
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("OFFLINE_OLLAMA_MODEL", "smollm2:135m"),
        help="model of the stack's offline LLM host (default smollm2:135m, the smallest)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "bench" / "results", help="results directory"
    )
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="leave docs/benchmarks.md alone (default: the table goes after its BENCH mark)",
    )
    args = parser.parse_args(argv)
    wanted = {item.strip() for item in args.only.split(",") if item.strip()}
    unknown = wanted - set(ITEMS)
    if unknown:
        parser.error(f"unknown items: {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "git": git_revision(),
        "items": {},
    }
    say(f"machine: {results['machine']['cpu_model']}, {results['machine']['cores']} cores")
    with tempfile.TemporaryDirectory(prefix="docsum-bench-") as tmp:
        work = Path(tmp)
        if "ingest" in wanted:
            results["items"]["ingest"] = guarded("ingest", lambda: run_ingest(args.quick, work))
        on_stack = wanted & ON_STACK
        if on_stack:
            try:
                run_on_stack(on_stack, args.quick, args.model, work, results)
            except Exception as exc:  # the stack itself did not start or stop
                traceback.print_exc()
                for name in on_stack - set(results["items"]):
                    results["items"][name] = {"error": f"stack: {type(exc).__name__}: {exc}"}
        if "coldstart" in wanted:
            runs = 3 if args.quick else 7
            results["items"]["coldstart"] = guarded(
                "coldstart", lambda: coldstart.bench_coldstart(runs, say)
            )
        if "extraction" in wanted:
            rounds = 3 if args.quick else 9
            results["items"]["extraction"] = guarded(
                "extraction", lambda: extraction.bench_extraction(rounds, say)
            )
            results["items"]["page"] = guarded("page", lambda: extraction.bench_page(rounds, say))
        if "backlog" in wanted:
            results["items"]["backlog"] = guarded(
                "backlog", lambda: run_backlog(args.quick, args.model, work)
            )
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)

    print()
    print(console_table(results))
    json_path, md_path = write_results(results, args.out)
    say(f"wrote {json_path} and {md_path.name} in {results['seconds']}s")
    if not args.no_docs:
        page = BENCH_PAGE.relative_to(REPO_ROOT)
        if update_docs(results):
            say(f"{page}: results table updated")
        else:
            say(f"{page} has no <!-- BENCH --> placeholder: not updated")
    failed = [name for name, item in results["items"].items() if "error" in item]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

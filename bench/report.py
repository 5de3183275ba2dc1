"""The machine, the results table (console and markdown) and the files in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.coldstart import IMPORT_GOALS_MS
from infra.local.processes import REPO_ROOT

# The docs page whose `<!-- BENCH -->` block holds the latest run's table.
BENCH_PAGE = REPO_ROOT / "docs" / "benchmarks.md"


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = match.group(1).strip() if match else ""
    memory_gib = 0.0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        memory_gib = round(int(match.group(1)) / 1024**2, 1) if match else 0.0
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "-s"))}


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}{suffix}"
    return f"{value}{suffix}"


def _verdict(value: float | None, goal: str) -> str:
    if value is None:
        return "-"
    bound = float(goal[2:])
    ok = value >= bound if goal.startswith(">=") else value <= bound
    return "yes" if ok else "NO"


def _claim(measure: str, ours: str, theirs: str, value: float, goal: str) -> list[str]:
    """A row whose ratio is checked against its goal."""
    return [measure, ours, theirs, _fmt(value), goal, _verdict(value, goal)]


def rows(results: dict[str, Any]) -> list[list[str]]:
    """Measure | docsum | baseline | ratio | goal | met."""
    table: list[list[str]] = []
    items = results["items"]
    ingest = items.get("ingest", {})
    for concurrency, row in ingest.get("by_concurrency", {}).items():
        api, raw = row["api"], row["boto3"]
        table.append(
            _claim(
                f"1. POST /documents, c={concurrency}",
                f"{api['throughput_per_s']}/s p50 {api['p50_ms']} p99 {api['p99_ms']} ms",
                f"boto3 {raw['throughput_per_s']}/s p50 {raw['p50_ms']} p99 {raw['p99_ms']} ms",
                row["ratio"],
                ">= 0.8",
            )
        )
    overhead = items.get("overhead", {})
    if "ratio" in overhead:
        table.append(
            _claim(
                f"2. POST -> done, {len(overhead['documents'])} docs one at a time",
                f"{overhead['pipeline_total_s']} s",
                f"ollama client {overhead['direct_total_s']} s",
                overhead["ratio"],
                "<= 1.05",
            )
        )
    k = items.get("concurrency", {})
    if "ratio" in k:
        table.append(
            _claim(
                f"3. {k['documents']} docs of {k['document']}, MaximumConcurrency k={k['k']}",
                f"{k['pipeline_s']} s ({k['pipeline_docs_per_min']}/min, "
                f"{k.get('pipeline_calls', '?')} model calls)",
                f"{k['documents']} calls, {k['k']} at a time: {k['direct_s']} s "
                f"({k['direct_docs_per_min']}/min)",
                k["ratio"],
                "<= 1.10",
            )
        )
    duplicates = items.get("duplicates", {})
    if "repeated_posts" in duplicates:
        repeated = duplicates["repeated_posts"]
        burst = duplicates["concurrent_burst"]
        caused = duplicates["llm_calls_caused_by_duplicates"]
        table.append(
            [
                f"4. {repeated['count']} repeated POSTs + burst of {burst['count']}",
                f"p50 {repeated['p50_ms']} p99 {repeated['p99_ms']} ms",
                f"LLM calls caused: {caused}",
                "-",
                "0 calls",
                "yes" if caused == 0 else "NO",
            ]
        )
    coldstart = items.get("coldstart", {})
    for name, function in coldstart.get("functions", {}).items():
        artifact = function["artifact"]
        goal = IMPORT_GOALS_MS.get(name)
        table.append(
            [
                f"5. cold start {name}",
                f"import {function['import_ms_median']} ms "
                f"(process {function['process_ms_median']} ms); the first invocation adds "
                f"{function.get('first_trace_ms_median', '?')} ms (Tracer) + "
                f"{function.get('first_use_clients_ms_median', '?')} ms "
                f"(clients: {function.get('clients_made_on_first_use', '?')})",
                f"{artifact['total_unzipped_bytes'] / 1e6:.1f} MB unzipped, "
                f"{artifact['total_zipped_bytes'] / 1e6:.1f} MB zipped",
                "-",
                f"import ≤ {goal} ms" if goal else "-",
                ("yes" if function["import_ms_median"] <= goal else "NO") if goal else "-",
            ]
        )
    for kind, entry in items.get("extraction", {}).get("formats", {}).items():
        pages = f", {entry['docsum_pages_per_s']} pages/s" if "docsum_pages_per_s" in entry else ""
        direct_pages = (
            f", {entry['direct_pages_per_s']} pages/s" if "direct_pages_per_s" in entry else ""
        )
        table.append(
            _claim(
                f"6. extraction {kind}, {entry['bytes'] / 1e6:.2f} MB",
                f"{entry['docsum_mb_per_s']} MB/s{pages}",
                f"{entry.get('library', 'library')} directly "
                f"{entry['direct_mb_per_s']} MB/s{direct_pages}",
                entry["ratio"],
                ">= 0.9",
            )
        )
    page = items.get("page", {})
    if "docsum_s" in page:
        table.append(
            [
                f"6. page by URL, {page['bytes'] / 1e6:.2f} MB of HTML",
                f"fetch + extraction {page['docsum_s'] * 1000:.1f} ms",
                f"plain HTTP GET {page['get_s'] * 1000:.1f} ms",
                f"{page['ratio']}",
                "- (reported)",
                "-",
            ]
        )
    b = items.get("backlog", {})
    if "ratio" in b:
        clean = b["thrown_away_seconds"] == 0 and b["timeouts"] == 0
        table.append(
            [
                f"7. backlog: {b['documents']} docs ({b['long']} long) at once, k={b['k']} "
                f"slots, +{b['token_delay_s']:g} s/token",
                f"last done {b['last_done_s']} s; thrown away {b['thrown_away_seconds']} of "
                f"{b['model_seconds']} model-s; {b['timeouts']} timeouts"
                + (f"; {len(b['failed'])} failed by the guard" if b.get("failed") else ""),
                f"ideal (model-s / k) {b['ideal_s']} s",
                _fmt(b["ratio"]),
                "<= 1.15, 0 thrown, 0 timeouts",
                "yes" if clean and _verdict(b["ratio"], "<= 1.15") == "yes" else "NO",
            ]
        )
    found = items.get("grounding", {})
    for row in found.get("alignment", []):
        table.append(
            _claim(
                f"8. align {row['summary_chars']} chars to {row['document_chars']} chars, one core",
                f"{row['total_s']} s (index {row['index_s']} s, align {row['align_s']} s)",
                "-",
                row["total_s"],
                "<= 1",
            )
        )
    if "ratio" in found:
        table.append(
            _claim(
                f"8. extractive fallback, {found['fallback_chars']} chars",
                f"{found['fallback_s']} s",
                f"one model call {found['model_call_s']} s",
                found["ratio"],
                "<= 0.01",
            )
        )
    for name, item in items.items():
        if "error" in item:
            table.append([f"{name}: FAILED", item["error"][:120], "", "", "", ""])
    return table


HEADER = ["measure", "docsum", "baseline", "ratio", "goal", "met"]


def console_table(results: dict[str, Any]) -> str:
    table = [HEADER, *rows(results)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    head = (
        f"Benchmarks of {results['started_at']} ({'quick' if results['quick'] else 'full'} run, "
        f"commit {results['git']['commit']}{' + local changes' if results['git']['dirty'] else ''}"
        f"): {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}; "
        f"load average at start {m['load_average_at_start']}. LLM: {results.get('llm', '-')}. "
        "Ratios compare the two sides measured side by side in this run; absolute times vary "
        "between runs on shared machines."
    )
    table = [HEADER, ["---"] * len(HEADER), *rows(results)]
    lines = ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in table]
    return head + "\n\n" + "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """bench/results/<date>.json and .md, written whole (tmp file, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    suffix = "-quick" if results["quick"] else ""
    paths = (out_dir / f"{stamp}{suffix}.json", out_dir / f"{stamp}{suffix}.md")
    for path, text in zip(
        paths, (json.dumps(results, indent=2) + "\n", markdown(results)), strict=True
    ):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return paths


def update_docs(results: dict[str, Any], page: Path = BENCH_PAGE) -> bool:
    """Put the table after the benchmarks page's `<!-- BENCH -->` placeholder (replacing the one
    a previous run put there, up to `<!-- /BENCH -->`); False if the page has no placeholder."""
    return replace_block(page, "BENCH", markdown(results))


def replace_block(page: Path, name: str, content: str) -> bool:
    """`content` between `<!-- NAME -->` and `<!-- /NAME -->` (or after the opening marker
    alone); False if the file or the marker is missing."""
    if not page.exists():
        return False
    opening, closing = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = page.read_text()
    begin = text.find(opening)
    if begin < 0:
        return False
    end = text.find(closing, begin)
    after = text[end + len(closing) :] if end >= 0 else text[begin + len(opening) :]
    body = content if content.endswith("\n") else content + "\n"
    page.write_text(text[:begin] + f"{opening}\n{body}{closing}" + after)
    return True

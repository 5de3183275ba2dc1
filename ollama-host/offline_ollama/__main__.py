"""Command line: ``python -m offline_ollama`` (console script ``offline-ollama``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from types import FrameType

# llama.cpp's OpenMP workers spin between tokens by default. On a small shared machine that
# steals the cores other processes need and, under load, collapses llama.cpp's own speed
# (measured here: 2 threads fell from ~60 to ~7 tok/s). Must be set before cyllama is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import __version__
from .engine import default_threads
from .models import PRODUCTION_MODEL, ModelNotAvailable, resolve
from .scheduler import Runner, Scheduler, parse_keep_alive
from .server import IDLE_TIMEOUT_SECONDS, MAX_BODY_BYTES, MAX_CONNECTIONS, OllamaHTTPServer


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def build_parser() -> argparse.ArgumentParser:
    env_models = [m for m in os.environ.get("OFFLINE_OLLAMA_MODEL", "").split(",") if m.strip()]
    p = argparse.ArgumentParser(
        prog="offline-ollama",
        description="Serve small GGUF models over Ollama's REST API (stand-in for gemma3:1b).",
    )
    p.add_argument("--host", default=os.environ.get("OFFLINE_OLLAMA_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=_env_int("OFFLINE_OLLAMA_PORT", 11434))
    p.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME|NAME=PATH|PATH",
        help="smollm2:135m, gemma3:270m, NAME=/path/file.gguf or a .gguf path; repeatable "
        "(env OFFLINE_OLLAMA_MODEL, comma-separated; default smollm2:135m)",
    )
    p.add_argument(
        "--slots",
        type=int,
        default=_env_int("OFFLINE_OLLAMA_SLOTS", 1),
        help="parallel generations per model, like OLLAMA_NUM_PARALLEL (default 1)",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=_env_int("OFFLINE_OLLAMA_MAX_QUEUE", 16),
        help="requests allowed to wait for a slot; beyond it 503, like OLLAMA_MAX_QUEUE",
    )
    p.add_argument(
        "--num-ctx",
        type=int,
        default=_env_int("OFFLINE_OLLAMA_NUM_CTX", 4096),
        help="context window when a request gives no num_ctx (Ollama's default: 4096)",
    )
    p.add_argument(
        "--keep-alive",
        default=os.environ.get("OFFLINE_OLLAMA_KEEP_ALIVE", "5m"),
        help="default keep_alive (Ollama duration, -1 = forever; default 5m)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=_env_int("OFFLINE_OLLAMA_THREADS", default_threads()),
        help="CPU threads for llama.cpp, shared by the slots (default: all usable cores)",
    )
    p.add_argument(
        "--shutdown-grace",
        type=float,
        default=float(os.environ.get("OFFLINE_OLLAMA_SHUTDOWN_GRACE", "10")),
        help="seconds in-flight requests get to finish on SIGTERM before they are aborted",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=_env_int("OFFLINE_OLLAMA_MAX_CONNECTIONS", MAX_CONNECTIONS),
        help=f"open connections served at once; beyond it 503 (default {MAX_CONNECTIONS})",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=float(os.environ.get("OFFLINE_OLLAMA_IDLE_TIMEOUT", IDLE_TIMEOUT_SECONDS)),
        help="seconds a connection may stay silent (default %(default)s)",
    )
    p.add_argument(
        "--max-body",
        type=int,
        default=_env_int("OFFLINE_OLLAMA_MAX_BODY", MAX_BODY_BYTES),
        help="largest request body in bytes; beyond it 413 (default %(default)s)",
    )
    p.add_argument(
        "--token-delay",
        type=float,
        default=float(os.environ.get("OFFLINE_OLLAMA_TOKEN_DELAY", "0")),
        help="seconds added to every generated token: a slow host on purpose, for benchmarks "
        "and tests of a backlog (env OFFLINE_OLLAMA_TOKEN_DELAY; default 0)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-request log lines")
    p.add_argument("--version", action="version", version=f"offline-ollama {__version__}")
    p.set_defaults(env_models=env_models)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    entries = args.models or args.env_models or ["smollm2:135m"]
    if args.slots < 1 or args.max_queue < 0:
        print("offline-ollama: --slots must be >= 1 and --max-queue >= 0", file=sys.stderr)
        return 2
    keep_alive = parse_keep_alive(args.keep_alive, 300.0)
    try:
        runners = {}
        for entry in entries:
            spec = resolve(entry)
            runners[spec.name] = Runner(spec, args.slots, args.threads, keep_alive)
        scheduler = Scheduler(runners, args.max_queue)
        for runner in runners.values():  # load now, so the first request is not a cold start
            scheduler.enter(runner)
            scheduler.leave(runner, keep_alive)
    except (ModelNotAvailable, ValueError, RuntimeError, OSError) as exc:
        print(f"offline-ollama: {exc}", file=sys.stderr)
        return 2

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        server = OllamaHTTPServer(
            (args.host, args.port),
            scheduler,
            args.num_ctx,
            log,
            max_body_bytes=args.max_body,
            idle_timeout=args.idle_timeout,
            max_connections=args.max_connections,
            token_delay=args.token_delay,
        )
    except OSError as exc:
        print(f"offline-ollama: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = args.host, server.server_port
    served = ", ".join(f"{r.spec.name} ({r.spec.description})" for r in runners.values())
    print(
        f"offline-ollama {__version__} listening on http://{host}:{port} serving {served}; "
        f"slots={args.slots} max_queue={args.max_queue} threads={args.threads} "
        f"num_ctx={args.num_ctx} token_delay={args.token_delay:g}s. "
        f"Stand-in for {PRODUCTION_MODEL}: this is NOT {PRODUCTION_MODEL}.",
        flush=True,
    )

    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():  # second signal: abort what is still running
            server.scheduler.aborting = True
            return
        stopping.set()
        print(f"offline-ollama: {signal.Signals(signum).name}, shutting down", flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        started = time.monotonic()
        clean = server.drain(args.shutdown_grace)
        server.server_close()
        print(
            f"offline-ollama: stopped in {time.monotonic() - started:.1f}s "
            f"({'all requests finished' if clean else 'in-flight requests aborted'})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

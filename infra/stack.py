"""The whole pipeline on this machine, no Docker: ``make up`` (``python -m infra.stack``).

Parts, each a child process whose output is shown with a prefix (and kept in
``<state-dir>/<part>.log``):

* ``moto``   - a moto server on loopback (S3, SQS, DynamoDB over real HTTP). Skipped when
  ``AWS_ENDPOINT_URL`` is set: then that endpoint (LocalStack, or any moto) must answer.
* ``llm``    - the offline Ollama-compatible host (``ollama-host/``) with a small bundled model.
  Skipped when an Ollama already answers at ``OLLAMA_HOST`` (default http://127.0.0.1:11434).
* ``api``    - the ingest FastAPI app under uvicorn (the same ``ingest_handler.app`` Lambda runs).
* ``poller`` - :mod:`infra.poller`, the SQS event source mapping calling the real summarize
  handler.

The bucket, table and queues are created from template.yaml (:mod:`infra.bootstrap`). Each
function process gets its template environment (your environment overrides template values,
e.g. ``LLM_NUM_PREDICT=96``), with the resource names, endpoint, dummy credentials, LLM host and
model, and API token set by the stack. ``API_TOKEN`` unset: one is generated; set but empty:
auth is off.

Metrics: the functions print CloudWatch EMF lines on stdout; the stack reads them as CloudWatch
would, sums them, and serves Prometheus text at ``http://127.0.0.1:METRICS_PORT/metrics``.

Readiness, for scripts and tests: once the API answers ``/health``, ``<state-dir>/stack.json``
(mode 0600) holds the URLs, token, resources and child processes; it is removed at shutdown.
Running ``make up`` again while a stack runs from the same state directory prints that stack and
exits 0.

Ctrl-C (SIGINT) or SIGTERM stops the parts in order (api, poller, llm, moto), each given time to
finish; a second signal kills what is left.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from infra.bootstrap import LocalResources, create_resources
from infra.poller import LONG_POLL_SECONDS, die_with_parent
from infra.template import REPO_ROOT, Template, load_template

REGION = "us-east-1"
LOOPBACK = "127.0.0.1"
INGEST_FUNCTION = "IngestFunction"
SUMMARIZE_FUNCTION = "SummarizeFunction"
# The ASGI app inside the ingest handler's module (Lambda uses its `handler`, uvicorn its `app`).
ASGI_APP = "app"
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
# moto's werkzeug access lines for answered requests ("POST / HTTP/1.1" 200 -).
_ROUTINE_MOTO_LINE = re.compile(r'HTTP/1\.1" [23]\d\d -$')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # moto's werkzeug colours its lines even into a pipe


class StartupError(RuntimeError):
    pass


# ------------------------------------------------------------------------------- environments


def function_environment(
    template: Template,
    logical_id: str,
    values: Mapping[str, str],
    inherited: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A function's environment for a local process: template.yaml's literal values and
    parameter defaults, overridden by ``inherited`` (the caller's environment), overridden by
    ``values`` (what the local stack decides: resource names, endpoint, LLM, token)."""
    declared = template.function(logical_id).environment
    env = {k: v for k, v in declared.items() if isinstance(v, str)}
    env.update(inherited or {})
    env.update(values)
    unfilled = sorted(k for k in declared if k not in env)
    if unfilled:  # a new !Ref in the template that the local stack does not know how to fill
        raise StartupError(f"{logical_id}: no local value for {', '.join(unfilled)}")
    return env


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """Point boto3 at the emulator with dummy credentials: never a real AWS account."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata probe for credentials
        **DUMMY_CREDENTIALS,
    }


def local_function_env(
    template: Template,
    logical_id: str,
    *,
    resources: LocalResources,
    endpoint_url: str,
    ollama_host: str,
    token: str,
    inherited: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A function's environment on the local stack: the template's, then ``inherited``, then
    what differs locally (resources, endpoint, LLM host, token), then ``extra``."""
    values = {
        **resources.environment(),
        **aws_environment(endpoint_url),
        "OLLAMA_HOST": ollama_host,
        "API_TOKEN": token,
        # Locally the tokens come from API_TOKEN: there is no SSM parameter to read.
        "API_TOKEN_PARAMETER": "",
        # uvicorn serves at /: there is no API Gateway stage prefix (/v1) to account for.
        "API_ROOT_PATH": "",
        # Logs reach the console as they are written, not when a buffer fills.
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }
    return function_environment(template, logical_id, values, inherited)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def is_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


def normalize_ollama_host(value: str) -> str:
    """``OLLAMA_HOST`` as the ollama client reads it (``host``, ``host:port``, URL) -> URL."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    host = parts.hostname or LOOPBACK
    host = LOOPBACK if host == "0.0.0.0" else host  # a bind address, not one to connect to
    return f"{parts.scheme}://{host}:{parts.port or 11434}"


def http_get(url: str, timeout: float = 2.0) -> bytes | None:
    """Body of a 200 answer, or None if nothing (healthy) answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our URLs
            return bytes(response.read()) if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def aws_answers(endpoint_url: str) -> bool:
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )
    try:
        sqs.list_queues()
    except Exception:
        return False
    return True


# ------------------------------------------------------------------------------------ metrics


_UNIT_SUFFIX = {"Seconds": "seconds", "Milliseconds": "milliseconds", "Bytes": "bytes"}


def prometheus_name(namespace: str, name: str, unit: str) -> str:
    """``Docsum`` + ``LLMErrors_unreachable`` (Count) -> ``docsum_llm_errors_unreachable_total``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", f"{namespace}_{name}")
    base = re.sub(r"[^a-zA-Z0-9_]+", "_", snake).lower().strip("_")
    if unit == "Count":
        return f"{base}_total"
    suffix = _UNIT_SUFFIX.get(unit)
    return f"{base}_{suffix}" if suffix and not base.endswith(suffix) else base


def split_emf(line: str) -> tuple[list[dict[str, Any]], str]:
    """EMF objects (JSON with an ``_aws`` key) in one output line, and the rest of the line.

    Normally a line is one JSON object. Two threads printing at once can glue a metrics line to
    a log line, so successive objects are decoded rather than the whole line."""
    if '"_aws"' not in line:
        return [], line
    decoder = json.JSONDecoder()
    blobs: list[dict[str, Any]] = []
    rest: list[str] = []
    position = 0
    while (start := line.find("{", position)) >= 0:
        rest.append(line[position:start])
        try:
            obj, position = decoder.raw_decode(line, start)
        except ValueError:
            position = start
            break
        if isinstance(obj, dict) and "_aws" in obj:
            blobs.append(obj)
        else:
            rest.append(line[start:position])
    rest.append(line[position:])
    return blobs, "".join(rest).strip()


@dataclass
class _Series:
    kind: str  # "counter" or "summary"
    help: str
    total: float = 0.0
    count: int = 0


class EmfMetrics:
    """Sums of EMF values per metric and dimension set, rendered as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], _Series] = {}

    def add(self, blob: Mapping[str, Any]) -> None:
        for directive in blob["_aws"].get("CloudWatchMetrics", []):
            namespace = str(directive.get("Namespace", ""))
            keys = sorted({str(k) for dims in directive.get("Dimensions", []) for k in dims})
            labels = tuple((_label_name(k), str(blob.get(k, ""))) for k in keys)
            for metric in directive.get("Metrics", []):
                name, unit = str(metric["Name"]), str(metric.get("Unit", "None"))
                raw = blob.get(name)
                numbers = [
                    float(v)
                    for v in (raw if isinstance(raw, list) else [raw])
                    if isinstance(v, int | float) and not isinstance(v, bool)
                ]
                key = (prometheus_name(namespace, name, unit), labels)
                with self._lock:
                    series = self._series.setdefault(
                        key,
                        _Series(
                            kind="counter" if unit == "Count" else "summary",
                            help=f"EMF metric {name} (namespace {namespace}, unit {unit})",
                        ),
                    )
                    series.total += sum(numbers)
                    series.count += len(numbers)

    def render(self) -> str:
        lines: list[str] = []
        described: set[str] = set()
        with self._lock:
            items = sorted(self._series.items())
        for (name, labels), series in items:
            if name not in described:
                described.add(name)
                lines += [f"# HELP {name} {series.help}", f"# TYPE {name} {series.kind}"]
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            braces = f"{{{rendered}}}" if rendered else ""
            if series.kind == "counter":
                lines.append(f"{name}{braces} {series.total:g}")
            else:
                lines.append(f"{name}_sum{braces} {series.total:g}")
                lines.append(f"{name}_count{braces} {series.count}")
        return "\n".join(lines) + "\n"


def _label_name(key: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return f"_{name}" if name[:1].isdigit() else name


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def serve_metrics(metrics: EmfMetrics, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "try /metrics")
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes would drown the other logs

    server = ThreadingHTTPServer((LOOPBACK, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


# ------------------------------------------------------------------------------- supervision


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_grace: float  # seconds between SIGTERM and SIGKILL
    port: int | None
    reader: threading.Thread | None = field(default=None, repr=False)


class Console:
    """Prefixed, line-atomic output of every part; EMF lines go to the metrics instead."""

    def __init__(self, state_dir: Path, metrics: EmfMetrics, out: IO[str] = sys.stdout) -> None:
        self._state_dir = state_dir
        self._metrics = metrics
        self._out = out
        self._lock = threading.Lock()

    def say(self, message: str, part: str = "stack") -> None:
        with self._lock:
            for line in message.splitlines() or [""]:
                self._out.write(f"{part:<6} | {line}\n")
            self._out.flush()

    def raw(self, text: str) -> None:
        with self._lock:
            self._out.write(text if text.endswith("\n") else text + "\n")
            self._out.flush()

    def follow(self, child: Child, parse_emf: bool) -> threading.Thread:
        def pump() -> None:
            assert child.proc.stdout is not None
            with (self._state_dir / f"{child.name}.log").open("ab") as log:
                for raw in iter(child.proc.stdout.readline, b""):
                    log.write(raw)
                    log.flush()
                    line = _ANSI.sub("", raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                    if child.name == "moto" and _ROUTINE_MOTO_LINE.search(line):
                        continue  # every poll and put would flood the console; kept in the log
                    if parse_emf:
                        blobs, line = split_emf(line)
                        for blob in blobs:
                            self._metrics.add(blob)
                        if blobs and not line:
                            continue
                    self.say(line, child.name)

        thread = threading.Thread(target=pump, name=f"log-{child.name}", daemon=True)
        thread.start()
        return thread


class Supervisor:
    def __init__(self, state_dir: Path, console: Console) -> None:
        self.state_dir = state_dir
        self.console = console
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self._killing = False

    def start(
        self,
        name: str,
        cmd: list[str],
        env: Mapping[str, str],
        *,
        stop_grace: float,
        port: int | None = None,
        parse_emf: bool = False,
    ) -> Child:
        (self.state_dir / f"{name}.log").write_bytes(b"")
        proc = subprocess.Popen(
            cmd,
            env=dict(env),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session: a terminal's Ctrl-C reaches only the supervisor, which stops the
            # parts in order; and the whole group can be killed if a part leaves helpers behind.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        child = Child(name, proc, stop_grace, port)
        child.reader = self.console.follow(child, parse_emf)
        self.children.append(child)
        return child

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` until it holds; fail if a part exits, on a stop signal or timeout."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.stopping.is_set():
                raise StartupError(f"stopped while waiting for {what}")
            for child in self.children:
                if child.proc.poll() is not None:
                    raise StartupError(
                        f"{child.name} exited ({child.proc.returncode}) before {what}"
                    )
            if time.monotonic() > deadline:
                raise StartupError(f"no {what} within {timeout:.0f}s")
            time.sleep(0.2)

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping.is_set():
            self._killing = True
            for child in self.children:
                _kill_group(child.proc)
            return
        self.stopping.set()

    def stop_all(self, order: list[str]) -> bool:
        """Stop the parts in ``order`` (then any other), each SIGTERM -> wait -> SIGKILL.
        Returns True if every part exited and no port of ours is still listening."""
        rank = {name: i for i, name in enumerate(order)}
        clean = True
        for child in sorted(self.children, key=lambda c: rank.get(c.name, len(rank))):
            if child.proc.poll() is None:
                self.console.say(f"stopping {child.name} (pid {child.proc.pid})")
                child.proc.send_signal(signal.SIGTERM)
                try:
                    child.proc.wait(0 if self._killing else child.stop_grace)
                except subprocess.TimeoutExpired:
                    self.console.say(
                        f"{child.name} did not stop in {child.stop_grace:.0f}s: killed"
                    )
                    clean = False
            # Its helpers (the poller's execution environments and multiprocessing's resource
            # tracker) share its process group and may outlive it by a moment.
            _kill_group(child.proc)
            child.proc.wait()
            if not _group_gone(child.proc.pid, 5):
                self.console.say(f"{child.name}: processes of its group are still running")
                clean = False
            if child.reader is not None:
                child.reader.join(5)
            if child.port is not None and is_listening(child.port):
                self.console.say(f"{child.name}: port {child.port} is still listening")
                clean = False
        return clean


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# ----------------------------------------------------------------------------------- the stack


@dataclass(frozen=True)
class Options:
    port: int
    metrics_port: int
    llm_model: str
    visibility_timeout: int | None
    retry_base_seconds: int | None
    state_dir: Path


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m infra.stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="API port (env PORT, default 8000; 0 = any free port)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("METRICS_PORT", "9464")),
        help="Prometheus /metrics port (env METRICS_PORT, default 9464; 0 = any free port)",
    )
    p.add_argument(
        "--llm-model",
        default=os.environ.get("OFFLINE_OLLAMA_MODEL", "smollm2:135m"),
        help="model of the offline LLM host, when no Ollama answers at OLLAMA_HOST "
        "(env OFFLINE_OLLAMA_MODEL; smollm2:135m or gemma3:270m)",
    )
    p.add_argument(
        "--visibility-timeout",
        type=int,
        default=None,
        help="the queue's VisibilityTimeout in seconds (default: template.yaml's)",
    )
    p.add_argument(
        "--retry-base-seconds",
        type=int,
        default=None,
        help="RETRY_BASE_SECONDS for the worker's backoff (default: settings / your env)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=REPO_ROOT / ".local-stack",
        help="stack.json and the parts' logs (default .local-stack/)",
    )
    a = p.parse_args(argv)
    return Options(
        a.port,
        a.metrics_port,
        a.llm_model,
        a.visibility_timeout,
        a.retry_base_seconds,
        a.state_dir.resolve(),
    )


def running_stack(state_dir: Path) -> dict[str, Any] | None:
    """The stack.json of a supervisor that is still alive, if any."""
    try:
        info: dict[str, Any] = json.loads((state_dir / "stack.json").read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    cmdline = Path(f"/proc/{info['pid']}/cmdline")
    if cmdline.exists() and not re.search(rb"infra\.stack|docsum-local", cmdline.read_bytes()):
        return None  # the pid was reused by something else
    return info


def _pythonpath(*paths: Path) -> str:
    return os.pathsep.join(str(p) for p in paths)


@dataclass
class Aws:
    endpoint_url: str
    started_here: bool


@dataclass
class Llm:
    host: str
    model: str
    started_here: bool
    description: str = ""


class LocalStack:
    def __init__(self, options: Options, template: Template) -> None:
        self.options = options
        self.template = template
        self.metrics = EmfMetrics()
        self.console = Console(options.state_dir, self.metrics)
        self.supervisor = Supervisor(options.state_dir, self.console)
        self.say = self.console.say
        self.concurrency = template.sqs_event(SUMMARIZE_FUNCTION).maximum_concurrency or 1

    # -- parts -----------------------------------------------------------------------------------

    def start_aws(self) -> Aws:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            if not aws_answers(endpoint):
                raise StartupError(
                    f"AWS_ENDPOINT_URL={endpoint} does not answer (is LocalStack running?); "
                    "unset it to use an embedded moto server"
                )
            self.say(f"AWS: using {endpoint} (AWS_ENDPOINT_URL); no moto server started")
            return Aws(endpoint, started_here=False)
        port = free_port()
        endpoint = f"http://{LOOPBACK}:{port}"
        cmd = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
        self.supervisor.start("moto", cmd, os.environ, stop_grace=5, port=port)
        self.supervisor.wait_until("moto server", lambda: aws_answers(endpoint), 60)
        self.say(f"AWS: moto server at {endpoint}")
        return Aws(endpoint, started_here=True)

    def start_llm(self) -> Llm:
        host = normalize_ollama_host(os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST)
        if http_get(f"{host}/api/version") is not None:
            model = os.environ.get("OLLAMA_MODEL") or str(
                self.template.parameter_default("OllamaModel")
            )
            self.say(f"LLM: an Ollama answers at {host}; using it with model {model}")
            if model not in _served_models(host):
                self.say(f"LLM: WARNING: {host} does not list {model}; run `ollama pull {model}`")
            return Llm(host, model, started_here=False)
        port = free_port()
        url = f"http://{LOOPBACK}:{port}"
        wanted = self.options.llm_model
        self.say(
            f"LLM: no Ollama answers at {host}: starting the offline host from ollama-host/ "
            f"with {wanted} on {url}.\n"
            f"LLM: {wanted} is a tiny stand-in: its summaries only exercise the pipeline and are "
            f"no guide to what gemma3:1b would write."
        )
        cmd = [sys.executable, "-m", "offline_ollama", "--host", LOOPBACK, "--port", str(port)]
        # As many generation slots as concurrent summarize invocations, model kept loaded.
        cmd += ["--model", wanted, "--slots", str(self.concurrency), "--keep-alive", "-1"]
        env = {**os.environ, "PYTHONPATH": _pythonpath(REPO_ROOT / "ollama-host")}
        self.supervisor.start("llm", cmd, env, stop_grace=20, port=port)
        self.supervisor.wait_until("LLM host", lambda: http_get(f"{url}/") is not None, 300)
        served = _served_models(url)
        if not served:
            raise StartupError(f"the offline host at {url} lists no model")
        return Llm(url, served[0], started_here=True, description=f"offline stand-in ({wanted})")

    def function_env(
        self, logical_id: str, aws: Aws, resources: LocalResources, llm: Llm, token: str
    ) -> dict[str, str]:
        extra = {"OLLAMA_MODEL": llm.model}
        if self.options.retry_base_seconds is not None:
            extra["RETRY_BASE_SECONDS"] = str(self.options.retry_base_seconds)
        inherited = {
            k: v for k, v in os.environ.items() if k not in ("AWS_SESSION_TOKEN", "AWS_PROFILE")
        }
        return local_function_env(
            self.template,
            logical_id,
            resources=resources,
            endpoint_url=aws.endpoint_url,
            ollama_host=llm.host,
            token=token,
            inherited=inherited,
            extra=extra,
        )

    # -- the whole run ------------------------------------------------------------------------

    def run(self) -> int:
        o = self.options
        for port, what in ((o.port, "PORT"), (o.metrics_port, "METRICS_PORT")):
            if port and not port_is_free(port):
                self.say(f"{LOOPBACK}:{port} is in use (another stack?); set {what}=... or 0")
                return 1
        api_port = o.port or free_port()
        metrics_server = serve_metrics(self.metrics, o.metrics_port)
        metrics_port = int(metrics_server.server_address[1])
        signal.signal(signal.SIGINT, self.supervisor.on_signal)
        signal.signal(signal.SIGTERM, self.supervisor.on_signal)
        code = 0
        try:
            info = self.start_everything(api_port, metrics_port)
            _write_private(o.state_dir / "stack.json", json.dumps(info, indent=2) + "\n")
            self.banner(info)
            while not self.supervisor.stopping.wait(0.5):
                exited = self.supervisor.first_exited()
                if exited is not None:
                    self.say(f"{exited.name} exited with code {exited.proc.returncode}: stopping")
                    code = 1
                    break
        except StartupError as exc:
            self.say(f"start-up failed: {exc}")
            code = 1
        finally:
            (o.state_dir / "stack.json").unlink(missing_ok=True)
            self.say("stopping everything; a second Ctrl-C kills what is left")
            clean = self.supervisor.stop_all(["api", "poller", "llm", "moto"])
            metrics_server.shutdown()
            metrics_server.server_close()
            still = [p for p in (api_port, metrics_port) if is_listening(p)]
            if still or not clean:
                self.say(f"not a clean stop (still listening: {still or 'none'})")
                code = code or 1
            else:
                self.say("stopped; nothing left running or listening")
        return code

    def start_everything(self, api_port: int, metrics_port: int) -> dict[str, Any]:
        o = self.options
        aws = self.start_aws()
        resources = create_resources(
            self.template,
            endpoint_url=aws.endpoint_url,
            region=REGION,
            visibility_timeout=o.visibility_timeout,
        )
        self.say("resources from template.yaml: " + ", ".join(resources.environment().values()))
        llm = self.start_llm()
        given = os.environ.get("API_TOKEN")
        token = secrets.token_urlsafe(24) if given is None else given

        ingest = self.template.function(INGEST_FUNCTION)
        api_env = self.function_env(INGEST_FUNCTION, aws, resources, llm, token)
        api_env["PYTHONPATH"] = _pythonpath(*ingest.import_paths)
        api_cmd = [sys.executable, "-m", "uvicorn", f"{ingest.handler_module}:{ASGI_APP}"]
        api_cmd += ["--host", LOOPBACK, "--port", str(api_port), "--no-access-log"]
        self.supervisor.start("api", api_cmd, api_env, stop_grace=15, port=api_port, parse_emf=True)

        summarize = self.template.function(SUMMARIZE_FUNCTION)
        poller_env = self.function_env(SUMMARIZE_FUNCTION, aws, resources, llm, token)
        poller_env["PYTHONPATH"] = _pythonpath(REPO_ROOT)
        poller_cmd = [sys.executable, "-m", "infra.poller", "--function", SUMMARIZE_FUNCTION]
        # In-flight invocations may run to the function's Timeout, plus the pending long poll.
        grace = summarize.timeout + LONG_POLL_SECONDS + 10
        self.supervisor.start("poller", poller_cmd, poller_env, stop_grace=grace, parse_emf=True)

        api_url = f"http://{LOOPBACK}:{api_port}"
        self.supervisor.wait_until(
            "API /health", lambda: http_get(f"{api_url}/health") is not None, 120
        )
        return {
            "pid": os.getpid(),
            "api_url": api_url,
            "docs_url": f"{api_url}/docs",
            "metrics_url": f"http://{LOOPBACK}:{metrics_port}/metrics",
            # The first client's token, for the curl lines; every client with a clear token.
            "api_token": next(iter(clear_tokens(token).values()), None),
            "clients": clear_tokens(token),
            "aws_endpoint_url": aws.endpoint_url,
            "aws_started_here": aws.started_here,
            "region": REGION,
            "resources": resources.environment(),
            "queue_url": resources.queue_url,
            "dead_letter_queue_url": resources.dead_letter_queue_url,
            "ollama_host": llm.host,
            "ollama_model": llm.model,
            "llm_started_here": llm.started_here,
            "processes": {
                c.name: {
                    "pid": c.proc.pid,
                    "port": c.port,
                    "log": str(o.state_dir / f"{c.name}.log"),
                }
                for c in self.supervisor.children
            },
        }

    def banner(self, info: Mapping[str, Any]) -> None:
        token = info["api_token"]
        auth = f" -H 'Authorization: Bearer {token}'" if token else ""
        clients = info.get("clients") or {}
        if os.environ.get("API_TOKEN") == "":
            auth_note = "auth is OFF (API_TOKEN is empty)"
        elif token is None:
            auth_note = "only hashed tokens in API_TOKEN (clients bring their own)"
        elif len(clients) > 1 or set(clients) - {"default"}:
            named = ", ".join(f"{name}: {value}" for name, value in clients.items())
            auth_note = f"{named}  (from API_TOKEN; curl lines below use {next(iter(clients))})"
        elif "API_TOKEN" in os.environ:
            auth_note = f"{token}  (from API_TOKEN)"
        else:
            auth_note = f"{token}  (generated; set API_TOKEN to choose one)"
        llm_note = (
            "offline stand-in started here; NOT gemma3:1b"
            if info["llm_started_here"]
            else "your Ollama"
        )
        aws_note = "moto, started here" if info["aws_started_here"] else "AWS_ENDPOINT_URL"
        self.say(
            "\n".join(
                [
                    "=" * 78,
                    "docsum is up. Ctrl-C stops everything.",
                    f"  API        {info['api_url']}   docs: {info['docs_url']}",
                    f"  API token  {auth_note}",
                    f"  Metrics    {info['metrics_url']}   (Prometheus text, from the EMF lines)",
                    f"  AWS        {info['aws_endpoint_url']}   ({aws_note})",
                    f"  LLM        {info['ollama_model']} at {info['ollama_host']}   ({llm_note})",
                    f"  State      {self.options.state_dir / 'stack.json'}, logs beside it",
                    "Try:",
                ]
            )
        )
        body = json.dumps({"title": "Fox", "text": "The quick brown fox jumps over the lazy dog."})
        self.console.raw(
            f"  curl -s -X POST {info['api_url']}/documents{auth} "
            f"-H 'Content-Type: application/json' -d {shlex.quote(body)}\n"
            f"  curl -s {info['api_url']}/documents/<id>{auth}\n"
        )


def clear_tokens(value: str) -> dict[str, str]:
    """Client name -> its first clear-text token in an API_TOKEN value (`name:token`, a bare
    token for client `default`; `…sha256:<hex>` entries hold no token to show). Only for
    printing: the API's own parser (functions/ingest/auth.py) decides what is accepted."""
    tokens: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in value.split(","))):
        name, _, token = entry.rpartition(":")
        if name == "sha256" or name.endswith(":sha256"):
            continue
        tokens.setdefault(name or "default", token)
    return tokens


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only: stack.json holds the API token."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)  # readers never see a half-written file


def _served_models(host: str) -> list[str]:
    body = http_get(f"{host}/api/tags")
    if body is None:
        return []
    return [str(m.get("name") or m.get("model")) for m in json.loads(body).get("models", [])]


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    existing = running_stack(options.state_dir)
    if existing is not None:  # `make up` twice: report the running stack, start nothing
        print(
            f"already running (pid {existing['pid']}): API {existing['api_url']}, "
            f"metrics {existing['metrics_url']}; details in {options.state_dir / 'stack.json'}"
        )
        return 0
    return LocalStack(options, load_template()).run()


if __name__ == "__main__":
    raise SystemExit(main())

"""The whole pipeline on this machine, no Docker: ``make up`` (``python -m infra.local``).

Parts, each a supervised child process whose output is shown with a prefix (and kept in
``<state-dir>/<part>.log``):

* ``moto``   - a moto server on loopback (S3, SQS, DynamoDB over real HTTP). Skipped when
  ``AWS_ENDPOINT_URL`` is set: then that endpoint (LocalStack, or any moto) must answer.
* ``llm``    - the offline Ollama-compatible host (``ollama-host/``) with a small bundled model.
  Skipped when an Ollama already answers at ``OLLAMA_HOST`` (default http://127.0.0.1:11434).
* ``poller`` (and ``poller-webhook``: one per function with an SQS event in template.yaml)
  - :mod:`infra.local.poller`, the SQS event source mapping calling the real
  summarize handler.
* ``api``    - the ingest FastAPI app under uvicorn (``docsum_api.handler.app``, what Lambda runs).
* ``sweeper`` - :mod:`infra.local.scheduler`, the EventBridge schedule of each scheduled function
  (the sweeper), calling its real handler.

The bucket, table and queues are created from template.yaml (:mod:`infra.bootstrap`). Each
function process gets its template environment (your environment overrides template values,
e.g. ``LLM_NUM_PREDICT=96``), with the resource names, endpoint, dummy credentials, LLM host and
model, and API token set by the stack. ``API_TOKEN`` unset: one is generated; set but empty:
auth is off.

A part that crashes is restarted (same port, after 1, 2, 4 ... s) while the others keep
running; one that crashes more than 5 times in 5 minutes stops the stack. With its own moto,
the stack keeps the documents (texts, records, and a message for each unfinished one) in
``<state-dir>/state/``: restored after a moto restart and at the next ``make up``
(``--fresh`` starts empty).

Metrics: the functions print CloudWatch EMF lines on stdout; the stack reads them as CloudWatch
would, sums them, and serves them in Prometheus format at ``http://127.0.0.1:METRICS_PORT/metrics``.

Readiness, for scripts and tests: once the API answers ``/health``, ``<state-dir>/stack.json``
(mode 0600) holds the URLs, token, resources and child processes; it is removed at shutdown.
Running ``make up`` again while a stack runs from the same state directory prints that stack and
exits 0.

Ctrl-C (SIGINT) or SIGTERM stops the parts in order (api, sweeper, poller, llm, moto), each
given time to finish; a second signal kills what is left.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offline_ollama.fetch import FetchError

from infra.bootstrap import LocalResources, create_resources
from infra.local.environment import (
    INGEST_FUNCTION,
    REGION,
    SUMMARIZE_FUNCTION,
    aws_answers,
    generated_webhook_secrets,
    local_function_env,
    poller_name,
    sqs_functions,
)
from infra.local.llm import (
    AUTO,
    Llm,
    offline_host_part,
    offline_model,
    running_ollama,
    served_models,
)
from infra.local.metrics import EmfCollector, serve_metrics
from infra.local.poller import LONG_POLL_SECONDS, add_long_poll_argument
from infra.local.processes import (
    LOOPBACK,
    REPO_ROOT,
    StartupError,
    free_port,
    http_get,
    is_listening,
    port_is_free,
)
from infra.local.state import DocumentState
from infra.local.supervisor import Console, GaveUp, Part, Supervisor
from infra.template import Template, TemplateError, load_template

# The ASGI app inside the ingest handler's module (Lambda uses its `handler`, uvicorn its `app`).
ASGI_APP = "app"
STACK_MODULE = "infra.local"
API_READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class Options:
    port: int
    metrics_port: int
    llm_model: str
    visibility_timeout: int | None
    retry_base_seconds: int | None
    state_dir: Path
    fresh: bool = False
    pull: bool = True
    fetch_model: bool = True
    long_poll_seconds: int = LONG_POLL_SECONDS
    llm_slots: int | None = None  # None: template.yaml's OllamaNumParallel


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(
        prog=f"python -m {STACK_MODULE}",
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
        default=os.environ.get("OFFLINE_OLLAMA_MODEL", AUTO),
        help="model of the offline LLM host, when no Ollama answers at OLLAMA_HOST "
        "(env OFFLINE_OLLAMA_MODEL; default auto: the real gemma3:1b, fetched once if the "
        "network allows, else the stand-in smollm2:135m; or gemma3:1b, smollm2:135m, gemma3:270m)",
    )
    p.add_argument(
        "--no-pull",
        action="store_true",
        default=os.environ.get("DOCSUM_PULL", "1") == "0",
        help="an Ollama that lacks the model is only warned about, not asked to pull it "
        "(env DOCSUM_PULL=0)",
    )
    p.add_argument(
        "--no-fetch",
        action="store_true",
        default=os.environ.get("DOCSUM_FETCH_MODEL", "1") == "0",
        help="never download gemma3:1b for the offline host (env DOCSUM_FETCH_MODEL=0)",
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
        "--llm-slots",
        type=int,
        default=int(os.environ["OLLAMA_NUM_PARALLEL"])
        if os.environ.get("OLLAMA_NUM_PARALLEL")
        else None,
        help="generation slots of the model host: the offline host gets this many, and the "
        "summarize poller runs one invocation per slot, so no model call waits in the host's "
        "queue (env OLLAMA_NUM_PARALLEL, as your own Ollama reads it; default template.yaml's "
        "OllamaNumParallel)",
    )
    add_long_poll_argument(p, "the queue pollers' long poll")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=REPO_ROOT / ".local-stack",
        help="stack.json, the parts' logs and the kept documents (default .local-stack/)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start with no documents (forget those kept in STATE_DIR/state/)",
    )
    a = p.parse_args(argv)
    return Options(
        a.port,
        a.metrics_port,
        a.llm_model,
        a.visibility_timeout,
        a.retry_base_seconds,
        a.state_dir.resolve(),
        a.fresh,
        pull=not a.no_pull,
        fetch_model=not a.no_fetch,
        long_poll_seconds=a.long_poll_seconds,
        llm_slots=a.llm_slots,
    )


def running_stack(state_dir: Path) -> dict[str, Any] | None:
    """The stack.json of a supervisor that is still alive, if any."""
    try:
        info: dict[str, Any] = json.loads((state_dir / "stack.json").read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    cmdline = Path(f"/proc/{info['pid']}/cmdline")
    if cmdline.exists() and not re.search(rb"infra\.local|docsum-local", cmdline.read_bytes()):
        return None  # the pid was reused by something else
    return info


@dataclass(frozen=True)
class Aws:
    endpoint_url: str
    started_here: bool


class EmbeddedStack:
    """Every part of docsum as local processes, supervised (``make up``)."""

    def __init__(self, options: Options, template: Template) -> None:
        self.options = options
        self.template = template
        self.metrics = EmfCollector()
        self.console = Console(self.metrics)
        self.supervisor = Supervisor(options.state_dir, self.console, on_restart=self.publish)
        self.say = self.console.say
        # Everything model-related follows the host's slots: the offline host is started with
        # them, the summarize poller runs slots / LLM_PARALLEL_CALLS invocations, /ready shows them.
        self.slots = max(
            1, options.llm_slots or int(template.parameter_default("OllamaNumParallel"))
        )
        self.webhook_secrets = ""
        self.info: dict[str, Any] = {}

    # -- parts -----------------------------------------------------------------------------------

    def start_aws(self) -> tuple[Aws, LocalResources]:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            if not aws_answers(endpoint):
                raise StartupError(
                    f"AWS_ENDPOINT_URL={endpoint} does not answer (is LocalStack running?); "
                    "unset it to use an embedded moto server"
                )
            self.say(f"AWS: using {endpoint} (AWS_ENDPOINT_URL); no moto server started")
            return Aws(endpoint, started_here=False), self.create_resources(endpoint)
        port = free_port()
        endpoint = f"http://{LOOPBACK}:{port}"
        state = DocumentState(self.options.state_dir / "state", self.say)
        if self.options.fresh:
            state.forget()

        def recreate() -> None:  # moto restarted empty: resources, then the kept documents
            state.restore(self.create_resources(endpoint), endpoint)

        cmd = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
        moto = Part(
            "moto",
            cmd,
            os.environ,
            ready=lambda: aws_answers(endpoint),
            stop_grace=5,
            port=port,
            after_restart=recreate,
        )
        self.supervisor.start(moto)
        self.say(f"AWS: moto server at {endpoint}")
        resources = self.create_resources(endpoint)
        state.restore(resources, endpoint)
        self.supervisor.every(5.0, lambda: state.save(resources, endpoint))
        moto.before_stop = lambda: state.save(resources, endpoint)
        return Aws(endpoint, started_here=True), resources

    def create_resources(self, endpoint: str) -> LocalResources:
        return create_resources(
            self.template,
            endpoint_url=endpoint,
            region=REGION,
            visibility_timeout=self.options.visibility_timeout,
        )

    def start_llm(self) -> Llm:
        default_model = str(self.template.parameter_default("OllamaModel"))
        found = running_ollama(default_model, self.say, pull=self.options.pull)
        if found is not None:
            # Its slots cannot be asked over Ollama's API: the stack trusts what it is told.
            self.say(
                f"LLM: the worker sends up to {self.slots} model calls at once; start your "
                f"Ollama with OLLAMA_NUM_PARALLEL={self.slots} (or give --llm-slots / "
                "OLLAMA_NUM_PARALLEL here), else calls wait in its queue"
            )
            return found
        try:
            choice = offline_model(
                self.options.llm_model, fetch_real=self.options.fetch_model, say=self.say
            )
        except FetchError as exc:
            raise StartupError(str(exc)) from exc
        part = offline_host_part(choice.model, slots=self.slots)
        url = f"http://{LOOPBACK}:{part.port}"
        self.say(
            f"LLM: no Ollama answers at OLLAMA_HOST: starting the offline host from "
            f"ollama-host/ with {choice.model} on {url} ({choice.origin})"
        )
        self.supervisor.start(part)
        served = served_models(url)
        if not served:
            raise StartupError(f"the offline host at {url} lists no model")
        return Llm(url, served[0], started_here=True, origin=f"offline host: {choice.origin}")

    def function_env(
        self, logical_id: str, aws: Aws, resources: LocalResources, llm: Llm, token: str
    ) -> dict[str, str]:
        extra = {
            "OLLAMA_MODEL": llm.model,
            "LLM_ORIGIN": llm.origin,
            "MODEL_HOST_SLOTS": str(self.slots),
        }
        if self.options.retry_base_seconds is not None:
            extra["RETRY_BASE_SECONDS"] = str(self.options.retry_base_seconds)
        return local_function_env(
            self.template,
            logical_id,
            resources=resources,
            endpoint_url=aws.endpoint_url,
            ollama_host=llm.host,
            token=token,
            extra=extra,
            webhook_secrets=self.webhook_secrets,
        )

    def poller_part(self, logical_id: str, env: dict[str, str]) -> Part:
        function = self.template.function(logical_id)
        long_poll = self.options.long_poll_seconds
        cmd = [sys.executable, "-m", "infra.local.poller", "--function", logical_id]
        cmd += ["--long-poll-seconds", str(long_poll)]
        if logical_id == SUMMARIZE_FUNCTION:
            calls = int(env.get("LLM_PARALLEL_CALLS", "1"))
            cmd += ["--maximum-concurrency", str(self.summarize_invocations(calls))]
        return Part(
            poller_name(logical_id),
            cmd,
            {**env, "PYTHONPATH": str(REPO_ROOT)},  # the poller adds the function's paths
            # In-flight invocations may run to the function's Timeout, plus the pending poll.
            stop_grace=function.timeout + long_poll + 10,
            parse_emf=True,
        )

    def summarize_invocations(self, calls_each: int) -> int:
        """Summarize invocations at once: as many as keep every model call in a slot."""
        if calls_each > self.slots:
            raise StartupError(
                f"LLM_PARALLEL_CALLS={calls_each} is more than the host's {self.slots} slots"
            )
        return self.slots // calls_each

    def scheduled_functions(self) -> list[str]:
        """The functions an EventBridge schedule invokes (the sweeper)."""
        found = []
        for logical_id in self.template.logical_ids("AWS::Serverless::Function"):
            try:
                self.template.schedule_event(logical_id)
            except TemplateError:
                continue
            found.append(logical_id)
        return found

    def scheduler_part(self, logical_id: str, env: dict[str, str]) -> Part:
        """The schedule's emulation (infra/local/scheduler.py) running the real handler."""
        cmd = [sys.executable, "-m", "infra.local.scheduler", "--function", logical_id]
        return Part(
            logical_id.removesuffix("Function").lower(),  # SweeperFunction -> sweeper
            cmd,
            {**env, "PYTHONPATH": str(REPO_ROOT)},  # the scheduler adds the function's paths
            stop_grace=self.template.function(logical_id).timeout + 10,
            parse_emf=True,
        )

    def api_part(self, env: dict[str, str], port: int) -> Part:
        module = self.template.function(INGEST_FUNCTION).handler_module
        cmd = [sys.executable, "-m", "uvicorn", f"{module}:{ASGI_APP}"]
        cmd += ["--host", LOOPBACK, "--port", str(port), "--no-access-log"]
        url = f"http://{LOOPBACK}:{port}"
        return Part(
            "api",
            cmd,
            env,
            ready=lambda: http_get(f"{url}/health") is not None,
            ready_timeout=API_READY_TIMEOUT,
            stop_grace=15,
            port=port,
            parse_emf=True,
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
            self.info = self.start_everything(api_port, metrics_port)
            self.publish()
            self.banner(self.info)
            self.supervisor.watch()
        except (StartupError, GaveUp) as exc:
            what = "start-up failed" if isinstance(exc, StartupError) else "stopping"
            self.say(f"{what}: {exc}")
            code = 1
        finally:
            (o.state_dir / "stack.json").unlink(missing_ok=True)
            self.say("stopping everything; a second Ctrl-C kills what is left")
            clean = self.supervisor.stop_all()
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
        aws, resources = self.start_aws()
        self.say("resources from template.yaml: " + ", ".join(resources.environment().values()))
        llm = self.start_llm()
        given = os.environ.get("API_TOKEN")
        # Hex, never URL-safe base64: a token starting with "-" reads as an option to argparse
        # (`--token -x…` fails) and to many shells' tools.
        token = secrets.token_hex(24) if given is None else given

        self.webhook_secrets = os.environ.get("WEBHOOK_SECRETS") or generated_webhook_secrets(token)
        from docsum.push.webhooks import parse_webhook_secrets  # see generated_webhook_secrets

        try:
            # Each client's newest secret (a client listed twice is signed with both).
            clients = parse_webhook_secrets(self.webhook_secrets)
        except ValueError as exc:
            raise StartupError(f"WEBHOOK_SECRETS: {exc}") from exc
        for logical_id in sqs_functions(self.template):
            env = self.function_env(logical_id, aws, resources, llm, token)
            self.supervisor.start(self.poller_part(logical_id, env), wait=False)
        for logical_id in self.scheduled_functions():
            env = self.function_env(logical_id, aws, resources, llm, token)
            self.supervisor.start(self.scheduler_part(logical_id, env), wait=False)
        api_env = self.function_env(INGEST_FUNCTION, aws, resources, llm, token)
        self.supervisor.start(self.api_part(api_env, api_port))

        api_url = f"http://{LOOPBACK}:{api_port}"
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
            "webhook_secrets": {client: found[-1] for client, found in clients.items()},
            "callback_allow_loopback_http": True,
            # The host's generation slots: the summarize poller runs one invocation per slot.
            "model_host_slots": self.slots,
            "ollama_host": llm.host,
            "ollama_model": llm.model,
            "llm_started_here": llm.started_here,
            "llm_origin": llm.origin,
        }

    def publish(self) -> None:
        """(Re)write stack.json: the URLs and the parts' current process ids."""
        processes = {
            name: {"pid": child.pid, "port": child.port, "log": str(child.log_path)}
            for name, child in self.supervisor.children().items()
        }
        text = json.dumps({**self.info, "processes": processes}, indent=2) + "\n"
        _write_private(self.options.state_dir / "stack.json", text)

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
        llm_note = info["llm_origin"]
        aws_note = "moto, started here" if info["aws_started_here"] else "AWS_ENDPOINT_URL"
        self.say(
            "\n".join(
                [
                    "=" * 78,
                    "docsum is up. Ctrl-C stops everything.",
                    f"  API        {info['api_url']}   docs: {info['docs_url']}",
                    f"  Web page   {info['api_url']}/   (enter the token there)",
                    f"  API token  {auth_note}",
                    f"  Metrics    {info['metrics_url']}   (Prometheus text, from the EMF lines)",
                    f"  AWS        {info['aws_endpoint_url']}   ({aws_note})",
                    f"  LLM        {info['ollama_model']} at {info['ollama_host']}   ({llm_note})",
                    *(
                        f"  Webhooks   {client}: {secret}"
                        for client, secret in info["webhook_secrets"].items()
                    ),
                    "             (Standard Webhooks signing secrets; callbacks may use http to "
                    "127.0.0.1 here: CALLBACK_ALLOW_LOOPBACK_HTTP=true)",
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
    printing: the API's own parser (docsum_api/auth.py) decides what is accepted."""
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
    return EmbeddedStack(options, load_template()).run()

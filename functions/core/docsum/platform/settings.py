"""Every setting in one place, read from the environment (template.yaml sets them in Lambda)."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # AWS resources (names come from template.yaml: Globals.Function.Environment).
    documents_bucket: str = "docsum-documents"
    documents_table: str = "docsum-documents"
    summarize_queue_url: str = ""
    dead_letter_queue_url: str = ""
    max_receive_count: int = Field(default=30, ge=1)

    # API: the stage prefix API Gateway puts before every path (/docs needs it), and limits.
    api_root_path: str = ""
    max_document_chars: int = Field(default=500_000, ge=1)
    max_title_chars: int = Field(default=300, ge=1)
    # Files. A direct upload travels through API Gateway (10 MB) into a Lambda payload (6 MB,
    # base64 adds a third): larger files go through a presigned S3 upload (`POST /uploads`).
    max_direct_upload_bytes: int = Field(default=4_000_000, ge=1)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    upload_url_seconds: int = Field(default=3600, ge=60)
    # Extraction bounds: a file past one ends `failed` naming it, well before the function's
    # timeout (600 s) could cut it off and make SQS retry it.
    max_pdf_pages: int = Field(default=2000, ge=1)
    max_unpacked_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    extraction_timeout_seconds: float = Field(default=120.0, gt=0)
    # A parser's work follows the elements it builds, not the file's size: elements per file
    # (DOCX/EPUB XML, HTML tags), how deep HTML nests, Markdown's emphasis marks; each is
    # counted on the markup before a tree exists (docsum.extract.bounds).
    max_markup_elements: int = Field(default=1_000_000, ge=1)
    max_html_depth: int = Field(default=1_000, ge=1)
    max_markdown_emphasis_marks: int = Field(default=200_000, ge=0)
    # The backstop: extraction runs in a child process (docsum.extract.sandbox) the OS stops
    # once a file costs this much memory above the child's baseline (RLIMIT_AS) or
    # `extraction_timeout_seconds` of CPU; the function's 1,024 MB keep room for the worker.
    extraction_memory_mb: int = Field(default=512, ge=16)
    # Web pages by URL (`{"url": …}`): fetched by the worker under the callbacks' address policy
    # (`callback_allow_loopback_http` admits loopback http for `make up`); the whole fetch,
    # redirects included, within the time; at most this many bytes and redirects.
    page_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    page_timeout_seconds: float = Field(default=20.0, gt=0)
    page_max_redirects: int = Field(default=5, ge=0)
    # The function that fetches pages for a worker with no way to the internet (template.yaml
    # names FetchFunction while the summarize function runs in a VPC); empty: the worker
    # fetches them itself.
    page_fetch_function: str = ""
    # OCR of scans and photos (Tesseract; docs/files.md): pages OCR'd per document, pixels per
    # page (decompression bombs), time per page and in total (on top of the extraction timeout),
    # the languages ("+"-joined Tesseract codes: by default those infra/ocr-data/languages.mk
    # installs and ships, a unit test keeps them the same) and a scanned PDF page's resolution.
    max_ocr_pages: int = Field(default=50, ge=1)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    ocr_page_seconds: float = Field(default=60.0, gt=0)
    ocr_timeout_seconds: float = Field(default=300.0, gt=0)
    ocr_languages: str = Field(default="spa+fra+deu+eng", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")
    ocr_dpi: int = Field(default=200, ge=50, le=600)
    # A duplicate POST of a document still `queued` after this long re-sends its message: it
    # covers a crash between the DynamoDB write and the SQS send (the worker ignores extras).
    requeue_after_seconds: int = Field(default=60, ge=0)

    # Auth: comma-separated `name:token` entries (a bare token is client `default`; one name
    # listed twice: a rotation; `name:sha256:<hex>` stores a token's hash), or the name of an
    # SSM SecureString holding them. Neither set → auth is off (local use only).
    api_token: SecretStr | None = None
    api_token_parameter: str | None = None

    # Document ids are HMAC-SHA256(secret, owner, content, options). In the cloud the secret is
    # a Secrets Manager secret the template generates (its ARN); locally the stack creates one
    # the same way, or DOCUMENT_ID_SECRET gives it directly. Neither: a fixed development key.
    document_id_secret: SecretStr | None = None
    document_id_secret_arn: str | None = None

    # Per-client fixed-window rate limit (a DynamoDB counter, so it holds across instances);
    # 0 requests: no limit.
    rate_limit_requests: int = Field(default=0, ge=0)
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    # Fairness: the summarize queue is first in, first out, so each client's share of it is
    # bounded: at most this many documents uploading, queued or in progress, and this many
    # characters of text queued or in progress (0: no cap); past either a new submission or
    # re-summarize is a 429 whose Retry-After is `busy_retry_after_seconds`.
    max_active_documents_per_client: int = Field(default=20, ge=0)
    max_active_chars_per_client: int = Field(default=2_000_000, ge=0)
    busy_retry_after_seconds: int = Field(default=60, ge=1)

    # Documents (records and texts) expire this many days after submission; 0: kept forever.
    retention_days: int = Field(default=0, ge=0)

    # Completion push: the webhook queue (and its DLQ, for messages that can never be sent) and
    # each client's Standard Webhooks secret, as comma-separated `client:whsec_…` entries or
    # the name of an SSM SecureString holding them (cached 5 min, like the tokens).
    webhook_queue_url: str = ""
    webhook_dead_letter_queue_url: str = ""
    webhook_secrets: SecretStr | None = None
    webhook_secrets_parameter: str | None = None
    # Callback URLs are untrusted: https to public addresses only, unless this is on (`make up`
    # turns it on) — then http and https to loopback addresses are allowed too.
    callback_allow_loopback_http: bool = False
    # The HEAD that refuses a redirecting callback URL at submission: its whole time (every
    # address included); a receiver that does not answer within it is accepted. 0: no probe.
    callback_probe_timeout_seconds: float = Field(default=2.0, ge=0)
    # Per delivery attempt: connect + whole response, and how much of the answer is read.
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_response_bytes: int = Field(default=65_536, ge=0)

    # LLM (Ollama).
    ollama_host: str = "http://127.0.0.1:11434"
    ollama_model: str = "gemma3:1b"
    # Where the model came from, as /ready reports it (the local stack sets it).
    llm_origin: str = ""
    # A model call is judged by its progress (adapters/ollama_llm.py streams it), never by a
    # total: a call that keeps producing tokens is not cut however slow the host.
    # Connecting and sending the prompt: the host is reachable or not, in seconds.
    llm_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    # Until the first token: the host evaluates the whole prompt first (up to
    # llm_context_tokens). gemma3:1b on a small, busy CPU host needed up to ~3 min for a full
    # window (issue 24: whole calls of 217 s); no call waits for a slot in the host's queue
    # (one invocation per slot), so this covers evaluation only, with room to spare.
    llm_first_token_timeout_seconds: float = Field(default=300.0, gt=0)
    # Between two tokens once they flow: a CPU host makes ~10-15 a second, a busy one still
    # several; half a minute without one means the host stopped, found in seconds, not after a
    # whole-call timeout of minutes.
    llm_stall_timeout_seconds: float = Field(default=30.0, gt=0)
    ollama_keep_alive: str = "-1"
    # Context budget per call, prompt and answer included; gemma3:1b supports 32K.
    llm_context_tokens: int = Field(default=8192, ge=1024)
    llm_num_predict: int = Field(default=640, ge=16)
    llm_temperature: float = Field(default=0.2, ge=0)
    llm_seed: int | None = None
    # Ollama's repetition penalty over the last `llm_repeat_last_n` tokens (its defaults,
    # passed explicitly so a host's Modelfile cannot change them behind our back).
    llm_repeat_penalty: float = Field(default=1.1, gt=0)
    llm_repeat_last_n: int = Field(default=64, ge=-1)
    # The guard's single retry of an answer that failed a check (docsum.summary.guard): a stronger
    # repeat penalty, a shorter answer and the next seed.
    guard_retry_repeat_penalty: float = Field(default=1.3, gt=0)
    guard_retry_num_predict_ratio: float = Field(default=0.75, gt=0, le=1)
    # Token estimate before the call; deliberately low chars/token so estimates err high.
    llm_chars_per_token: float = Field(default=3.0, gt=0)
    summary_max_chars: int = Field(default=1500, ge=100)
    # Model calls in flight = summarize invocations x llm_parallel_calls, and must stay within
    # the host's slots: a call beyond them waits in the host's queue, where its wait counts
    # against its time to first token and ends in a timeout that throws the work away.
    # template.yaml runs one invocation per slot (MODEL_HOST_SLOTS) and sets this to 1; raise
    # it only where invocations x calls <= slots (a long document's chunks then run side by
    # side).
    llm_parallel_calls: int = Field(default=1, ge=1)
    # The host's generation slots as the deployment states them (OLLAMA_NUM_PARALLEL x hosts,
    # or the offline host's --slots under `make up`); /ready shows them. 0: not stated.
    model_host_slots: int = Field(default=0, ge=0)

    # Retries: a transient failure makes the message visible again after
    # retry_base_seconds * 2**(attempt-1), capped, instead of the queue's full visibility timeout.
    retry_base_seconds: int = Field(default=10, ge=0)
    retry_max_seconds: int = Field(default=900, ge=0)
    # Transient failures (model host down, overloaded) are retried for this long after the
    # document's first failure, whatever the receive count; then it is `failed` and its message
    # parked in the DLQ. template.yaml's maxReceiveCount must allow that many deliveries.
    retry_window_seconds: int = Field(default=3600, ge=0)
    # Time kept back at the end of an invocation to store progress and release the document:
    # after the first, a model call starts only if the slowest so far could finish before it.
    deadline_margin_seconds: float = Field(default=10.0, ge=0)
    # Sweeper: a `queued` document whose message was due back this long ago is re-sent (a
    # lost send, a message dead-lettered without the document being told); at most
    # `sweep_batch_size` documents per run.
    sweep_stuck_after_seconds: int = Field(default=900, ge=0)
    sweep_batch_size: int = Field(default=100, ge=1)
    # A document whose workers died this many times (claimed and never finished: a timeout or
    # an out-of-memory kill, counted on its record across redeliveries and sweeper re-sends)
    # is `failed` instead of being claimed again.
    max_worker_deaths: int = Field(default=3, ge=1)

    def model_calls_note(self) -> str:
        """What /ready says about model concurrency: the calls one invocation makes at once
        and the host's slots, flagged when the two cannot hold (the template keeps them)."""
        note = f"{self.llm_parallel_calls} model call(s) per summarize invocation"
        if not self.model_host_slots:
            return note + "; host slots not stated (MODEL_HOST_SLOTS)"
        note += f", one invocation per host slot ({self.model_host_slots})"
        if self.llm_parallel_calls > 1:
            calls = self.llm_parallel_calls * self.model_host_slots
            note += f": OVERSUBSCRIBED, up to {calls} calls for {self.model_host_slots} slots"
        return note

    def webhook_secret_entries(self) -> str:
        return self.webhook_secrets.get_secret_value() if self.webhook_secrets else ""


@dataclasses.dataclass(frozen=True)
class SettingsSlice:
    """A use case's typed part of the settings: a frozen dataclass whose fields are named as
    the settings they take, so a use case sees only what it uses (and a test builds one from
    any `Settings`)."""

    @classmethod
    def of(cls, settings: Settings) -> Self:
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

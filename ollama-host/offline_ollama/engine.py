"""llama.cpp (through cyllama's low-level bindings) behind a small, honest interface.

One ``Engine`` per served model holds the weights once; each parallel slot owns its own
``LlamaContext`` (KV cache), reused while it is large enough for the request's ``num_ctx``.
The token loop is ours, so the counts and durations we report are the real ones.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cyllama._vendor.jinja2.sandbox import ImmutableSandboxedEnvironment
from cyllama.llama.llama_cpp import (
    LlamaContext,
    LlamaContextParams,
    LlamaModel,
    LlamaModelParams,
    LlamaSampler,
    LlamaSamplerChainParams,
    disable_logging,
    ggml_backend_load_all,
    llama_batch_get_one,
)
from cyllama.llama.token_decoder import TokenDecoder

from .models import ModelSpec, check_not_impostor

N_BATCH = 512
MIN_CONTEXT = 512  # smallest llama.cpp context we allocate; the request's window is enforced

# Ollama's gemma3 TEMPLATE, verbatim: a system message becomes its own user turn.
GEMMA3_TEMPLATE = """{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if or (eq .Role "user") (eq .Role "system") }}<start_of_turn>user
{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ if not $last }}<end_of_turn>
{{ end }}
{{- end }}
{{- end }}"""

# GGUF general.file_type -> the names Ollama prints as quantization_level.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}  # fmt: skip


class PromptTooLong(ValueError):
    """The rendered prompt does not fit in the requested context window."""


@dataclass
class Options:
    """The Ollama options we honour (defaults are Ollama's)."""

    num_ctx: int = 4096
    num_predict: int = -1  # -1 / -2: until the window is full
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int = -1  # -1: random
    stop: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, *layers: Mapping[str, Any] | None) -> Options:
        """Merge option mappings (later wins); raise ValueError on a badly typed value."""
        opts = cls()
        for layer in layers:
            for key, value in (layer or {}).items():
                if value is None or not hasattr(opts, key):
                    continue  # Ollama ignores options it does not use on this backend
                current = getattr(opts, key)
                try:
                    if key == "stop":
                        value = [value] if isinstance(value, str) else [str(s) for s in value]
                    elif isinstance(current, int):
                        if isinstance(value, bool) or float(value) != int(value):
                            raise TypeError
                        value = int(value)
                    else:
                        value = float(value)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"option {key!r} has an invalid value {value!r}") from exc
                setattr(opts, key, value)
        return opts


@dataclass
class Stats:
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0  # ns
    eval_count: int = 0
    eval_duration: int = 0  # ns
    done_reason: str = "stop"
    output_tokens: list[int] = field(default_factory=list)


def _held_suffix(text: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that could still become a stop sequence."""
    best = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:k]):
                best = k
                break
    return best


def _typed(value: str) -> Any:
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value, value)


class Engine:
    """A loaded GGUF model plus ``slots`` llama.cpp contexts."""

    def __init__(self, spec: ModelSpec, slots: int, n_threads: int) -> None:
        disable_logging()
        ggml_backend_load_all()
        self.spec = spec
        self.n_threads = n_threads
        started = time.perf_counter()
        self.model = LlamaModel(str(spec.path), LlamaModelParams())
        self.load_seconds = time.perf_counter() - started
        self.vocab = self.model.get_vocab()
        raw_meta: dict[str, str] = dict(self.model.metadata())
        self.architecture = raw_meta.get("general.architecture", "unknown")
        self.n_params = int(self.model.n_params)
        check_not_impostor(spec, self.architecture, self.n_params)
        self.n_ctx_train = int(self.model.n_ctx_train)
        # gemma3 models get Ollama's gemma3 template (as `ollama run gemma3:1b` would); others
        # their own GGUF chat template.
        self.chat_format = "gemma3" if self.architecture == "gemma3" else "gguf-template"
        self.chat_template = raw_meta.get("tokenizer.chat_template", "")
        self.file_type = FILE_TYPES.get(int(raw_meta.get("general.file_type", "-1")), "unknown")
        self.model_info: dict[str, Any] = {
            k: _typed(v)
            for k, v in sorted(raw_meta.items())
            if k not in ("general.name", "tokenizer.chat_template")
        }
        self.model_info["general.parameter_count"] = self.n_params
        self._contexts: list[LlamaContext | None] = [None] * slots
        self._active = 0
        self._active_lock = threading.Lock()
        bos = self.vocab.token_bos()
        self._bos_text = self.vocab.token_to_piece(bos, special=True) if bos >= 0 else ""
        self._add_bos = bool(self.vocab.get_add_bos())

    # -- prompts -------------------------------------------------------------------------------

    def render_chat(self, messages: Sequence[Mapping[str, Any]]) -> str:
        msgs = [
            {"role": str(m.get("role", "")), "content": str(m.get("content") or "")}
            for m in messages
        ]
        if self.chat_format == "gemma3":
            out = []
            for i, msg in enumerate(msgs):
                last = i == len(msgs) - 1
                if msg["role"] in ("user", "system"):
                    out.append(f"<start_of_turn>user\n{msg['content']}<end_of_turn>\n")
                    if last:
                        out.append("<start_of_turn>model\n")
                elif msg["role"] == "assistant":
                    out.append(f"<start_of_turn>model\n{msg['content']}")
                    if not last:
                        out.append("<end_of_turn>\n")
            return "".join(out)
        if not self.chat_template:
            raise ValueError(f"{self.spec.name} has no chat template; use /api/generate raw")
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = lambda v, **_: json.dumps(v, ensure_ascii=False)
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        eos = self.vocab.token_eos()
        return str(
            env.from_string(self.chat_template).render(
                messages=msgs,
                add_generation_prompt=True,
                bos_token=self._bos_text,
                eos_token=self.vocab.token_to_piece(eos, special=True) if eos >= 0 else "",
            )
        )

    def tokenize(self, text: str, *, bos: bool = True) -> list[int]:
        """Token ids exactly as they will be evaluated (BOS added when the model wants one)."""
        add_bos = bos and self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return list(self.vocab.tokenize(text, add_special=add_bos, parse_special=True))

    @property
    def template_text(self) -> str:
        return GEMMA3_TEMPLATE if self.chat_format == "gemma3" else self.chat_template

    # -- generation ----------------------------------------------------------------------------

    def _context(self, slot: int, n_ctx: int) -> LlamaContext:
        ctx = self._contexts[slot]
        if ctx is not None and ctx.n_ctx >= n_ctx:
            ctx.kv_cache_clear()
            return ctx
        if ctx is not None:
            ctx.close()
        params = LlamaContextParams()
        params.n_ctx = n_ctx
        params.n_batch = N_BATCH
        params.n_ubatch = N_BATCH
        params.n_threads = self.n_threads
        params.n_threads_batch = self.n_threads
        params.no_perf = True
        ctx = LlamaContext(self.model, params)
        ctx.install_cancel_callback()
        self._contexts[slot] = ctx
        return ctx

    def window(self, opts: Options) -> int:
        """The context window a request gets: its num_ctx, capped at the training context."""
        return max(1, min(opts.num_ctx, self.n_ctx_train))

    def check_fits(self, n_prompt: int, opts: Options) -> None:
        window = self.window(opts)
        if n_prompt >= window:
            capped = f" (capped from {opts.num_ctx})" if window < opts.num_ctx else ""
            raise PromptTooLong(
                f"prompt is {n_prompt} tokens, which does not fit the context window "
                f"num_ctx={window}{capped} of {self.spec.name}; raise num_ctx or shorten the "
                "input (this host refuses instead of truncating)"
            )

    def prepare(self, slot: int, opts: Options) -> None:
        """Make sure ``slot`` has a context big enough for this request (counts as load time)."""
        self._context(slot, max(MIN_CONTEXT, self.window(opts)))

    def generate(
        self,
        slot: int,
        prompt: list[int],
        opts: Options,
        stats: Stats,
        cancelled: Callable[[], bool],
    ) -> Iterator[str]:
        """Yield text pieces; fill ``stats`` as it goes. Stops on EOG, stop string, num_predict,
        a full window (done_reason "length") or cancellation (raises InterruptedError)."""
        window = self.window(opts)
        self.check_fits(len(prompt), opts)
        ctx = self._context(slot, max(MIN_CONTEXT, window))  # may be larger; `limit` enforces
        ctx.cancel = False
        sampler = self._sampler(opts)
        limit = window - len(prompt)
        if opts.num_predict >= 0:
            limit = min(limit, opts.num_predict)
        with self._active_lock:
            self._active += 1
        try:
            yield from self._run(ctx, sampler, prompt, opts, limit, stats, cancelled)
        finally:
            with self._active_lock:
                self._active -= 1
            sampler.close()

    def _threads(self) -> int:
        # Parallel slots share the cores instead of oversubscribing them.
        return max(1, self.n_threads // max(1, self._active))

    def _run(
        self,
        ctx: LlamaContext,
        sampler: LlamaSampler,
        prompt: list[int],
        opts: Options,
        limit: int,
        stats: Stats,
        cancelled: Callable[[], bool],
    ) -> Iterator[str]:
        stats.prompt_eval_count = len(prompt)
        started = time.perf_counter_ns()
        n = self._threads()
        ctx.set_n_threads(n, n)
        for i in range(0, len(prompt), N_BATCH):
            if cancelled():
                raise InterruptedError("cancelled")
            ctx.decode(llama_batch_get_one(prompt[i : i + N_BATCH], i))
        stats.prompt_eval_duration = time.perf_counter_ns() - started

        decoder = TokenDecoder(self.vocab)
        stops = [s for s in opts.stop if s]
        held = ""
        pos = len(prompt)
        started = time.perf_counter_ns()
        stats.done_reason = "length"
        try:
            while stats.eval_count < limit:
                if cancelled():
                    raise InterruptedError("cancelled")
                token = sampler.sample(ctx, -1)
                if self.vocab.is_eog(token):
                    stats.done_reason = "stop"
                    break
                stats.eval_count += 1
                stats.output_tokens.append(token)
                held += decoder.decode(token)
                hit = min((j for j in (held.find(s) for s in stops) if j >= 0), default=-1)
                if hit >= 0:
                    held = held[:hit]
                    stats.done_reason = "stop"
                    break
                keep = _held_suffix(held, stops)
                if len(held) > keep:
                    yield held[: len(held) - keep]
                    held = held[len(held) - keep :]
                if stats.eval_count >= limit:
                    break
                n = self._threads()
                ctx.set_n_threads(n, n)
                ctx.decode(llama_batch_get_one([token], pos))
                pos += 1
            if stats.done_reason == "length":
                held += decoder.flush()
        finally:
            stats.eval_duration = time.perf_counter_ns() - started
        if held:
            yield held

    def _sampler(self, opts: Options) -> LlamaSampler:
        sampler = LlamaSampler(LlamaSamplerChainParams())
        if opts.repeat_last_n != 0 and (
            opts.repeat_penalty != 1.0 or opts.presence_penalty or opts.frequency_penalty
        ):
            last_n = self.window(opts) if opts.repeat_last_n < 0 else opts.repeat_last_n
            sampler.add_penalties(
                self.vocab.n_vocab,
                last_n,
                opts.repeat_penalty,
                opts.frequency_penalty,
                opts.presence_penalty,
            )
        if opts.temperature <= 0:
            sampler.add_greedy()
            return sampler
        if opts.top_k > 0:
            sampler.add_top_k(opts.top_k)
        if 0 < opts.top_p < 1:
            sampler.add_top_p(opts.top_p, 1)
        if opts.min_p > 0:
            sampler.add_min_p(opts.min_p, 1)
        sampler.add_temp(opts.temperature)
        seed = opts.seed if opts.seed >= 0 else random.getrandbits(31)
        sampler.add_dist(seed & 0xFFFFFFFF)
        return sampler

    def cancel_all(self) -> None:
        """Abort any decode in progress (used on shutdown)."""
        for ctx in self._contexts:
            if ctx is not None:
                ctx.cancel = True

    def close(self) -> None:
        for i, ctx in enumerate(self._contexts):
            if ctx is not None:
                ctx.close()
                self._contexts[i] = None
        self.model.close()


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)

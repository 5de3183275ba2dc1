"""Measure prompt and generation speed of the offline host's models on this machine.

    PYTHONPATH=ollama-host python ollama-host/measure.py            # both models, 1 and 2 threads
    PYTHONPATH=ollama-host python ollama-host/measure.py --models smollm2:135m --threads 2

Prints a Markdown table (the one in README.md comes from here), then times one summarize-shaped
call end to end through the HTTP server with the official ``ollama`` client.
Numbers are only meaningful on an otherwise idle machine: llama.cpp's threads spin-wait, so
other busy processes slow it far more than their share.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the server does (see __main__.py)

from offline_ollama.engine import Engine, Options, Stats
from offline_ollama.models import resolve

TEXT = (
    "The committee reviewed the quarterly results and noted that revenue grew in every region "
    "except the north, where a late harvest delayed shipments. Costs rose with fuel prices, "
    "but the new routing software cut delivery times by a fifth. The board asked for a plan "
    "to reduce the dependence on a single supplier before the winter season. "
)


def bench(name: str, threads: int, prompt_tokens: int, gen_tokens: int, repeat: int) -> str:
    spec = resolve(name)  # (gemma3:270m: verifies the assembled file's sha256, ~0.5 s)
    started = time.perf_counter()
    engine = Engine(spec, slots=1, n_threads=threads)
    load = time.perf_counter() - started
    text = TEXT * (prompt_tokens // 60 + 2)
    tokens = engine.tokenize(text)[:prompt_tokens]
    opts = Options(num_ctx=prompt_tokens + gen_tokens + 16, num_predict=gen_tokens, temperature=0)
    engine.prepare(0, opts)
    prompt_rates, gen_rates, produced = [], [], []
    for _ in range(repeat):
        stats = Stats()
        for _piece in engine.generate(0, tokens, opts, stats, lambda: False):
            pass
        prompt_rates.append(stats.prompt_eval_count / (stats.prompt_eval_duration / 1e9))
        gen_rates.append(stats.eval_count / (stats.eval_duration / 1e9))
        produced.append(stats.eval_count)
    engine.close()
    return (
        f"| {name} | {threads} | {len(tokens)} | {statistics.median(prompt_rates):.0f} | "
        f"{min(produced)} | {statistics.median(gen_rates):.1f} | {load:.2f} |"
    )


def end_to_end(name: str, threads: int) -> str:
    import ollama
    from offline_ollama import start_in_subprocess

    document = TEXT * 20  # about 5 KB
    with start_in_subprocess(model=name, extra_args=["--threads", str(threads)]) as host:
        client = ollama.Client(host=host.url)
        started = time.perf_counter()
        resp = client.chat(
            model=name,
            messages=[
                {"role": "system", "content": "Summarise the document in three sentences."},
                {"role": "user", "content": document},
            ],
            options={"num_ctx": 4096, "num_predict": 128, "temperature": 0, "seed": 1},
            keep_alive=-1,
        )
        wall = time.perf_counter() - started
    return (
        f"{name}: 5 KB document -> prompt_eval_count={resp.prompt_eval_count}, "
        f"eval_count={resp.eval_count}, done_reason={resp.done_reason}, wall {wall:.1f} s "
        f"(prompt {(resp.prompt_eval_duration or 0) / 1e9:.1f} s, "
        f"generation {(resp.eval_duration or 0) / 1e9:.1f} s)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=["smollm2:135m", "gemma3:270m"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--prompt-tokens", type=int, default=1000)
    p.add_argument("--gen-tokens", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-end-to-end", action="store_true")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("| model | threads | prompt tokens | prompt tok/s | generated | gen tok/s | load s |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        for threads in args.threads:
            print(bench(name, threads, args.prompt_tokens, args.gen_tokens, args.repeat))
    if not args.no_end_to_end:
        for name in args.models:
            print(end_to_end(name, max(args.threads)))


if __name__ == "__main__":
    main()

"""`dlm-bench serve`: a bounded load test of `dlm-code serve` on the loopback interface.

The server runs in this process (uvicorn in a thread, on a free loopback port) with the model and batching
settings given; an asyncio client (httpx) sends a fixed number of `/v1/completions` requests, holes cut
from HumanEval solutions (each line of a solution in turn, the rest of the file as prompt and suffix),
keeping `concurrency` requests in flight. For each concurrency: requests per second, p50/p95 latency,
requests answered 200, refused 503 or lost (no answer), and the server's batches. The ratio of requests
per second against concurrency 1 says what batching buys on this machine.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import threading
import time
from dataclasses import asdict, dataclass

import httpx


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    ok: int
    refused: int  # 503
    failed: int  # another status
    lost: int  # no answer at all (connection error or timeout)
    seconds: float
    requests_per_s: float
    p50_s: float
    p95_s: float
    batches: int
    mean_batch: float


def holes(count: int, max_chars: int = 300) -> list[tuple[str, str]]:
    """(prompt, suffix) pairs: single-line holes of HumanEval solutions, short enough for a small window."""
    from apps.code import load_problems

    pairs = []
    for problem in load_problems():
        code = problem.prompt + problem.canonical_solution
        lines = code.splitlines(keepends=True)
        start = len(problem.prompt.splitlines())
        for i in range(start, len(lines)):
            if lines[i].strip():
                prompt, suffix = "".join(lines[:i]), "".join(lines[i + 1 :])
                pairs.append((prompt[-max_chars:], suffix[:max_chars]))
                break
        if len(pairs) == count:
            break
    return pairs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Running:
    """The server on a loopback port in a background thread, as a context manager."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Running:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


async def _load(url: str, model: str, pairs: list[tuple[str, str]], count: int, concurrency: int,
                max_tokens: int, timeout: float) -> tuple[list[float], dict[str, int], float]:  # fmt: skip
    latencies: list[float] = []
    outcome = {"ok": 0, "refused": 0, "failed": 0, "lost": 0}
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def one(i: int) -> None:
            prompt, suffix = pairs[i % len(pairs)]
            body = {"model": model, "prompt": prompt, "suffix": suffix, "max_tokens": max_tokens, "seed": i, "truncate": True}
            async with gate:
                start = time.perf_counter()
                try:
                    answer = await client.post("/v1/completions", json=body)
                except httpx.HTTPError:
                    outcome["lost"] += 1
                    return
                latencies.append(time.perf_counter() - start)
                key = "ok" if answer.status_code == 200 else "refused" if answer.status_code == 503 else "failed"
                outcome[key] += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return latencies, outcome, time.perf_counter() - start


def load_test(app, model: str, concurrencies: list[int], count: int, max_tokens: int = 16, timeout: float = 600.0):
    """One LoadResult per concurrency, against one server (its model loaded once)."""
    pairs = holes(max(count, 1))
    results = []
    with Running(app) as running:
        service = app.state.service
        for concurrency in concurrencies:
            before = len(service.stats.sizes)
            latencies, outcome, seconds = asyncio.run(
                _load(running.url, model, pairs, count, concurrency, max_tokens, timeout)
            )
            sizes = service.stats.sizes[before:]
            p50, p95 = (statistics.quantiles(latencies, n=20, method="inclusive")[i] for i in (9, 18)) if len(latencies) > 1 else (latencies or [0.0]) * 2
            results.append(LoadResult(
                concurrency, count, outcome["ok"], outcome["refused"], outcome["failed"], outcome["lost"], seconds,
                outcome["ok"] / seconds, p50, p95, len(sizes), statistics.fmean(sizes) if sizes else 0.0,
            ))  # fmt: skip
    return results


def report(results: list[LoadResult], settings: dict) -> dict:
    base = results[0].requests_per_s if results and results[0].requests_per_s else None
    rows = [asdict(r) for r in results]
    for row in rows:
        row["speedup"] = row["requests_per_s"] / base if base else None
    return {"benchmark": "serve", "results": rows, "settings": settings}

"""Sampling speed side by side: one token per step, parallel decoding, and parallel decoding with cached context.

All three modes fill the same canvases with the same seeds in one process (`dlm-bench sample`):

- ``one_per_step``: the ``fixed`` strategy with k = 1, the most confident masked position per step and row;
- ``parallel``: the ``threshold`` strategy (Fast-dLLM's confidence-aware parallel decoding), or with
  ``Settings.tokens_per_step`` the model-free alternative, the ``fixed`` strategy with that k (and the step
  bound divided by k, so that the order noise fades over the steps actually taken);
  both rank with the task's order noise (``Settings.order_noise``: the protein app's, 0 for code);
- ``parallel_cache``: the same with cached context (``SamplerConfig(cache=True)``).

Measured per mode, after one warm-up run on the first input: tokens/s, the positions generated (every free
position of every row) per second of wall time spent in `generate` over all inputs; forwards per token,
the denoiser forwards each row took (a row counts in a step while it still holds a mask) over the
positions generated, so one token a step scores 1 and remasking more; the time spent in the remasker
hook as a share of the sampling time; and the task's quality figures (`SampleTask.quality`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

from shared_dlm import Blocks, Canvas, Fixed, SamplerConfig, Threshold, Trace, generate

MODES = ("one_per_step", "parallel", "parallel_cache")


@dataclass
class Input:
    """One canvas to fill with its seed; a fresh remasker for each run (remaskers keep state)."""

    canvas: Canvas  # (B, L)
    seed: int
    remasker: Callable[[], Callable | None] = lambda: None
    steps: int | None = None  # the bound on steps; default: the most masked positions of a row
    about: Any = None  # what the task needs to judge the filled canvas


class SampleTask(Protocol):
    """A task of the benchmark: its model, its inputs, and the quality of the filled canvases."""

    model: torch.nn.Module
    num_inputs: int
    num: int  # rows per input (code: per hole length)
    temperature: float

    def inputs(self) -> list[Input]: ...

    def quality(self, inputs: list[Input], outputs: list[Canvas]) -> dict[str, float]: ...


@dataclass
class Settings:
    threshold: float = 0.9
    refresh_every: int = 4
    block_length: int | None = None
    compile: bool = False
    order_noise: float = 0.0  # Gumbel noise on the ranking of both modes (shared_dlm.sampling.confidence)
    tokens_per_step: int | None = None  # parallel modes: k tokens a step (``fixed``) instead of the threshold


@dataclass
class ModeResult:
    tokens_per_s: float
    forwards_per_token: float
    quality: dict[str, float]
    tokens: int
    seconds: float
    steps: int  # denoiser calls over all inputs
    cached_steps: int  # of which on cached context
    remask_share: float | None  # time in the remasker hook over the sampling time; None without one


class TimedRemasker:
    """Adds up the wall time of a remasker's calls (after the device has finished the step's work)."""

    def __init__(self, remasker, device: torch.device):
        self.remasker, self.device, self.seconds = remasker, device, 0.0

    def __call__(self, canvas: Canvas, step: int):
        _sync(self.device)
        start = time.perf_counter()
        out = self.remasker(canvas, step)
        self.seconds += time.perf_counter() - start
        return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mode_config(mode: str, steps: int, temperature: float, settings: Settings) -> SamplerConfig:
    """The sampler of a mode; ``steps`` bounds one token a step (the most masked positions of a row)."""
    noise, k = settings.order_noise, settings.tokens_per_step
    if mode == "one_per_step":
        strategy = Fixed(k=1, order_noise=noise)
    elif k is not None:
        strategy, steps = Fixed(k=k, order_noise=noise), -(-steps // k)
    else:
        strategy = Threshold(settings.threshold, order_noise=noise)
    if settings.block_length:
        strategy = Blocks(strategy, settings.block_length)
    return SamplerConfig(
        steps=steps, strategy=strategy, temperature=temperature, cache=mode == "parallel_cache",
        refresh_every=settings.refresh_every, compile=settings.compile,
    )  # fmt: skip


def row_forwards(canvas: Canvas, trace: Trace, mask_id: int) -> int:
    """Forwards summed over rows: in each step, the rows that held a mask before it."""
    free = ~canvas.fixed if canvas.attention_mask is None else ~canvas.fixed & canvas.attention_mask  # (B, L)
    free, before, total = free.cpu(), canvas.ids.cpu(), 0
    for record in trace:
        total += int(((before == mask_id) & free).any(-1).sum())
        before = record.ids
    return total


def run_mode(task: SampleTask, inputs: list[Input], mode: str, settings: Settings) -> ModeResult:
    """Fill every input once untimed (the first) and then all of them timed."""
    model = task.model
    device = next(model.parameters()).device
    mask_id = model.spec.mask_id

    def fill(item: Input, trace: Trace | None, remasker):
        steps = item.steps or max(int(item.canvas.masked(mask_id).sum(-1).max()), 1)
        config = mode_config(mode, steps, task.temperature, settings)
        generator = torch.Generator(device=device).manual_seed(item.seed)
        return generate(model, item.canvas, config, remasker=remasker, trace=trace, generator=generator)

    fill(inputs[0], None, inputs[0].remasker())  # warm-up: allocations, kernels, compilation
    outputs, seconds, remask_seconds, forwards, tokens, steps, cached = [], 0.0, 0.0, 0, 0, 0, 0
    has_remasker = False
    for item in inputs:
        trace = Trace()
        remasker = item.remasker()
        timed = None if remasker is None else TimedRemasker(remasker, device)
        has_remasker |= timed is not None
        _sync(device)
        start = time.perf_counter()
        out = fill(item, trace, timed)
        _sync(device)
        seconds += time.perf_counter() - start
        remask_seconds += 0.0 if timed is None else timed.seconds
        outputs.append(out)
        tokens += int(item.canvas.masked(mask_id).sum())
        forwards += row_forwards(item.canvas, trace, mask_id)
        steps += len(trace)
        cached += sum(r.cached for r in trace)
    return ModeResult(
        tokens_per_s=tokens / seconds,
        forwards_per_token=forwards / tokens,
        quality=task.quality(inputs, outputs),
        tokens=tokens,
        seconds=seconds,
        steps=steps,
        cached_steps=cached,
        remask_share=remask_seconds / seconds if has_remasker else None,
    )


def bench_sample(task: SampleTask, settings: Settings, modes=MODES) -> dict:
    """The report of `dlm-bench sample --json` without the task's own fields."""
    inputs = task.inputs()
    results = {mode: run_mode(task, inputs, mode, settings) for mode in modes}
    base = results["one_per_step"].tokens_per_s if "one_per_step" in results else None
    report = {
        "modes": {
            mode: {
                "tokens_per_s": r.tokens_per_s,
                "forwards_per_token": r.forwards_per_token,
                "quality": r.quality,
                "tokens": r.tokens,
                "seconds": r.seconds,
                "steps": r.steps,
                "cached_steps": r.cached_steps,
                **({} if r.remask_share is None else {"remask_share": r.remask_share}),
            }
            for mode, r in results.items()
        },
        "speedups": {mode: r.tokens_per_s / base for mode, r in results.items()} if base else {},
    }
    report["speedup"] = report["speedups"].get("parallel_cache")
    return report

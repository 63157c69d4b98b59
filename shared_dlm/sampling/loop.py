"""The one denoising loop shared by every sampler.

Each step: run the denoiser on the canvas (forward.py: full, or on cached context), turn its logits into
a distribution per free position (temperature, top-k, top-p, allowed sets; the mask and pad tokens are
never proposed), draw a proposal x_0 at the masked ones, let the strategy pick the masked positions to
commit and the generated ones to remask, then let the optional Remasker hook send positions back to the
mask while steps remain. Fixed positions are never written. The loop stops as soon as nothing is masked;
the last step commits every position still masked. Without the cache every step works on tensors of the
same shapes (the free positions are fixed for the call): no step waits on a data-dependent shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from shared_dlm.canvas import Canvas, CanvasError, Remasker
from shared_dlm.model import TokenSpec
from shared_dlm.sampling.base import StepState, Strategy
from shared_dlm.sampling.confidence import Confidence
from shared_dlm.sampling.forward import Forwards


@dataclass
class SamplerConfig:
    steps: int = 64
    strategy: Strategy = field(default_factory=Confidence)
    temperature: float = 1.0  # 0 means greedy
    top_k: int | None = None
    top_p: float | None = None
    cache: bool = False  # reuse the context's keys and values across steps (forward.py); Denoiser models only
    refresh_every: int = 4  # with the cache: a full forward at least every this many steps
    autocast: bool = True  # run the denoiser under bf16 autocast on CUDA (no effect on a CPU)
    compile: bool = False  # torch.compile the denoiser in place on first use; compiling takes a minute or more
    # classifier-free guidance weight w (forward.py): logits uncond + w * (cond - uncond), the unconditional
    # forward not attending to the canvas's `control` positions; None: plain forwards; 0: unconditional
    guidance: float | None = None

    def validate(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be >= 0 and finite (0: greedy), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.refresh_every < 1:
            raise ValueError(f"refresh_every must be at least 1 step, got {self.refresh_every}")
        if self.guidance is not None and not (self.guidance >= 0 and math.isfinite(self.guidance)):
            raise ValueError(f"guidance weight must be a finite number >= 0 (0: unconditional, 1: conditional), got {self.guidance}")


@dataclass
class StepRecord:
    """What one step did, for replays in the dashboards. Tensors are (B, L) on the CPU."""

    step: int
    ids: Tensor  # the canvas after the step
    committed: Tensor  # positions that took a token this step
    remasked: Tensor  # generated positions the strategy sent back to the mask (ReMDM)
    hook_remasked: Tensor  # positions the Remasker hook sent back to the mask
    logp: Tensor  # log-probability of each position's current token when it was committed (0 if fixed)
    cached: bool = False  # the step's forward ran on cached context (only the positions that can change)


class Trace(list):
    """Collects a StepRecord per step; pass it as `trace=` to `generate`."""

    def __call__(self, record: StepRecord) -> None:
        self.append(record)


def filter_logits(logits: Tensor, temperature: float, top_k: int | None, top_p: float | None) -> Tensor:
    """Temperature, then top-k, then nucleus (top-p, Holtzman et al. 2020) filtering on (..., V) logits."""
    if temperature > 0:
        logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cum - sorted_logits.softmax(-1) >= top_p  # keep the smallest prefix reaching top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, -math.inf)
    return logits


def allowed_columns(canvas: Canvas, spec: TokenSpec) -> Tensor | None:
    """(C,) long: the tokens that some position of the canvas may take, when the allowed sets leave out at
    least half of the vocabulary (e.g. a protein canvas of a model whose vocabulary also holds control
    tokens); None otherwise. The loop then works on these C columns only: the same distribution, less work."""
    if canvas.allowed is None:
        return None
    union = canvas.allowed.reshape(-1, canvas.allowed.shape[-1]).any(0)
    union[spec.mask_id] = False
    if spec.pad_id is not None:
        union[spec.pad_id] = False
    if not union.any() or int(union.sum()) * 2 > spec.vocab_size:
        return None
    return union.nonzero().squeeze(-1)


def propose(
    logits: Tensor,
    index: Tensor,
    canvas: Canvas,
    masked: Tensor,
    spec: TokenSpec,
    config: SamplerConfig,
    generator: torch.Generator | None,
    probs: Tensor,
    columns: Tensor | None = None,
    allowed: Tensor | None = None,
) -> Tensor:
    """From logits (B, Q, V) at the positions index (B, Q): write the distribution there into probs
    (B, L, V) and return the proposal x0 (B, L), drawn at the masked positions, the current token elsewhere.
    The mask and pad tokens are never proposed. ``columns`` (``allowed_columns``): the only tokens any
    position may take; the others get probability 0 without being computed. ``allowed``: the canvas's
    allowed sets broadcast to (B, L, V), or already narrowed to (B, L, C) with ``columns``."""
    logits = logits.float()
    logits[..., spec.mask_id] = -math.inf
    if spec.pad_id is not None:
        logits[..., spec.pad_id] = -math.inf
    if columns is not None:
        logits = logits.index_select(-1, columns)  # (B, Q, C)
    if allowed is not None:
        logits = logits.masked_fill(~allowed.gather(1, index[..., None].expand_as(logits)), -math.inf)
    dead = torch.isinf(logits).all(-1, keepdim=True)  # fixed positions may have empty sets: give them anything finite
    logits = logits.masked_fill(dead, 0.0)
    logits = filter_logits(logits, config.temperature, config.top_k, config.top_p)
    dist = logits.softmax(-1)  # (B, Q, V) or (B, Q, C)
    if columns is not None:
        full = dist.new_zeros(*dist.shape[:-1], spec.vocab_size)
        dist = full.index_copy_(-1, columns, dist)
    probs.scatter_(1, index[..., None].expand_as(dist), dist)
    if config.temperature == 0:
        draw = dist.argmax(-1)
    else:
        small = dist if columns is None else dist.index_select(-1, columns)
        draw = torch.multinomial(small.flatten(0, 1), 1, generator=generator).view(index.shape)
        if columns is not None:
            draw = columns[draw]
    current = canvas.ids.gather(1, index)
    return canvas.ids.scatter(1, index, torch.where(masked.gather(1, index), draw, current))


@torch.no_grad()  # not inference_mode: callers may feed the outputs to a model with autograd on
def generate(
    model,
    canvas: Canvas,
    config: SamplerConfig | None = None,
    remasker: Remasker | None = None,
    trace: Callable[[StepRecord], None] | None = None,
    generator: torch.Generator | None = None,
) -> Canvas:
    """Fill every masked free position of `canvas` (not modified) and return the filled copy.

    The returned canvas carries `logp`, (B, L): each generated token's log-probability under the
    model's filtered distribution when it was committed, 0 at fixed positions.
    """
    config = config or SamplerConfig()
    config.validate()
    spec = model.spec
    canvas.validate(spec)
    if config.guidance is not None and (canvas.control is None or not canvas.control.any()):
        raise CanvasError("classifier-free guidance needs control positions on the canvas (Canvas.control)")
    device = next(model.parameters()).device
    if canvas.ids.device != device:
        raise CanvasError(f"canvas is on {canvas.ids.device} but the model is on {device}")
    out = canvas.clone()
    ids = out.ids
    free = ~out.fixed if out.attention_mask is None else ~out.fixed & out.attention_mask
    forwards = Forwards(model, free, out.attention_mask, config, control=out.control)
    logp = torch.zeros(ids.shape, device=device)
    probs = torch.zeros(*ids.shape, spec.vocab_size, device=device)  # (B, L, V), written where logits are fresh
    columns = allowed_columns(out, spec)
    allowed = out.allowed_for_batch()  # the sets never change during the call: narrowed once, not every step
    if columns is not None:
        allowed = allowed.index_select(-1, columns)
    for step in range(config.steps):
        masked = (ids == spec.mask_id) & free
        if not masked.any():
            break
        last = step == config.steps - 1
        window = masked if last else config.strategy.window(masked, free & ~masked, step, config.steps) & masked
        t = torch.full((ids.shape[0],), 1.0 - step / config.steps, device=device)
        logits, index, cached = forwards(ids, t, window, step, last)  # (B, Q, V), (B, Q)
        x0 = propose(logits, index, out, masked, spec, config, generator, probs, columns, allowed)
        state = StepState(step, config.steps, masked, free & ~masked, probs, x0, generator)
        commit = masked if last else config.strategy.commit(state) & window
        remasked = torch.zeros_like(masked) if last else config.strategy.remask(state) & state.generated
        ids.copy_(torch.where(commit, x0, ids).masked_fill_(remasked, spec.mask_id))
        logp = torch.where(commit, probs.gather(-1, x0[..., None]).squeeze(-1).clamp_min(1e-30).log(), logp)
        hook_remasked = torch.zeros_like(masked)
        if remasker is not None and not last:
            hook_remasked = remasker(out, step).to(device) & free & (ids != spec.mask_id)
            ids.masked_fill_(hook_remasked, spec.mask_id)
        logp.masked_fill_(remasked | hook_remasked, 0.0)
        if trace is not None:
            record = StepRecord(step, ids.cpu().clone(), commit.cpu(), remasked.cpu(), hook_remasked.cpu(), logp.cpu().clone(), cached)
            trace(record)
    out.logp = logp
    return out

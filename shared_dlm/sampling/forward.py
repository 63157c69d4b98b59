"""How the loop runs the denoiser: logits only where a sampler can use them, and optionally cached context.

Without the cache every step is a full forward over the canvas, and logits are returned at the free
positions only (a fixed (B, F) index, the same every step), so the output head and the sampling never
touch the fixed context.

With the cache (`SamplerConfig.cache`; Fast-dLLM's DualCache, Wu et al. 2025, and dKV-Cache, Ma et al.
2025): a *refresh* is a full forward that keeps every layer's keys and values and fixes the query set,
the strategy's window at that step (the masked positions it may commit: all of them, or the current
block's). Until the next refresh each step runs the transformer only on the query set: the positions
still masked and those committed since the refresh, which attend to the cached keys and values of all
other positions, before and after them alike (the context and the masks of later blocks, both stale in
the Fast-dLLM sense). A refresh happens on the first step, every `refresh_every` steps, on the last step,
when the strategy's window leaves the query set (a block completed in some row, or a remasked position
must be filled again) and when any position outside the query set changed (a remasker or ReMDM touched
it). With `refresh_every=1` every step is a full forward and the samples equal the uncached ones.

Classifier-free guidance (`SamplerConfig.guidance` = w; Ho & Salimans 2022, as masked diffusion LMs use it,
e.g. Nie et al. 2025): every forward runs the canvas twice in one batch of 2B rows, as it is (conditional)
and with its `control` positions not attended (unconditional), and returns uncond + w * (cond - uncond).
w = 1 runs only the conditional rows and w = 0 only the unconditional ones. It sits below the strategies,
so it composes with every one of them, with allowed sets, remaskers and the cache (which then holds 2B rows).

Models without `supports_cache` (the MaskedLMAdapter) run full forwards and the logits are gathered.
On CUDA the denoiser runs under bf16 autocast (`SamplerConfig.autocast`); `SamplerConfig.compile`
compiles it in place once (`nn.Module.compile`).
"""

from __future__ import annotations

import contextlib
import weakref

import torch
from torch import Tensor, nn

from shared_dlm.model import KVCache

_COMPILED: weakref.WeakSet = weakref.WeakSet()  # models already compiled in place


def index_of(selected: Tensor) -> Tensor:
    """(B, Q) long: each row's selected positions in order, padded with distinct unselected ones so that
    every row has Q = max(1, most selected in a row) entries. selected: (B, L) bool."""
    count = max(int(selected.sum(-1).max()), 1)
    order = (~selected).to(torch.uint8).argsort(dim=-1, stable=True)  # selected first, each group in order
    return order[:, :count]


class Forwards:
    """Runs the denoiser for one `generate` call; see the module docstring for what is recomputed when."""

    def __init__(self, model: nn.Module, free: Tensor, attention_mask: Tensor | None, config, control: Tensor | None = None):
        if config.compile and model not in _COMPILED:
            model.compile()
            _COMPILED.add(model)
        self.model = model
        self.positional = bool(getattr(model, "supports_cache", False))  # takes `positions` (and `cache`)
        self.cached = config.cache and self.positional
        self.every = config.refresh_every
        self.attention_mask = attention_mask
        self.guidance = config.guidance
        if self.guidance is not None:
            conditional = torch.ones_like(free) if attention_mask is None else attention_mask.bool()
            unconditional = conditional & ~control
            if self.guidance == 0:
                self.attention_mask = unconditional
            elif self.guidance != 1:
                self.attention_mask = torch.cat([conditional, unconditional])  # (2B, L)
        self.pairs = self.guidance is not None and self.guidance not in (0, 1)  # the 2B-row forward
        self.free = index_of(free)  # (B, F)
        device = free.device
        on_cuda = device.type == "cuda" and config.autocast
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext()
        self.cache: KVCache | None = None
        self.query: Tensor | None = None  # (B, L) bool: the positions recomputed at cached steps
        self.index: Tensor | None = None  # (B, Q): the query set as `index_of` lays it out
        self.snapshot: Tensor | None = None  # (B, L): the canvas at the last refresh
        self.refreshed_at = 0

    def _run(self, ids: Tensor, t: Tensor, index: Tensor, cache: KVCache | None = None) -> Tensor:
        if not self.pairs:
            return self._forward(ids, t, index, cache)
        both = self._forward(torch.cat([ids, ids]), torch.cat([t, t]), torch.cat([index, index]), cache).float()
        cond, uncond = both.chunk(2)
        return uncond + self.guidance * (cond - uncond)

    def _forward(self, ids: Tensor, t: Tensor, index: Tensor, cache: KVCache | None = None) -> Tensor:
        with self.autocast:
            if not self.positional:
                logits = self.model(ids, t=t, attention_mask=self.attention_mask)  # (B, L, V)
                return logits.gather(1, index[..., None].expand(-1, -1, logits.shape[-1]))
            return self.model(ids, t=t, attention_mask=self.attention_mask, cache=cache, positions=index)

    def __call__(self, ids: Tensor, t: Tensor, window: Tensor, step: int, last: bool) -> tuple[Tensor, Tensor, bool]:
        """Logits (B, Q, V) at the positions index (B, Q) and whether they came from cached context.
        ids: (B, L) the canvas before the step; window: (B, L) bool, the strategy's window."""
        if not self.cached:
            return self._run(ids, t, self.free), self.free, False
        if not (
            self.cache is None
            or last
            or step - self.refreshed_at >= self.every
            or (window & ~self.query).any()
            or ((ids != self.snapshot) & ~self.query).any()
        ):
            return self._run(ids, t, self.index, self.cache), self.index, True
        self.cache = KVCache()
        logits = self._run(ids, t, self.free, self.cache)
        self.query, self.index = window.clone(), index_of(window)
        self.snapshot, self.refreshed_at = ids.clone(), step
        return logits, self.free, False

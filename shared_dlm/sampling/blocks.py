"""Semi-autoregressive blocks (LLaDA, Nie et al. 2025, sec. 2.4; BD3-LM, Arriola et al. 2025).

The canvas is cut into blocks of `length` positions generated left to right; the steps are shared
evenly between the blocks that have anything to generate, and inside a block any other strategy
decides what to commit. Positions before the current block that were sent back to the mask (by a
remasker) stay candidates, so they are filled again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from shared_dlm.sampling.base import StepState, Strategy


@dataclass
class Blocks(Strategy):
    inner: Strategy
    length: int

    def __post_init__(self):
        if self.length < 1:
            raise ValueError(f"block length must be at least 1, got {self.length}")

    def _plan(self, state: StepState) -> tuple[Tensor, int, int]:
        """Candidates (B, L) up to the end of the current block, the step within it and its step count."""
        positions = state.masked.shape[1]
        free = (state.masked | state.generated).any(dim=0)  # (L,): not fixed, not padding, in some row
        active = sorted({int(p) // self.length for p in free.nonzero()})
        if state.num_steps < len(active):
            raise ValueError(f"{state.num_steps} steps cannot cover {len(active)} blocks of {self.length}: give more steps")
        share = [state.num_steps // len(active) + (i < state.num_steps % len(active)) for i in range(len(active))]
        start = 0
        for block, n in zip(active, share):
            if state.step < start + n:
                candidates = torch.zeros_like(state.masked)
                candidates[:, : min((block + 1) * self.length, positions)] = True
                return candidates, state.step - start, n
            start += n
        raise AssertionError(f"step {state.step} is past the {state.num_steps} steps planned")

    def commit(self, state: StepState) -> Tensor:
        candidates, step, num_steps = self._plan(state)
        return self.inner.commit(state.restrict(candidates, step, num_steps))

    def remask(self, state: StepState) -> Tensor:
        candidates, step, num_steps = self._plan(state)
        return self.inner.remask(state.restrict(candidates, step, num_steps)) & candidates

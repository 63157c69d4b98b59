"""Semi-autoregressive blocks (LLaDA, Nie et al. 2025, sec. 2.4; BD3-LM, Arriola et al. 2025).

The canvas is cut into blocks of `length` positions generated left to right, and inside a block any other
strategy decides what to commit. With a schedule-based inner strategy (confidence, ancestral, remdm) the
steps are shared evenly between the blocks that have anything to generate. With an adaptive one
(threshold, factor, fixed) each row's current block is its leftmost block that still holds a mask, so a
block takes as few steps as the confidences allow (Fast-dLLM, Wu et al. 2025). Positions before the
current block that were sent back to the mask (by a remasker) stay candidates, so they are filled again.
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

    @property
    def adaptive(self) -> bool:
        return self.inner.adaptive

    def _plan(self, masked: Tensor, generated: Tensor, step: int, num_steps: int) -> tuple[Tensor, int, int]:
        """Candidates (B, L) up to the end of the current block, the step within it and its step count."""
        positions = masked.shape[1]
        if self.inner.adaptive:  # each row's leftmost block with a mask; the inner strategy counts no steps
            first = torch.where(masked.any(-1), masked.float().argmax(-1), positions)  # (B,) first masked position
            end = (first // self.length + 1) * self.length
            return torch.arange(positions, device=masked.device)[None, :] < end[:, None], step, num_steps
        free = (masked | generated).any(dim=0)  # (L,): not fixed, not padding, in some row
        active = sorted({int(p) // self.length for p in free.nonzero()})
        if num_steps < len(active):
            raise ValueError(f"{num_steps} steps cannot cover {len(active)} blocks of {self.length}: give more steps")
        share = [num_steps // len(active) + (i < num_steps % len(active)) for i in range(len(active))]
        start = 0
        for block, n in zip(active, share):
            if step < start + n:
                candidates = torch.zeros_like(masked)
                candidates[:, : min((block + 1) * self.length, positions)] = True
                return candidates, step - start, n
            start += n
        raise AssertionError(f"step {step} is past the {num_steps} steps planned")

    def window(self, masked: Tensor, generated: Tensor, step: int, num_steps: int) -> Tensor:
        return self._plan(masked, generated, step, num_steps)[0] & masked

    def commit(self, state: StepState) -> Tensor:
        candidates, step, num_steps = self._plan(state.masked, state.generated, state.step, state.num_steps)
        return self.inner.commit(state.restrict(candidates, step, num_steps))

    def remask(self, state: StepState) -> Tensor:
        candidates, step, num_steps = self._plan(state.masked, state.generated, state.step, state.num_steps)
        return self.inner.remask(state.restrict(candidates, step, num_steps)) & candidates

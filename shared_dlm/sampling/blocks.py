"""Semi-autoregressive blocks (LLaDA, Nie et al. 2025, sec. 2.4; BD3-LM, Arriola et al. 2025).

Each row's free positions (those a sampler fills: not fixed, not padding) are cut into blocks of `length`,
counted from the row's first free position and skipping fixed ones (a prompt, a motif, a hole's context), and
generated left to right; inside a block any other strategy decides what to commit. So rows whose free
regions start at different places (holes behind prefixes of different lengths in one batch) each go block
by block through their own region. With a schedule-based inner strategy (confidence, ancestral, remdm) the
steps are shared evenly between the blocks of the row that has the most. With an adaptive one
(threshold, factor, fixed) each row's current block is its leftmost block that still holds a mask, so a
block takes as few steps as the confidences allow (Fast-dLLM, Wu et al. 2025); it is told the steps left
over the blocks left as its own budget (what `fixed` spreads a block over when k a step would not finish).
Positions before the current block that were sent back to the mask (by a remasker) stay candidates, so they
are filled again.
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
        free = masked | generated  # (B, L): the positions a sampler fills (not fixed, not padding)
        block = (free.long().cumsum(-1) - 1) // self.length  # (B, L): each free position's block in its row
        if self.inner.adaptive:  # each row's leftmost block with a mask
            big = torch.iinfo(block.dtype).max
            current = torch.where(masked, block, big).min(-1, keepdim=True).values  # (B, 1)
            # the steps left, shared between the blocks left (the current one to the row's last with a mask; those
            # after the current one are untouched, so all hold masks), in the row with most: the inner strategy's
            # budget for this block, so that `fixed` spreads a hole over the steps it is given
            last = torch.where(masked, block, -1).max(-1, keepdim=True).values  # (B, 1)
            left = max(int((last - current + 1).max()), 1)
            return free & (block <= current), 0, max((num_steps - step) // left, 1)
        count = int(block[free].max()) + 1 if free.any() else 1  # the most blocks any row has
        if num_steps < count:
            raise ValueError(f"{num_steps} steps cannot cover {count} blocks of {self.length}: give more steps")
        share = [num_steps // count + (i < num_steps % count) for i in range(count)]
        start = 0
        for k, n in enumerate(share):
            if step < start + n:
                return free & (block <= k), step - start, n
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

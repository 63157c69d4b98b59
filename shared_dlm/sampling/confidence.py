"""Low-confidence remasking (LLaDA, Nie et al. 2025, Alg. 5; MaskGIT, Chang et al. 2022).

At each step every masked position gets a proposal; the most confident ones are kept and the others
go back to the mask, so that the masked positions are spread evenly over the remaining steps.
Confidence is the proposal's probability, the margin between the two most likely tokens
(Kim et al. 2025), or the negative entropy of the position's distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from shared_dlm.sampling.base import StepState, Strategy, even_share, register_strategy, top_k_per_row

Measure = Literal["prob", "margin", "entropy"]


def confidence(probs: Tensor, x0: Tensor, measure: Measure) -> Tensor:
    """(B, L) confidence of the proposals x0 (B, L) under probs (B, L, V)."""
    if measure == "prob":
        return probs.gather(-1, x0[..., None]).squeeze(-1)
    if measure == "margin":
        top2 = probs.topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]
    if measure == "entropy":
        return (probs * torch.log(probs.clamp_min(1e-12))).sum(-1)
    raise ValueError(f"unknown confidence measure {measure!r}; expected 'prob', 'margin' or 'entropy'")


@register_strategy("confidence")
@dataclass
class Confidence(Strategy):
    measure: Measure = "prob"

    def __post_init__(self):
        if self.measure not in ("prob", "margin", "entropy"):
            raise ValueError(f"unknown confidence measure {self.measure!r}; expected 'prob', 'margin' or 'entropy'")

    def commit(self, state: StepState) -> Tensor:
        score = confidence(state.probs, state.x0, self.measure)
        return top_k_per_row(score, state.masked, even_share(state))

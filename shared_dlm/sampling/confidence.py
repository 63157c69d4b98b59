"""Low-confidence remasking (LLaDA, Nie et al. 2025, Alg. 5; MaskGIT, Chang et al. 2022).

At each step every masked position gets a proposal; the most confident ones are kept and the others
go back to the mask, so that the masked positions are spread evenly over the remaining steps.
Confidence is the proposal's probability, the margin between the two most likely tokens
(Kim et al. 2025), or the negative entropy of the position's distribution.

Order noise (MaskGIT's "choice temperature"): the positions are ranked by log-confidence plus Gumbel noise
of scale ``order_noise`` x (1 - (step + 1) / steps), so that early steps choose almost at random and the last
one by confidence alone. A generator whose distributions are broad (a protein generator: about 16 likely residues a
position) otherwise commits its safest guess first, and each committed residue makes the same residue the
safest guess elsewhere: designs collapse to runs of one residue (`dlm-bench sample --task protein`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from shared_dlm.sampling.base import StepState, Strategy, even_share, register_strategy, top_k_per_row

ORDER_NOISE_MEASURES = ("prob", "margin")  # confidences in [0, 1], ranked on their log; entropy is ranked as it is

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


def check_order_noise(order_noise: float) -> None:
    if not (order_noise >= 0.0 and math.isfinite(order_noise)):
        raise ValueError(f"order_noise must be a finite number >= 0 (0: rank by confidence alone), got {order_noise}")


def ranking(score: Tensor, state: StepState, order_noise: float, measure: Measure = "prob") -> Tensor:
    """(B, L) the key positions are ranked by: ``score`` itself without order noise, else its log (a
    probability or margin; negative entropy is already a log-scale figure) plus Gumbel noise of scale
    order_noise x (1 - (step + 1) / steps), drawn from the state's generator."""
    if order_noise == 0.0:
        return score
    key = score.clamp_min(1e-30).log() if measure in ORDER_NOISE_MEASURES else score
    device = state.generator.device if state.generator is not None else score.device
    u = torch.rand(score.shape, generator=state.generator, device=device).to(score.device)
    gumbel = -torch.log(-torch.log(u.clamp(1e-20, 1.0 - 1e-7)))
    return key + order_noise * max(state.s, 0.0) * gumbel


@register_strategy("confidence")
@dataclass
class Confidence(Strategy):
    measure: Measure = "prob"
    order_noise: float = 0.0

    def __post_init__(self):
        if self.measure not in ("prob", "margin", "entropy"):
            raise ValueError(f"unknown confidence measure {self.measure!r}; expected 'prob', 'margin' or 'entropy'")
        check_order_noise(self.order_noise)

    def commit(self, state: StepState) -> Tensor:
        score = confidence(state.probs, state.x0, self.measure)
        key = ranking(score, state, self.order_noise, self.measure)
        return top_k_per_row(key, state.masked, even_share(state))

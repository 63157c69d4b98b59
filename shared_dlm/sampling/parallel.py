"""Parallel decoding: commit as many masked positions per step as the model's confidence allows.

Confidence-aware parallel decoding (Fast-dLLM, Wu et al. 2025, arXiv:2505.22618): commit every masked
position whose proposal has probability above a threshold, and at least the most confident one, so that
each step makes progress. Its factor-based variant rests on the paper's theorem that greedy parallel
decoding of n tokens agrees with sequential decoding when each has confidence above 1 - eps with
(n + 1) eps <= 1: with the candidates' confidences sorted c_1 >= c_2 >= ..., commit the largest n with
(n + 1)(1 - c_n) < f. The model-free baseline commits a fixed number k of the most confident positions per
step, or more when the steps left could not take the masked positions k at a time: then it spreads them
evenly over those steps (as LLaDA's schedule does), rather than leaving the rest for the last step. All three
are adaptive: they stop when nothing is left, so `SamplerConfig.steps` only bounds them (the last step still
commits everything).

``order_noise`` (confidence.py) chooses the position a step commits when the rule itself commits none
(threshold, factor: their "at least one"), or every position (fixed), by noisy confidence; the positions
a confidence rule accepts are never changed by it, so that the rule keeps its meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from shared_dlm.sampling.base import (
    StepState,
    Strategy,
    even_share,
    register_strategy,
    top_k_per_row,
)
from shared_dlm.sampling.confidence import check_order_noise, confidence, ranking


def _most_confident(score: Tensor, candidates: Tensor) -> Tensor:
    """(B, L) bool: each row's most confident candidate (none in a row without candidates)."""
    return top_k_per_row(score, candidates, torch.ones(score.shape[0], dtype=torch.long, device=score.device))


@register_strategy("threshold")
@dataclass
class Threshold(Strategy):
    threshold: float = 0.9
    order_noise: float = 0.0

    adaptive = True

    def __post_init__(self):
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")
        check_order_noise(self.order_noise)

    def commit(self, state: StepState) -> Tensor:
        score = confidence(state.probs, state.x0, "prob")  # (B, L)
        above = state.masked & (score > self.threshold)
        fallback = _most_confident(ranking(score, state, self.order_noise), state.masked)
        return above | (fallback & ~above.any(-1, keepdim=True))


@register_strategy("factor")
@dataclass
class Factor(Strategy):
    factor: float = 1.0
    order_noise: float = 0.0

    adaptive = True

    def __post_init__(self):
        if self.factor <= 0.0:
            raise ValueError(f"factor must be positive, got {self.factor}")
        check_order_noise(self.order_noise)

    def commit(self, state: StepState) -> Tensor:
        score = confidence(state.probs, state.x0, "prob")  # (B, L)
        ranked = score.masked_fill(~state.masked, 0.0).sort(dim=-1, descending=True).values  # c_1 >= c_2 >= ...
        n = torch.arange(1, score.shape[1] + 1, device=score.device)
        fits = ((n + 1) * (1.0 - ranked) < self.factor) & (n <= state.masked.sum(-1, keepdim=True))
        count = (fits * n).amax(-1)  # (B,): the largest n that fits
        fallback = _most_confident(ranking(score, state, self.order_noise), state.masked)
        return top_k_per_row(score, state.masked, count) | (fallback & (count == 0)[:, None])


@register_strategy("fixed")
@dataclass
class Fixed(Strategy):
    k: int = 1
    order_noise: float = 0.0

    adaptive = True

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"fixed sampler: k must be at least 1 token per step, got {self.k}")
        check_order_noise(self.order_noise)

    def commit(self, state: StepState) -> Tensor:
        score = confidence(state.probs, state.x0, "prob")
        k = even_share(state).clamp_min(self.k)  # (B,): k, or the even share when k a step would not finish
        return top_k_per_row(ranking(score, state, self.order_noise), state.masked, k)

"""What a sampling strategy sees at each step, what it decides, and the registry of strategies by name.

The loop (loop.py) runs the model and draws a proposal x_0 for every position; a strategy only decides
which masked positions take their proposal now (`commit`), and, for remasking samplers, which generated
tokens go back to the mask (`remask`). Schedule-based strategies spread the masked positions over the
steps they are given; adaptive ones (`adaptive = True`: threshold, factor, fixed) commit as many as the
confidences allow, so that `steps` is only an upper bound.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from torch import Tensor


@dataclass
class StepState:
    step: int  # 0-based step index within the steps this strategy was given
    num_steps: int
    masked: Tensor  # (B, L) bool: free positions still masked, the candidates to commit
    generated: Tensor  # (B, L) bool: free positions holding a generated token
    # (B, L, V) float: the model's distribution after temperature, top-k/p and allowed sets, fresh at every
    # position of the strategy's `window`; elsewhere it may be stale (cached steps) or zero (fixed positions)
    probs: Tensor
    x0: Tensor  # (B, L) long: the proposal drawn from probs at every masked position, the current token elsewhere
    generator: torch.Generator | None

    @property
    def remaining(self) -> int:
        """Steps left, this one included."""
        return self.num_steps - self.step

    @property
    def t(self) -> float:
        """Time before this step on a uniform grid from 1 to 0."""
        return 1.0 - self.step / self.num_steps

    @property
    def s(self) -> float:
        """Time after this step."""
        return 1.0 - (self.step + 1) / self.num_steps

    def restrict(self, candidates: Tensor, step: int, num_steps: int) -> "StepState":
        """The same state with fewer candidates and a local step count (used by Blocks)."""
        return StepState(step, num_steps, self.masked & candidates, self.generated, self.probs, self.x0, self.generator)


class Strategy(ABC):
    """Decides which masked positions to commit at a step; may send generated tokens back to the mask."""

    adaptive: ClassVar[bool] = False  # commits as many as the confidences allow: `steps` is only a bound

    def window(self, masked: Tensor, generated: Tensor, step: int, num_steps: int) -> Tensor:
        """(B, L) bool, a subset of `masked`: the positions `commit` may choose at this step. It is asked
        before the forward; a cached forward recomputes only these (and those committed since the
        cache's refresh), so blockwise strategies narrow it to the current block."""
        return masked

    @abstractmethod
    def commit(self, state: StepState) -> Tensor:
        """(B, L) bool, a subset of state.masked; on the last step (remaining == 1) all of it."""

    def remask(self, state: StepState) -> Tensor:
        """(B, L) bool, a subset of state.generated, to mask again. Most strategies never do."""
        return torch.zeros_like(state.generated)


def top_k_per_row(score: Tensor, candidates: Tensor, k: Tensor) -> Tensor:
    """(B, L) bool: for each row, the k[b] candidates of highest score. score: (B, L), k: (B,) long."""
    score = score.masked_fill(~candidates, -math.inf)
    order = score.argsort(dim=-1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(score.shape[1], device=score.device).expand_as(order))
    return (rank < k[:, None]) & candidates


def even_share(state: StepState) -> Tensor:
    """(B,) tokens to commit now so that the masked ones are spread evenly over the remaining steps
    (LLaDA, Nie et al. 2025, Alg. 5), recomputed each step so that remasked positions are refilled."""
    n = state.masked.sum(dim=-1)
    return torch.div(n + state.remaining - 1, state.remaining, rounding_mode="floor")


STRATEGIES: dict[str, Callable[..., Strategy]] = {}


def register_strategy(name: str):
    """Class decorator: make a strategy constructible by name (CLI, dashboards, configs)."""

    def wrap(cls):
        STRATEGIES[name] = cls
        return cls

    return wrap


def strategy_options(name: str) -> frozenset[str]:
    """The options the strategy registered as ``name`` takes (its dataclass fields); empty for an unknown name."""
    cls = STRATEGIES.get(name)
    return frozenset(f.name for f in dataclasses.fields(cls)) if cls is not None and dataclasses.is_dataclass(cls) else frozenset()


def make_strategy(name: str, block_length: int | None = None, **options) -> Strategy:
    """A strategy by name with its options; `block_length` wraps it in semi-autoregressive blocks."""
    from shared_dlm.sampling.blocks import Blocks

    if name not in STRATEGIES:
        raise ValueError(f"unknown sampler {name!r}; expected one of {sorted(STRATEGIES)}")
    try:
        strategy = STRATEGIES[name](**options)
    except TypeError as err:
        raise ValueError(f"bad options for sampler {name!r}: {err}") from err
    return Blocks(strategy, block_length) if block_length else strategy

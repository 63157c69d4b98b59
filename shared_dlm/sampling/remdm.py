"""ReMDM: remasking of generated tokens during sampling (Wang et al. 2025, eq. 7 and sec. 4.1).

The reverse step from t to s may send an already generated token back to the mask with probability
sigma_t, and unmasks a masked position with probability (alpha_s - (1 - sigma_t) alpha_t) / (1 - alpha_t),
which keeps the marginals of the forward process. The 'cap' schedule uses
sigma_t = min(eta, (1 - alpha_s) / alpha_t); eta = 0 is plain ancestral sampling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from shared_dlm.sampling.base import StepState, Strategy, register_strategy
from shared_dlm.schedule import LinearSchedule, Schedule


@register_strategy("remdm")
@dataclass
class ReMDM(Strategy):
    eta: float = 0.05
    schedule: Schedule = field(default_factory=LinearSchedule)

    def __post_init__(self):
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"ReMDM eta must lie in [0, 1], got {self.eta}")

    def _alphas(self, state: StepState) -> tuple[float, float]:
        return float(self.schedule.alpha(torch.tensor(state.t))), float(self.schedule.alpha(torch.tensor(state.s)))

    def sigma(self, state: StepState) -> float:
        alpha_t, alpha_s = self._alphas(state)
        if state.remaining == 1 or alpha_t <= 0.0:
            return 0.0
        return min(self.eta, (1.0 - alpha_s) / alpha_t)

    def commit(self, state: StepState) -> Tensor:
        if state.remaining == 1:
            return state.masked.clone()
        alpha_t, alpha_s = self._alphas(state)
        p = (alpha_s - (1.0 - self.sigma(state)) * alpha_t) / max(1.0 - alpha_t, 1e-12)
        u = torch.rand(state.masked.shape, generator=state.generator, device=state.masked.device)
        return state.masked & (u < p)

    def remask(self, state: StepState) -> Tensor:
        u = torch.rand(state.generated.shape, generator=state.generator, device=state.generated.device)
        return state.generated & (u < self.sigma(state))

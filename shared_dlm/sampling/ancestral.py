"""Ancestral sampling of the reverse process (MDLM, Sahoo et al. 2024, eq. 7; D3PM's absorbing case).

Going from time t to s < t, each masked position is unmasked independently with probability
(alpha_s - alpha_t) / (1 - alpha_t) and takes its proposal from p_theta(x_0 | x_t).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from shared_dlm.sampling.base import StepState, Strategy, register_strategy
from shared_dlm.schedule import LinearSchedule, Schedule


@register_strategy("ancestral")
@dataclass
class Ancestral(Strategy):
    schedule: Schedule = field(default_factory=LinearSchedule)

    def unmask_prob(self, state: StepState) -> float:
        alpha_t = float(self.schedule.alpha(torch.tensor(state.t)))
        alpha_s = float(self.schedule.alpha(torch.tensor(state.s)))
        if state.remaining == 1:
            return 1.0
        return (alpha_s - alpha_t) / max(1.0 - alpha_t, 1e-12)

    def commit(self, state: StepState) -> Tensor:
        p = self.unmask_prob(state)
        u = torch.rand(state.masked.shape, generator=state.generator, device=state.masked.device)
        return state.masked & (u < p)

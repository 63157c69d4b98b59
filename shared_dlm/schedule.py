"""Noise schedules for absorbing-state (masked) diffusion in continuous time.

A schedule gives alpha(t), the probability that a token is still unmasked at time t in [0, 1]
(alpha(0) = 1, alpha(1) ~ 0), its derivative, and the weight -alpha'(t) / (1 - alpha(t)) that
turns the masked cross-entropy into the continuous-time ELBO (MDLM, Sahoo et al. 2024, eq. 10;
MD4, Shi et al. 2024, eq. 5).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor


class Schedule(ABC):
    """alpha(t): probability of a token being unmasked at time t."""

    @abstractmethod
    def alpha(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def alpha_prime(self, t: Tensor) -> Tensor: ...

    def mask_prob(self, t: Tensor) -> Tensor:
        return 1.0 - self.alpha(t)

    def weight(self, t: Tensor) -> Tensor:
        """ELBO weight -alpha'(t) / (1 - alpha(t)) (MD4 eq. 5)."""
        return -self.alpha_prime(t) / (1.0 - self.alpha(t)).clamp_min(1e-12)


@dataclass(frozen=True)
class LinearSchedule(Schedule):
    """alpha = 1 - t: the schedule of LLaDA, whose ELBO weight is 1/t."""

    def alpha(self, t: Tensor) -> Tensor:
        return 1.0 - t

    def alpha_prime(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)


@dataclass(frozen=True)
class LogLinearSchedule(Schedule):
    """MDLM's log-linear noise: sigma(t) = -log(1 - (1 - eps) t), so alpha = 1 - (1 - eps) t."""

    eps: float = 1e-3

    def alpha(self, t: Tensor) -> Tensor:
        return 1.0 - (1.0 - self.eps) * t

    def alpha_prime(self, t: Tensor) -> Tensor:
        return torch.full_like(t, -(1.0 - self.eps))


@dataclass(frozen=True)
class CosineSchedule(Schedule):
    """MD4's cosine schedule: alpha = 1 - cos(pi/2 (1 - t))."""

    def alpha(self, t: Tensor) -> Tensor:
        return 1.0 - torch.cos(0.5 * math.pi * (1.0 - t))

    def alpha_prime(self, t: Tensor) -> Tensor:
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * (1.0 - t))


@dataclass(frozen=True)
class PolynomialSchedule(Schedule):
    """MD4's polynomial schedule: alpha = 1 - t^k."""

    power: float = 2.0

    def alpha(self, t: Tensor) -> Tensor:
        return 1.0 - t**self.power

    def alpha_prime(self, t: Tensor) -> Tensor:
        return -self.power * t ** (self.power - 1.0)


SCHEDULES: dict[str, type[Schedule]] = {
    "linear": LinearSchedule,
    "loglinear": LogLinearSchedule,
    "cosine": CosineSchedule,
    "polynomial": PolynomialSchedule,
}


def get_schedule(name: str) -> Schedule:
    """Look a schedule up by name ('linear', 'loglinear', 'cosine', 'polynomial')."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown noise schedule {name!r}; expected one of {sorted(SCHEDULES)}")
    return SCHEDULES[name]()

"""The forward masking process q(x_t | x_0) and the continuous-time ELBO.

Each token is replaced by the mask token independently with probability 1 - alpha(t). The negative
ELBO is a weighted cross-entropy on masked positions only (MDLM, Sahoo et al. 2024, eq. 10; MD4,
Shi et al. 2024, eq. 5):

    -log p(x_0) <= E_t [ w(t) * sum_{l masked} -log p_theta(x_0^l | x_t) ],  w(t) = -alpha'(t) / (1 - alpha(t)).

The model's logits for the mask token are set to -inf ("zero masking probability", MDLM sec. 3.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from shared_dlm.schedule import Schedule

Weighting = Literal["elbo", "inverse_t"]


def sample_times(
    n: int,
    *,
    antithetic: bool = True,
    eps: float = 1e-3,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """n times in [eps, 1]; antithetic (low-discrepancy) sampling spreads them evenly (MDLM sec. 3.5.1)."""
    if antithetic:
        u = torch.rand(1, generator=generator, device=device)
        t = (u + torch.arange(n, device=device) / n) % 1.0
    else:
        t = torch.rand(n, generator=generator, device=device)
    return eps + (1.0 - eps) * t


def mask_tokens(
    x0: Tensor,
    t: Tensor,
    schedule: Schedule,
    mask_id: int,
    maskable: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Sample x_t ~ q(x_t | x_0). x0: (B, L) ids, t: (B,), maskable: (B, L) bool or None (all).

    Returns (x_t, masked), masked being (B, L) bool. Positions outside `maskable` (fixed context,
    padding) are never masked.
    """
    p = schedule.mask_prob(t)[:, None]  # (B, 1)
    u = torch.rand(x0.shape, generator=generator, device=x0.device)
    masked = u < p
    if maskable is not None:
        masked &= maskable
    return x0.masked_fill(masked, mask_id), masked


def masked_nll(logits: Tensor, x0: Tensor, masked: Tensor, mask_id: int) -> Tensor:
    """Sum over masked positions of -log p(x_0^l | x_t), per sequence. logits: (B, L, V) -> (B,)."""
    logits = logits.float()
    logits[..., mask_id] = -math.inf
    logp = torch.log_softmax(logits, dim=-1).gather(-1, x0[..., None]).squeeze(-1)  # (B, L)
    return -(logp * masked).sum(dim=-1)


@dataclass
class Elbo:
    """One batch's estimate: `loss` to backpropagate (nats per maskable token) and its parts."""

    loss: Tensor  # scalar
    nll: Tensor  # scalar: weighted NLL summed over the batch, nats
    tokens: Tensor  # scalar: maskable tokens in the batch

    @property
    def bits_per_token(self) -> float:
        return float(self.nll / self.tokens.clamp_min(1) / math.log(2))


def diffusion_loss(
    model,
    x0: Tensor,
    schedule: Schedule,
    mask_id: int,
    *,
    maskable: Tensor | None = None,
    attention_mask: Tensor | None = None,
    weighting: Weighting = "elbo",
    antithetic: bool = True,
    t: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Elbo:
    """Monte Carlo estimate of the negative ELBO of x0 (B, L) under `model`.

    maskable: (B, L) bool, the positions that the diffusion may mask (False for a fixed prompt, motif
    or code context: conditional training); attention_mask: (B, L) bool, False on padding, which is
    neither masked nor attended to. weighting 'elbo' is MDLM/MD4's -alpha'/(1 - alpha); 'inverse_t'
    is LLaDA's 1/t (the same for the linear schedule).
    """
    batch = x0.shape[0]
    if maskable is None:
        maskable = torch.ones_like(x0, dtype=torch.bool)
    if attention_mask is not None:
        maskable = maskable & attention_mask
    if t is None:
        t = sample_times(batch, antithetic=antithetic, generator=generator, device=x0.device)
    xt, masked = mask_tokens(x0, t, schedule, mask_id, maskable, generator)
    logits = model(xt, t=t, attention_mask=attention_mask)  # (B, L, V)
    if weighting == "elbo":
        weight = schedule.weight(t)
    elif weighting == "inverse_t":
        weight = 1.0 / t
    else:
        raise ValueError(f"unknown weighting {weighting!r}; expected 'elbo' or 'inverse_t'")
    nll = (weight * masked_nll(logits, x0, masked, mask_id)).sum()
    tokens = maskable.sum()
    return Elbo(loss=nll / tokens.clamp_min(1), nll=nll.detach(), tokens=tokens)

"""The ELBO: exact for a model that knows the true posterior, estimated without bias by the loss."""

import itertools
import math

import numpy as np
import pytest
import torch

from shared_dlm import diffusion_loss, get_schedule, mask_tokens, masked_nll, sample_times

N, V = 3, 3  # sequences of 3 tokens over {0, 1, 2}; id 3 is the mask
MASK = V


class Oracle(torch.nn.Module):
    """Denoiser that returns the true p(x_0^l | unmasked tokens) of a known distribution over V^N."""

    def __init__(self, probs: dict[tuple[int, ...], float]):
        super().__init__()
        self.probs = probs

    def forward(self, ids, t=None, attention_mask=None):
        logits = torch.full((*ids.shape, V + 1), -math.inf, dtype=torch.float64)
        for b, row in enumerate(ids.tolist()):
            consistent = {x: p for x, p in self.probs.items() if all(r == MASK or r == xi for r, xi in zip(row, x))}
            total = sum(consistent.values())
            for pos in range(N):
                for v in range(V):
                    mass = sum(p for x, p in consistent.items() if x[pos] == v)
                    logits[b, pos, v] = math.log(mass / total) if mass > 0 else -1e9
        return logits


def toy_distribution(seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(V**N))
    return {x: float(w) for x, w in zip(itertools.product(range(V), repeat=N), weights)}


def exact_elbo(model, x0, schedule, points=64):
    """Integrate w(t) E_mask[masked NLL] over t by Gauss-Legendre, the mask expectation by enumeration."""
    nodes, weights = np.polynomial.legendre.leggauss(points)
    ts = 0.5 * (nodes + 1)
    x = torch.tensor([x0])
    total = 0.0
    for t, wq in zip(ts, weights):
        t_ = torch.tensor([t], dtype=torch.float64)
        alpha = float(schedule.alpha(t_))
        expectation = 0.0
        for pattern in itertools.product([False, True], repeat=N):
            masked = torch.tensor([pattern])
            prob = math.prod((1 - alpha) if m else alpha for m in pattern)
            xt = x.masked_fill(masked, MASK)
            expectation += prob * float(masked_nll(model(xt), x, masked, MASK))
        total += 0.5 * wq * float(schedule.weight(t_)) * expectation
    return total


@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
def test_elbo_of_true_posterior_equals_log_likelihood(schedule_name):
    probs = toy_distribution()
    oracle = Oracle(probs)
    schedule = get_schedule(schedule_name)
    for x0 in [(0, 1, 2), (2, 2, 0), (1, 0, 1)]:
        assert exact_elbo(oracle, x0, schedule) == pytest.approx(-math.log(probs[x0]), rel=1e-3)


def test_expected_elbo_of_a_wrong_model_exceeds_the_entropy():
    probs = toy_distribution()
    wrong = Oracle(toy_distribution(seed=1))
    schedule = get_schedule("linear")
    entropy = sum(-p * math.log(p) for p in probs.values())
    expected = sum(p * exact_elbo(wrong, x, schedule, points=8) for x, p in probs.items())
    assert expected > entropy + 0.1


@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
def test_monte_carlo_loss_estimates_the_exact_elbo(schedule_name):
    probs = toy_distribution()
    oracle = Oracle(probs)
    x0 = (0, 1, 2)
    batch = 4000
    x = torch.tensor([x0] * batch)
    g = torch.Generator().manual_seed(0)
    elbo = diffusion_loss(oracle, x, get_schedule(schedule_name), MASK, generator=g)
    assert float(elbo.nll) / batch == pytest.approx(-math.log(probs[x0]), rel=0.03)
    assert float(elbo.tokens) == batch * N
    assert float(elbo.loss) == pytest.approx(float(elbo.nll) / (batch * N))


def test_masking_rate_follows_schedule_and_respects_maskable():
    schedule = get_schedule("cosine")
    x0 = torch.randint(0, V, (2000, 50), generator=torch.Generator().manual_seed(0))
    t = torch.full((2000,), 0.3)
    maskable = torch.ones_like(x0, dtype=torch.bool)
    maskable[:, :10] = False
    xt, masked = mask_tokens(x0, t, schedule, MASK, maskable, torch.Generator().manual_seed(1))
    assert not masked[:, :10].any()
    assert (xt[masked] == MASK).all() and torch.equal(xt[~masked], x0[~masked])
    rate = masked[:, 10:].float().mean()
    assert float(rate) == pytest.approx(float(schedule.mask_prob(torch.tensor(0.3))), abs=0.01)


def test_fixed_positions_are_never_masked_in_training():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, ids, t=None, attention_mask=None):
            seen.append(ids.clone())
            return torch.zeros(*ids.shape, V + 1)

    x = torch.randint(0, V, (64, 8))
    maskable = torch.zeros_like(x, dtype=torch.bool)
    maskable[:, 4:] = True
    attention = torch.ones_like(maskable)
    attention[:, 7] = False
    elbo = diffusion_loss(Spy(), x, get_schedule("linear"), MASK, maskable=maskable, attention_mask=attention)
    assert torch.equal(seen[0][:, :4], x[:, :4]) and torch.equal(seen[0][:, 7], x[:, 7])
    assert (seen[0][:, 4:7] == MASK).any()
    assert int(elbo.tokens) == 64 * 3


def test_antithetic_times_are_evenly_spread():
    t = sample_times(8, antithetic=True, generator=torch.Generator().manual_seed(0), eps=0.0)
    gaps = torch.diff(torch.sort(t).values)
    assert torch.allclose(gaps, torch.full_like(gaps, 1 / 8), atol=1e-6)


def test_inverse_t_weighting_equals_elbo_for_linear_schedule():
    oracle = Oracle(toy_distribution())
    x = torch.tensor([(0, 1, 2)] * 64)
    a = diffusion_loss(oracle, x, get_schedule("linear"), MASK, generator=torch.Generator().manual_seed(3))
    b = diffusion_loss(oracle, x, get_schedule("linear"), MASK, weighting="inverse_t", generator=torch.Generator().manual_seed(3))
    assert float(a.nll) == pytest.approx(float(b.nll))

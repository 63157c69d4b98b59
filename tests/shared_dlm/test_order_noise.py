"""What order noise does to the commit order of a whole `generate` run, on a model built here whose confidence
is known: without noise the positions are committed most confident first, the same order for every seed; with
noise the early steps choose almost at random and the late ones by confidence again, reproducibly from the seed.
(Confidence order alone is what makes a broad generator repeat its safest residue: confidence.py.)"""

import torch
from torch import nn

from shared_dlm import Canvas, Fixed, SamplerConfig, TokenSpec, Trace, generate

LENGTH = 12
NOISE = 4.5  # the protein app's default
SEEDS = range(20)


class Ladder(nn.Module):
    """Whatever the canvas, position i proposes token 2 with probability about exp(-0.3 (i + 1)): the
    confidence falls by the same log-step from left to right, so position order is confidence order."""

    def __init__(self, vocab_size: int = 64):
        super().__init__()
        self.spec = TokenSpec(vocab_size=vocab_size, mask_id=0, pad_id=None, max_len=LENGTH)
        proposal = torch.exp(-0.3 * torch.arange(1, LENGTH + 1, dtype=torch.float))  # (L,)
        others = torch.log((1 / proposal - 1) / (vocab_size - 1))  # (L,) every other token's logit
        logits = others[:, None].repeat(1, vocab_size)  # (L, V)
        logits[:, 2] = 0.0
        self.logits = nn.Parameter(logits, requires_grad=False)

    def forward(self, input_ids, t=None, attention_mask=None, **_):
        return self.logits[: input_ids.shape[1]].expand(input_ids.shape[0], -1, -1)  # (B, L, V)


MODEL = Ladder()


def commit_order(order_noise: float, seed: int) -> list[int]:
    """The position committed at each step, one a step, greedy proposals."""
    trace = Trace()
    config = SamplerConfig(steps=LENGTH, strategy=Fixed(1, order_noise=order_noise), temperature=0.0)
    generate(MODEL, Canvas.blank(1, LENGTH, MODEL.spec), config, trace=trace, generator=torch.Generator().manual_seed(seed))
    return [int(record.committed[0].nonzero()[0]) for record in trace]


def most_confident_left(orders: list[list[int]], step: int) -> int:
    """In how many runs the step committed the most confident (leftmost) position still masked."""
    return sum(order[step] == min(set(range(LENGTH)) - set(order[:step])) for order in orders)


def test_without_order_noise_the_most_confident_position_goes_first_for_every_seed():
    assert all(commit_order(0.0, seed) == list(range(LENGTH)) for seed in range(5))


def test_order_noise_randomises_the_early_commits_and_fades_to_confidence_order():
    orders = [commit_order(NOISE, seed) for seed in SEEDS]
    assert all(sorted(order) == list(range(LENGTH)) for order in orders)  # every position once
    assert len({tuple(order) for order in orders}) == len(SEEDS)  # each seed its own order
    # the first step: almost any position, the most confident about as often as any other (1 in 12)
    assert len({order[0] for order in orders}) >= 6 and most_confident_left(orders, 0) <= 4
    # the last step with a choice (two positions left): the noise has faded to a twelfth, confidence decides
    assert most_confident_left(orders, LENGTH - 2) >= 15


def test_order_noise_is_reproducible_from_the_seed():
    assert commit_order(NOISE, 7) == commit_order(NOISE, 7)

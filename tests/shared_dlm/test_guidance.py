"""Classifier-free guidance in the sampling loop: the logits it mixes, the forwards it runs, and its
composition with strategies, allowed sets, remaskers and the cache."""

import pytest
import torch
from torch import nn

from shared_dlm import Blocks, Canvas, CanvasError, SamplerConfig, Threshold, TokenSpec, generate, make_strategy
from tests.conftest import tiny_denoiser

MASK, PAD, CONTROL = 0, 1, 5


class ControlShift(nn.Module):
    """Logits that move by `delta` wherever a row attends to its control position 0: base + attended * delta."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # so that the loop can find the device
        self.spec = TokenSpec(vocab_size=6, mask_id=MASK, pad_id=PAD, max_len=16)
        self.base = torch.tensor([0.0, 0.0, 1.0, 0.0, -1.0, -9.0])
        self.delta = torch.tensor([0.0, 0.0, 0.0, 1.5, 2.4, 0.0])
        self.rows_seen: list[int] = []

    def forward(self, input_ids, t=None, attention_mask=None):
        self.rows_seen.append(input_ids.shape[0])
        attended = torch.ones(input_ids.shape[0]) if attention_mask is None else attention_mask[:, 0].float()
        logits = self.base + attended[:, None] * self.delta  # (B, V)
        return logits[:, None, :].expand(-1, input_ids.shape[1], -1).clone()


def control_canvas(batch: int = 2, length: int = 6) -> Canvas:
    ids = torch.full((batch, length), MASK)
    ids[:, 0] = CONTROL
    fixed = torch.zeros(batch, length, dtype=torch.bool)
    fixed[:, 0] = True
    return Canvas(ids=ids, fixed=fixed, attention_mask=torch.ones_like(fixed), control=fixed.clone())


@pytest.mark.parametrize(
    "weight, token, rows",
    [(None, 3, 2), (1.0, 3, 2), (0.0, 2, 2), (2.0, 4, 4)],  # argmax of base + w * delta; 2B rows only to mix
)
def test_guidance_mixes_conditional_and_unconditional_logits(weight, token, rows):
    model = ControlShift()
    config = SamplerConfig(steps=5, strategy=make_strategy("confidence"), temperature=0, guidance=weight)
    out = generate(model, control_canvas(), config)
    assert (out.ids[:, 1:] == token).all() and (out.ids[:, 0] == CONTROL).all()
    assert set(model.rows_seen) == {rows}


def test_guidance_weight_two_doubles_the_shift_exactly():
    model = ControlShift()
    config = SamplerConfig(steps=1, strategy=make_strategy("confidence"), guidance=2.0)
    out = generate(model, control_canvas(batch=1, length=2), config)
    expected = (model.base + 2.0 * model.delta)
    expected[[MASK, PAD]] = -torch.inf
    assert out.logp[0, 1] == pytest.approx(float(expected.log_softmax(-1)[int(out.ids[0, 1])]), abs=1e-5)


def test_guidance_zero_equals_a_canvas_without_the_controls():
    model = tiny_denoiser(max_len=16)
    canvas = control_canvas(batch=3, length=12)
    plain = Canvas(ids=canvas.ids.clone(), fixed=canvas.fixed.clone(), attention_mask=~canvas.control)
    config = dict(steps=6, strategy=make_strategy("ancestral"))
    unconditional = generate(model, canvas, SamplerConfig(**config, guidance=0.0), generator=torch.Generator().manual_seed(1))
    without = generate(model, plain, SamplerConfig(**config), generator=torch.Generator().manual_seed(1))
    assert torch.equal(unconditional.ids, without.ids)


@pytest.mark.parametrize("strategy", [make_strategy("confidence"), Blocks(Threshold(0.5), 4)])
def test_guided_sampling_with_the_cache_equals_uncached_when_refreshing_every_step(strategy):
    model = tiny_denoiser(max_len=16)
    canvas = control_canvas(batch=3, length=14)
    allowed = torch.ones(14, 12, dtype=torch.bool)
    allowed[:, 7] = False
    canvas.allowed = allowed
    runs = []
    for cache in (False, True):
        config = SamplerConfig(steps=10, strategy=strategy, guidance=1.5, cache=cache, refresh_every=1)
        runs.append(generate(model, canvas, config, generator=torch.Generator().manual_seed(4)))
    assert torch.equal(runs[0].ids, runs[1].ids)
    assert not (runs[0].ids[:, 1:] == 7).any()  # the allowed sets hold under guidance
    assert torch.allclose(runs[0].logp, runs[1].logp, atol=1e-5)


def test_a_remasker_composes_with_guidance_and_never_touches_the_controls():
    model = tiny_denoiser(max_len=16)
    calls = []

    def remask_everything(canvas, step):
        calls.append(step)
        return torch.ones_like(canvas.fixed) if step == 0 else torch.zeros_like(canvas.fixed)

    out = generate(model, control_canvas(batch=2, length=10), SamplerConfig(steps=6, guidance=2.0), remasker=remask_everything)
    assert calls and (out.ids[:, 0] == CONTROL).all() and not (out.ids == MASK).any()


@pytest.mark.parametrize("weight", [-0.5, float("nan"), float("inf")])
def test_guidance_weights_below_zero_or_not_finite_are_refused(weight):
    with pytest.raises(ValueError, match="guidance weight must be a finite number >= 0"):
        SamplerConfig(guidance=weight).validate()


def test_guidance_needs_control_positions_and_controls_must_be_fixed():
    model = tiny_denoiser(max_len=16)
    canvas = control_canvas()
    with pytest.raises(CanvasError, match="needs control positions"):
        generate(model, Canvas(canvas.ids, canvas.fixed), SamplerConfig(steps=2, guidance=2.0))
    loose = Canvas(canvas.ids, torch.zeros_like(canvas.fixed), control=canvas.control)
    with pytest.raises(CanvasError, match="control position but not fixed"):
        generate(model, loose, SamplerConfig(steps=2))


def test_sampling_on_the_allowed_columns_only_gives_the_same_distribution(monkeypatch):
    import shared_dlm.sampling.loop as loop

    model = tiny_denoiser(vocab_size=40, max_len=16)
    canvas = control_canvas(batch=2, length=12)
    allowed = torch.zeros(12, 40, dtype=torch.bool)
    allowed[:, 2:9] = True  # 7 of 40 tokens: the loop works on these columns only
    canvas.allowed = allowed
    assert loop.allowed_columns(canvas, model.spec).tolist() == list(range(2, 9))
    config = SamplerConfig(steps=6, strategy=make_strategy("confidence"), temperature=0, guidance=2.0)
    narrow = generate(model, canvas, config)
    monkeypatch.setattr(loop, "allowed_columns", lambda canvas, spec: None)
    full = generate(model, canvas, config)
    assert torch.equal(narrow.ids, full.ids) and torch.allclose(narrow.logp, full.logp, atol=1e-5)
    assert ((narrow.ids[:, 1:] >= 2) & (narrow.ids[:, 1:] < 9)).all()

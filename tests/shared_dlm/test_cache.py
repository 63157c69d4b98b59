"""Cached context: the cached forward is exact on a fresh cache, the cached sampler equals the uncached one
when it refreshes every step, and it refreshes when a block completes or the context changes."""

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from shared_dlm import (
    Blocks,
    Canvas,
    Confidence,
    KVCache,
    MaskedLMAdapter,
    ReMDM,
    SamplerConfig,
    Threshold,
    Trace,
    generate,
)
from tests.conftest import tiny_denoiser

MODEL = tiny_denoiser()
SPEC = MODEL.spec


@pytest.mark.parametrize("time_conditioning", [False, True])
def test_cached_forward_on_a_subset_matches_the_full_forward(time_conditioning):
    model = tiny_denoiser(time_conditioning=time_conditioning, max_len=24)
    ids = torch.randint(2, 12, (3, 24), generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0.2, 0.5, 0.9])
    attention = torch.ones(3, 24, dtype=torch.bool)
    attention[2, 18:] = False
    positions = torch.stack([torch.randperm(18, generator=torch.Generator().manual_seed(b))[:6] for b in range(3)])  # (3, 6)
    with torch.no_grad():
        full = model(ids, t=t, attention_mask=attention)  # (B, L, V)
        cache = KVCache()
        filling = model(ids, t=t, attention_mask=attention, cache=cache, positions=positions)
        cached = model(ids, t=t, attention_mask=attention, cache=cache, positions=positions)
    expected = full.gather(1, positions[..., None].expand(-1, -1, full.shape[-1]))
    assert len(cache.layers) == 2 and cache.layers[0][0].shape == (3, 2, 24, 16)
    torch.testing.assert_close(filling, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(cached, expected, atol=1e-5, rtol=0)


def test_one_layer_cached_forward_is_exact_after_changes_at_its_positions():
    """With one layer the other positions' keys and values do not depend on the changed tokens, so the
    cached forward must equal the full one: the recomputed tokens sit at their true rotary positions."""
    model = tiny_denoiser(num_hidden_layers=1, max_len=16)
    ids = torch.randint(2, 12, (1, 16), generator=torch.Generator().manual_seed(1))
    positions = torch.tensor([[9, 3, 12]])
    changed = ids.clone()
    changed[0, [9, 3, 12]] = torch.tensor([5, 6, 7])
    with torch.no_grad():
        cache = KVCache()
        model(ids, cache=cache, positions=positions)
        cached = model(changed, cache=cache, positions=positions)
        full = model(changed)[:, [9, 3, 12]]
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="needs the positions"):
        model(ids, cache=cache)


STRATEGIES = {
    "threshold": lambda: Threshold(0.3),
    "threshold-blocks": lambda: Blocks(Threshold(0.3), 5),
    "confidence": lambda: Confidence(),
    "confidence-blocks": lambda: Blocks(Confidence(), 6),
    "remdm": lambda: ReMDM(eta=0.3),
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_refreshing_every_step_gives_the_uncached_samples(name, temperature):
    canvas = Canvas.from_template([4] + [None] * 9 + [5, 6] + [None] * 10, SPEC, batch=3)

    def remask_position_2(canvas, step):  # a hook that touches the context: forces refreshes
        hit = torch.zeros_like(canvas.fixed)
        hit[:, 2] = step % 3 == 0
        return hit

    def run(**cache):
        config = SamplerConfig(steps=16, strategy=STRATEGIES[name](), temperature=temperature, **cache)
        return generate(MODEL, canvas, config, remasker=remask_position_2, generator=torch.Generator().manual_seed(3))

    plain, cached = run(), run(cache=True, refresh_every=1)
    assert torch.equal(plain.ids, cached.ids)
    torch.testing.assert_close(plain.logp, cached.logp)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_cached_sampling_keeps_the_canvas_and_uses_the_cache(name):
    canvas = Canvas.from_template([4] + [None] * 9 + [5, 6] + [None] * 10, SPEC, batch=3)
    trace = Trace()
    config = SamplerConfig(steps=19, strategy=STRATEGIES[name](), cache=True, refresh_every=4)
    out = generate(MODEL, canvas, config, trace=trace, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.ids[canvas.fixed], canvas.ids[canvas.fixed]) and not (out.ids == SPEC.mask_id).any()
    cached = [r.cached for r in trace]
    assert not cached[0] and any(cached)
    assert not any(all(cached[i : i + 4]) for i in range(len(cached) - 3))  # a full forward at least every 4 steps
    if len(trace) == 19:
        assert not cached[-1]  # the last step is a full forward


def test_a_completed_block_triggers_a_refresh():
    trace = Trace()
    config = SamplerConfig(steps=30, strategy=Blocks(Threshold(0.0), 4), cache=True, refresh_every=100)
    generate(MODEL, Canvas.blank(2, 12, SPEC), config, trace=trace)
    assert [r.cached for r in trace] == [False, False, False]  # every step completes a block: every step refreshes
    trace = Trace()
    config = SamplerConfig(steps=30, strategy=Blocks(Threshold(1.0), 4), cache=True, refresh_every=100)
    generate(MODEL, Canvas.blank(1, 8, SPEC), config, trace=trace)  # one token a step: 4 steps a block
    assert [r.cached for r in trace] == [False, True, True, True, False, True, True, True]


def test_models_without_a_cache_fall_back_to_full_forwards():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=12, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=32)  # fmt: skip
    adapter = MaskedLMAdapter(BertForMaskedLM(config).eval(), mask_id=0, pad_id=1)
    canvas = Canvas.from_template([3, None, None, None, 4], adapter.spec, batch=2)
    trace = Trace()
    out = generate(adapter, canvas, SamplerConfig(steps=4, cache=True), trace=trace, generator=torch.Generator().manual_seed(0))
    plain = generate(adapter, canvas, SamplerConfig(steps=4), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.ids, plain.ids) and not any(r.cached for r in trace)


def test_refresh_interval_must_be_positive():
    with pytest.raises(ValueError, match="refresh_every must be at least 1"):
        generate(MODEL, Canvas.blank(1, 4, SPEC), SamplerConfig(cache=True, refresh_every=0))


@pytest.mark.slow
def test_compiled_denoiser_samples_like_the_eager_one():
    model = tiny_denoiser(seed=1)
    canvas = Canvas.from_template([3] + [None] * 10, model.spec, batch=2)
    config = SamplerConfig(steps=10, strategy=Threshold(0.3), cache=True, refresh_every=3)
    eager = generate(model, canvas, config, generator=torch.Generator().manual_seed(0))
    config.compile = True
    compiled = generate(model, canvas, config, generator=torch.Generator().manual_seed(0))
    assert torch.equal(eager.ids, compiled.ids)

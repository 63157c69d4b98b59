"""Behaviour of every sampler on a tiny random model: constraints kept, nothing left masked, seeds reproduce."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_dlm import (
    Ancestral,
    Blocks,
    Canvas,
    Confidence,
    ReMDM,
    SamplerConfig,
    Trace,
    generate,
    make_strategy,
)
from shared_dlm.sampling import filter_logits
from tests.conftest import tiny_denoiser

MODEL = tiny_denoiser()
SPEC = MODEL.spec
STRATEGIES = {
    "ancestral": lambda: Ancestral(),
    "confidence": lambda: Confidence("prob"),
    "margin": lambda: Confidence("margin"),
    "entropy": lambda: Confidence("entropy"),
    "remdm": lambda: ReMDM(eta=0.5),
    "blocks": lambda: Blocks(Confidence(), 5),
    "blocks-remdm": lambda: Blocks(ReMDM(eta=0.3), 4),
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    template=st.lists(st.one_of(st.none(), st.integers(2, 11)), min_size=1, max_size=24),
    steps=st.integers(6, 30),
    temperature=st.sampled_from([0.0, 0.7, 1.0, 1.5]),
)
def test_every_sampler_keeps_fixed_positions_and_fills_the_rest(name, seed, template, steps, temperature):
    canvas = Canvas.from_template(template, SPEC, batch=3)
    config = SamplerConfig(steps=steps, strategy=STRATEGIES[name](), temperature=temperature)
    out = generate(MODEL, canvas, config, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(out.ids[canvas.fixed], canvas.ids[canvas.fixed])
    assert not (out.ids == SPEC.mask_id).any()
    assert not (out.ids[~canvas.fixed] == SPEC.pad_id).any()
    assert torch.equal(canvas.ids, Canvas.from_template(template, SPEC, batch=3).ids)  # input untouched


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_allowed_sets_are_honoured(name):
    allowed = torch.zeros(16, SPEC.vocab_size, dtype=torch.bool)
    allowed[:8, 2:5] = True  # first half: tokens 2..4
    allowed[8:, 9] = True  # second half: only token 9
    canvas = Canvas.from_template([None] * 16, SPEC, batch=4, allowed=allowed)
    for seed in range(5):
        out = generate(MODEL, canvas, SamplerConfig(steps=8, strategy=STRATEGIES[name]()), generator=torch.Generator().manual_seed(seed))
        assert ((out.ids[:, :8] >= 2) & (out.ids[:, :8] <= 4)).all()
        assert (out.ids[:, 8:] == 9).all()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_same_seed_same_samples_other_seed_other_samples(name):
    canvas = Canvas.blank(4, 20, SPEC)
    config = SamplerConfig(steps=10, strategy=STRATEGIES[name]())
    a = generate(MODEL, canvas, config, generator=torch.Generator().manual_seed(7)).ids
    b = generate(MODEL, canvas, config, generator=torch.Generator().manual_seed(7)).ids
    c = generate(MODEL, canvas, config, generator=torch.Generator().manual_seed(8)).ids
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_confidence_commits_an_even_share_each_step():
    trace = Trace()
    generate(MODEL, Canvas.blank(2, 20, SPEC), SamplerConfig(steps=5), trace=trace, generator=torch.Generator().manual_seed(0))
    assert [int(r.committed[0].sum()) for r in trace] == [4, 4, 4, 4, 4]


def test_confidence_commits_the_most_confident_position():
    trace = Trace()
    canvas = Canvas.blank(1, 12, SPEC)
    generate(MODEL, canvas, SamplerConfig(steps=12, temperature=0.0), trace=trace)
    logits = MODEL(canvas.ids).float()
    logits[..., SPEC.mask_id] = -math.inf
    logits[..., SPEC.pad_id] = -math.inf
    best = logits.softmax(-1).max(-1).values.argmax()
    assert trace[0].committed[0].nonzero().flatten().tolist() == [int(best)]


def test_blocks_go_left_to_right():
    trace = Trace()
    generate(MODEL, Canvas.blank(2, 12, SPEC), SamplerConfig(steps=6, strategy=Blocks(Confidence(), 4)), trace=trace)
    first_commit = torch.stack([r.committed.any(0) for r in trace]).float().argmax(0)  # step each position was filled
    assert first_commit[:4].max() < first_commit[4:8].min() and first_commit[4:8].max() < first_commit[8:].min()


def test_blocks_are_counted_in_each_rows_own_free_positions():
    template = [[3, 3, None, None, None, None, 3, None, None, None, None, 3],
                [None, None, None, None, None, None, None, None, 3, 3, 3, 3]]  # fmt: skip
    ids = torch.tensor([[SPEC.mask_id if t is None else t for t in row] for row in template])
    trace = Trace()
    generate(MODEL, Canvas(ids, ids != SPEC.mask_id), SamplerConfig(steps=8, strategy=Blocks(Confidence(), 4)), trace=trace)
    first = torch.stack([r.committed for r in trace]).float().argmax(0)  # (B, L): the step each position was filled
    assert first[0, 2:6].max() < first[0, 7:11].min()  # row 0's blocks: its first four free positions, then the next
    assert first[1, 0:4].max() < first[1, 4:8].min()
    assert [int(r.committed.sum()) for r in trace] == [2] * 8  # one position a row a step, both rows busy throughout


def test_blocks_skip_fully_fixed_blocks_and_need_enough_steps():
    template = [3, 3, 3, 3, None, None, None, None]
    trace = Trace()
    generate(MODEL, Canvas.from_template(template, SPEC), SamplerConfig(steps=4, strategy=Blocks(Confidence(), 4)), trace=trace)
    assert [int(r.committed.sum()) for r in trace] == [1, 1, 1, 1]  # all four steps go to the one free block
    with pytest.raises(ValueError, match="cannot cover 3 blocks"):
        generate(MODEL, Canvas.blank(1, 12, SPEC), SamplerConfig(steps=2, strategy=Blocks(Confidence(), 4)))


def test_remdm_sends_generated_tokens_back_and_still_finishes():
    trace = Trace()
    out = generate(MODEL, Canvas.blank(4, 24, SPEC), SamplerConfig(steps=20, strategy=ReMDM(eta=0.5)), trace=trace,
                   generator=torch.Generator().manual_seed(0))
    assert sum(int(r.remasked.sum()) for r in trace) > 0
    assert not (out.ids == SPEC.mask_id).any()
    with pytest.raises(ValueError, match="eta"):
        ReMDM(eta=2.0)


def test_remasker_hook_positions_are_generated_again():
    calls = []

    def remask_position_3(canvas, step):
        calls.append(step)
        hit = torch.zeros_like(canvas.fixed)
        hit[:, 3] = canvas.ids[:, 3] != SPEC.mask_id
        hit[:, 0] = True  # fixed: must be ignored by the loop
        return hit

    trace = Trace()
    canvas = Canvas.from_template([5] + [None] * 9, SPEC, batch=2)
    out = generate(MODEL, canvas, SamplerConfig(steps=5), remasker=remask_position_3, trace=trace)
    assert calls == [0, 1, 2, 3]  # never after the last step
    assert any(r.hook_remasked[:, 3].any() for r in trace)
    assert not trace[0].hook_remasked[:, 0].any()
    assert (out.ids[:, 0] == 5).all() and not (out.ids == SPEC.mask_id).any()


def test_trace_records_every_step_and_logp_is_a_log_probability():
    trace = Trace()
    out = generate(MODEL, Canvas.from_template([4, None, None, None, 4], SPEC), SamplerConfig(steps=3), trace=trace)
    assert [r.step for r in trace] == [0, 1, 2]
    assert torch.equal(trace[-1].ids, out.ids)
    assert (out.logp[:, 1:4] < 0).all() and (out.logp[:, [0, 4]] == 0).all()


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = filter_logits(logits, 1.0, 2, None).isfinite()
    assert kept.tolist() == [[True, True, False, False]]
    kept = filter_logits(logits, 1.0, None, 0.8).isfinite()
    assert kept.tolist() == [[True, True, False, False]]
    kept = filter_logits(logits, 1.0, None, 0.81).isfinite()
    assert kept.tolist() == [[True, True, True, False]]


def test_greedy_top_k_1_equals_temperature_0():
    canvas = Canvas.blank(2, 10, SPEC)
    a = generate(MODEL, canvas, SamplerConfig(steps=5, top_k=1), generator=torch.Generator().manual_seed(1)).ids
    b = generate(MODEL, canvas, SamplerConfig(steps=5, temperature=0.0)).ids
    assert torch.equal(a, b)


def test_batches_of_unequal_length_through_attention_mask():
    canvas = Canvas.blank(2, 10, SPEC)
    canvas.attention_mask = torch.ones(2, 10, dtype=torch.bool)
    canvas.attention_mask[1, 6:] = False
    canvas.ids[1, 6:] = SPEC.pad_id
    canvas.fixed[1, 6:] = True
    out = generate(MODEL, canvas, SamplerConfig(steps=5))
    assert (out.ids[1, 6:] == SPEC.pad_id).all() and not (out.ids == SPEC.mask_id).any()


def test_strategies_by_name():
    assert isinstance(make_strategy("remdm", eta=0.1), ReMDM)
    blocks = make_strategy("confidence", block_length=8, measure="margin")
    assert isinstance(blocks, Blocks) and blocks.inner == Confidence("margin")
    with pytest.raises(ValueError, match="unknown sampler 'nope'"):
        make_strategy("nope")
    with pytest.raises(ValueError, match="bad options"):
        make_strategy("confidence", eta=1)

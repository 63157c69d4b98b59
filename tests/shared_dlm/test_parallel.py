"""Parallel decoding: threshold, factor and fixed commit what their rules say, stop early, and run inside
adaptive blocks; the rules are checked on hand-made distributions, the loop on a tiny random model."""

import pytest
import torch

from shared_dlm import (
    Blocks,
    Canvas,
    Confidence,
    Factor,
    Fixed,
    SamplerConfig,
    StepState,
    Threshold,
    Trace,
    generate,
    make_strategy,
)
from tests.conftest import tiny_denoiser

MODEL = tiny_denoiser()
SPEC = MODEL.spec


def state_with(confidences: list[list[float]], masked: list[list[bool]] | None = None) -> StepState:
    """A step whose proposal at position i has probability confidences[b][i] (token 0 proposed everywhere)."""
    conf = torch.tensor(confidences)  # (B, L)
    probs = torch.stack([conf, 1.0 - conf], dim=-1)  # (B, L, 2)
    masked = torch.ones_like(conf, dtype=torch.bool) if masked is None else torch.tensor(masked)
    return StepState(0, 10, masked, ~masked, probs, torch.zeros_like(conf, dtype=torch.long), None)


def test_threshold_commits_every_confident_position_and_at_least_one():
    state = state_with([[0.95, 0.5, 0.91, 0.2], [0.3, 0.6, 0.1, 0.2]], [[True, True, True, True], [True, True, True, False]])
    assert Threshold(0.9).commit(state).tolist() == [[True, False, True, False], [False, True, False, False]]
    none_masked = state_with([[0.99, 0.99]], [[False, False]])
    assert not Threshold(0.9).commit(none_masked).any()


def test_factor_commits_the_largest_n_with_n_plus_one_times_one_minus_c_n_below_f():
    # sorted: 0.9, 0.8, 0.7, 0.1 -> (n + 1)(1 - c_n) = 0.2, 0.6, 1.2, 4.5
    state = state_with([[0.7, 0.9, 0.1, 0.8]])
    assert Factor(1.0).commit(state).tolist() == [[False, True, False, True]]
    assert Factor(1.3).commit(state).tolist() == [[True, True, False, True]]
    assert Factor(0.1).commit(state).tolist() == [[False, True, False, False]]  # none fits: the most confident


def test_fixed_commits_k_most_confident():
    state = state_with([[0.2, 0.9, 0.5, 0.7, 0.1]])
    assert Fixed(2).commit(state).tolist() == [[False, True, False, True, False]]
    assert int(Fixed(9).commit(state).sum()) == 5


def test_strategies_by_name_and_bad_options():
    assert make_strategy("threshold", threshold=0.5) == Threshold(0.5)
    assert make_strategy("factor") == Factor(1.0) and make_strategy("fixed", k=3) == Fixed(3)
    assert make_strategy("threshold", block_length=4).adaptive and not make_strategy("confidence", block_length=4).adaptive
    for name, options, message in [("threshold", {"threshold": 1.5}, "threshold"), ("factor", {"factor": 0}, "factor"),
                                   ("fixed", {"k": 0}, "k must be")]:
        with pytest.raises(ValueError, match=message):
            make_strategy(name, **options)


@pytest.mark.parametrize("strategy", [Threshold(0.5), Factor(), Fixed(3), Blocks(Threshold(0.5), 4), Blocks(Fixed(2), 5)])
def test_adaptive_samplers_keep_the_canvas_and_stop_when_done(strategy):
    template = [3, None, None, 4, None, None, None, None, None, None, 5, None]
    canvas = Canvas.from_template(template, SPEC, batch=3)
    trace = Trace()
    out = generate(MODEL, canvas, SamplerConfig(steps=50, strategy=strategy), trace=trace, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.ids[canvas.fixed], canvas.ids[canvas.fixed]) and not (out.ids == SPEC.mask_id).any()
    assert len(trace) <= 9  # steps is an upper bound: 9 masked positions, at least one committed per step and row


def test_fixed_k_takes_the_masked_count_over_k_steps():
    trace = Trace()
    generate(MODEL, Canvas.blank(2, 12, SPEC), SamplerConfig(steps=100, strategy=Fixed(1)), trace=trace)
    assert len(trace) == 12 and all(int(r.committed[0].sum()) == 1 for r in trace)
    trace = Trace()
    generate(MODEL, Canvas.blank(2, 12, SPEC), SamplerConfig(steps=100, strategy=Fixed(5)), trace=trace)
    assert [int(r.committed[0].sum()) for r in trace] == [5, 5, 2]


def test_fixed_with_fewer_steps_than_k_a_step_needs_spreads_the_rest_evenly():
    trace = Trace()  # 12 masked, 4 steps: three a step, not one a step and nine at the last
    generate(MODEL, Canvas.blank(2, 12, SPEC), SamplerConfig(steps=4, strategy=Fixed(1)), trace=trace)
    assert [r.committed.sum(-1).tolist() for r in trace] == [[3, 3]] * 4
    trace = Trace()  # 10 masked, 4 steps: the even share, recomputed each step
    generate(MODEL, Canvas.blank(1, 10, SPEC), SamplerConfig(steps=4, strategy=Fixed(1)), trace=trace)
    assert [int(r.committed.sum()) for r in trace] == [3, 3, 2, 2]
    trace = Trace()  # in blocks: 6 steps over three blocks of four, two steps a block
    generate(MODEL, Canvas.blank(2, 12, SPEC), SamplerConfig(steps=6, strategy=Blocks(Fixed(1), 4)), trace=trace)
    assert [r.committed.sum(-1).tolist() for r in trace] == [[2, 2]] * 6
    blocks = [{p // 4 for _, p in r.committed.nonzero().tolist()} for r in trace]
    assert blocks == [{0}, {0}, {1}, {1}, {2}, {2}]


def test_a_threshold_of_zero_fills_everything_in_one_step_and_blocks_in_one_step_each():
    trace = Trace()
    generate(MODEL, Canvas.blank(2, 12, SPEC), SamplerConfig(steps=12, strategy=Threshold(0.0)), trace=trace)
    assert len(trace) == 1
    trace = Trace()
    generate(MODEL, Canvas.blank(2, 12, SPEC), SamplerConfig(steps=12, strategy=Blocks(Threshold(0.0), 4)), trace=trace)
    assert [r.committed[0].nonzero().flatten().tolist() for r in trace] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_adaptive_blocks_start_each_row_in_its_leftmost_block_with_a_mask():
    template = [[3, 3, 3, 3, None, None, None, None, None, None, None, None],
                [None, None, None, None, None, None, None, None, 3, 3, 3, 3]]  # fmt: skip
    ids = torch.tensor([[SPEC.mask_id if t is None else t for t in row] for row in template])
    canvas = Canvas(ids, ids != SPEC.mask_id)
    trace = Trace()
    generate(MODEL, canvas, SamplerConfig(steps=20, strategy=Blocks(Fixed(2), 4)), trace=trace)
    first = trace[0].committed.nonzero().tolist()
    assert {p for b, p in first if b == 0} <= {4, 5, 6, 7} and {p for b, p in first if b == 1} <= {0, 1, 2, 3}
    assert len(trace) == 4  # two blocks of four in each row, two positions a step


def test_schedule_blocks_keep_sharing_the_steps():
    trace = Trace()
    generate(MODEL, Canvas.blank(1, 8, SPEC), SamplerConfig(steps=8, strategy=Blocks(Confidence(), 4)), trace=trace)
    assert [int(r.committed.sum()) for r in trace] == [1] * 8


def noisy_state(confidences: list[list[float]], seed: int, step: int = 0, masked=None) -> StepState:
    state = state_with(confidences, masked)
    return StepState(step, 10, state.masked, state.generated, state.probs, state.x0, torch.Generator().manual_seed(seed))


def test_order_noise_randomises_which_position_is_committed_and_fades_with_the_steps():
    conf = [[0.30, 0.25, 0.20, 0.15, 0.10]]
    for strategy in (Fixed(1, order_noise=4.5), Confidence(order_noise=4.5), Threshold(0.9, order_noise=4.5), Factor(0.1, order_noise=4.5)):
        early = {int(strategy.commit(noisy_state(conf, seed)).float().argmax()) for seed in range(40)}
        assert len(early) >= 4, strategy  # at step 0 almost any position
        assert all(int(strategy.commit(noisy_state(conf, seed)).sum()) == 1 for seed in range(5))
        # at the last step the noise is gone: the most confident, as without noise
        late = {int(strategy.commit(noisy_state(conf, seed, step=9)).float().argmax()) for seed in range(20)}
        assert late == {0}, strategy
    without = {int(Fixed(1).commit(noisy_state(conf, seed)).float().argmax()) for seed in range(20)}
    assert without == {0}


def test_order_noise_never_changes_what_a_confidence_rule_accepts():
    conf = [[0.95, 0.5, 0.91, 0.2], [0.3, 0.6, 0.1, 0.2]]
    masked = [[True, True, True, True], [True, True, True, False]]
    for seed in range(20):
        got = Threshold(0.9, order_noise=10.0).commit(noisy_state(conf, seed, masked=masked))
        assert got[0].tolist() == [True, False, True, False]  # the rule's positions, nothing added
        assert int(got[1].sum()) == 1 and not got[1, 3]  # none above: one masked position, chosen by noise
    # factor: 0.9 and 0.8 fit with f = 1, whatever the noise
    for seed in range(20):
        assert Factor(1.0, order_noise=10.0).commit(noisy_state([[0.7, 0.9, 0.1, 0.8]], seed)).tolist() == [[False, True, False, True]]


def test_order_noise_is_reproducible_from_the_generator_and_refused_when_bad():
    template = [3, None, None, None, None, None, None, None, None, 5]
    canvas = Canvas.from_template(template, SPEC, batch=3)
    config = SamplerConfig(steps=20, strategy=Threshold(0.9, order_noise=2.0))
    runs = [generate(MODEL, canvas, config, generator=torch.Generator().manual_seed(7)).ids for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    for bad in (-1.0, float("nan"), float("inf")):
        for name in ("confidence", "threshold", "factor", "fixed"):
            with pytest.raises(ValueError, match="order_noise"):
                make_strategy(name, order_noise=bad)

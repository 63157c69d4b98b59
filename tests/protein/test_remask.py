from __future__ import annotations

import math

import pytest
import torch

from apps.protein.alphabet import MASK_ID, PAD_ID, STANDARD_IDS, VOCAB_SIZE
from apps.protein.motifs import parse_motifs, place, to_canvas
from apps.protein.remask import EsmRemasker
from apps.protein.scoring import windowed_logits
from shared_dlm import Canvas, TokenSpec
from tests.protein.conftest import tiny_esm2

pytestmark = pytest.mark.usefixtures("one_thread")

SPEC = TokenSpec(vocab_size=VOCAB_SIZE, mask_id=MASK_ID, pad_id=PAD_ID, max_len=128)
LENGTH = 40


@pytest.fixture(scope="module")
def esm_model():
    return tiny_esm2()


def half_filled_canvas(batch: int = 3, seed: int = 0) -> Canvas:
    """<cls> residues <eos> with two motifs fixed; of the free positions, about half committed, half masked."""
    g = torch.Generator().manual_seed(seed)
    placement = place(parse_motifs(["4:HEXXH", "20:GGSGGS"]), LENGTH, g)
    canvas = to_canvas(placement, SPEC, batch=batch)
    free = ~canvas.fixed
    draw = torch.tensor(STANDARD_IDS)[torch.randint(len(STANDARD_IDS), canvas.ids.shape, generator=g)]
    commit = free & (torch.rand(canvas.ids.shape, generator=g) < 0.5)
    canvas.ids[commit] = draw[commit]
    return canvas


def esm_log_probs(model, ids):
    """log p(x_i | x) from one forward of the <cls> ... <eos> rows, computed here independently."""
    with torch.no_grad():
        return model(ids)["logits"].log_softmax(-1).gather(-1, ids[..., None])[..., 0]


def test_never_fixed_or_masked_and_at_most_the_fraction_of_free_positions(esm_model):
    canvas = half_filled_canvas()
    remasker = EsmRemasker(esm_model, threshold=math.inf, every=1, max_fraction=0.1)
    hit = remasker(canvas, step=0)
    free = ~canvas.fixed
    committed = free & (canvas.ids != MASK_ID)
    assert hit.shape == canvas.ids.shape and hit.dtype == torch.bool
    assert not (hit & canvas.fixed).any() and not (hit & (canvas.ids == MASK_ID)).any()
    cap = (free.sum(-1) * 0.1).floor().long()
    assert torch.equal(hit.sum(-1), torch.minimum(cap, committed.sum(-1)))  # every residue is below +inf


def test_the_least_likely_residues_go_first_and_only_below_the_threshold(esm_model):
    canvas = half_filled_canvas(seed=1)
    logp = esm_log_probs(esm_model, canvas.ids)
    committed = ~canvas.fixed & (canvas.ids != MASK_ID)
    hit = EsmRemasker(esm_model, threshold=math.inf, every=1, max_fraction=0.2)(canvas, 0)
    for row in range(canvas.ids.shape[0]):
        chosen, others = logp[row][hit[row]], logp[row][committed[row] & ~hit[row]]
        assert chosen.numel() > 0 and chosen.max() <= others.min()
    threshold = float(logp[committed].median())
    hit = EsmRemasker(esm_model, threshold=threshold, every=1, max_fraction=1.0)(canvas, 0)
    assert torch.equal(hit, committed & (logp < threshold))
    assert not EsmRemasker(esm_model, threshold=-math.inf, every=1)(canvas, 0).any()


def test_runs_only_after_every_kth_step(esm_model):
    canvas = half_filled_canvas()
    remasker = EsmRemasker(esm_model, threshold=math.inf, every=3)
    fired = [bool(remasker(canvas, step).any()) for step in range(7)]
    assert fired == [False, False, True, False, False, True, False]


def test_a_canvas_without_cls_and_eos_is_wrapped_for_esm(esm_model):
    canvas = half_filled_canvas()
    plain = Canvas(ids=canvas.ids[:, 1:-1], fixed=canvas.fixed[:, 1:-1])
    with_specials = EsmRemasker(esm_model, threshold=math.inf, every=1, max_fraction=0.3)(canvas, 0)
    without = EsmRemasker(esm_model, threshold=math.inf, every=1, max_fraction=0.3, specials=False)(plain, 0)
    assert torch.equal(without, with_specials[:, 1:-1])


def test_padding_is_never_remasked_and_does_not_change_the_scores(esm_model):
    canvas = half_filled_canvas(batch=2)
    padded = Canvas(
        ids=torch.cat([canvas.ids, torch.full((2, 4), PAD_ID)], 1),
        fixed=torch.cat([canvas.fixed, torch.zeros(2, 4, dtype=torch.bool)], 1),
        attention_mask=torch.cat([torch.ones_like(canvas.fixed), torch.zeros(2, 4, dtype=torch.bool)], 1),
    )
    remasker = EsmRemasker(esm_model, threshold=math.inf, every=1, max_fraction=0.3)
    assert torch.equal(remasker(padded, 0)[:, : canvas.ids.shape[1]], remasker(canvas, 0))
    assert not remasker(padded, 0)[:, canvas.ids.shape[1] :].any()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"every": 0}, "every must be at least 1"), ({"max_fraction": 0.0}, r"max_fraction must lie in \(0, 1\]"),
     ({"threshold": math.nan}, "threshold is NaN")],
)  # fmt: skip
def test_bad_settings(esm_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EsmRemasker(esm_model, **{"threshold": -3.0} | kwargs)


def test_windowed_reads_take_each_position_from_its_most_central_window(esm_model):
    tokens = half_filled_canvas(batch=2, seed=4).ids  # (2, 42)
    with torch.no_grad():
        assert torch.equal(windowed_logits(esm_model, tokens, 64), esm_model(tokens)["logits"])  # fits: one read
        windowed = windowed_logits(esm_model, tokens, 16)
        # windows start at 0, 8, 16, 24 and 26 (the last ends at the row's end)
        for position in range(tokens.shape[1]):
            start = min((s for s in (0, 8, 16, 24, 26)), key=lambda s: abs(position - (s + 7.5)))
            expected = esm_model(tokens[:, start : start + 16])["logits"][:, position - start]
            torch.testing.assert_close(windowed[:, position], expected)


def test_the_remasker_reads_long_canvases_in_the_scorers_context(esm_model):
    canvas = half_filled_canvas(seed=5)
    esm_model.trained_context = 16  # as load_esm records it for a scorer trained on 16-token crops
    try:
        remasker = EsmRemasker(esm_model, threshold=-3.0, every=1, max_fraction=1.0)
        assert remasker.window == 16 and EsmRemasker(esm_model, -3.0, window=None).window is None
        with torch.no_grad():
            logp = windowed_logits(esm_model, canvas.ids, 16).log_softmax(-1).gather(-1, canvas.ids[..., None])[..., 0]
        committed = ~canvas.fixed & (canvas.ids != MASK_ID)
        assert torch.equal(remasker(canvas, 0), committed & (logp < -3.0))
    finally:
        del esm_model.trained_context
    with pytest.raises(ValueError, match="window must be"):
        EsmRemasker(esm_model, -3.0, window=1)

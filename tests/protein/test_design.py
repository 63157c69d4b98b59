from __future__ import annotations

import importlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.protein.alphabet import STANDARD_RESIDUES
from apps.protein.design import DEFAULT_MODEL, DEFAULT_SCORER, Design, DesignConfig, DesignError, Generator, design, rank_key
from shared_dlm import Trace
from tests.protein.conftest import MAX_RESIDUES, tiny_generator

pytestmark = pytest.mark.usefixtures("one_thread")

LENGTH = 30
REFERENCE = ["MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPVAGHEFGHALGLSH"]


def motif_positions(d: Design) -> dict[int, str]:
    """1-based position -> specified (non-X) motif residue, from where the design says it placed them."""
    return {p: r for m in d.motifs for p, r in zip(range(m.start, m.end + 1), m.residues) if r != "X"}


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), fixed=st.integers(1, LENGTH - 4), window=st.integers(1, LENGTH - 19))
def test_every_design_keeps_every_motif_and_only_standard_residues(generator_model, seed, fixed, window):
    specs = [f"{fixed}:HEXXH", f"{window}-{window + 19}:GGSG"]
    designs = design(LENGTH, specs, DesignConfig(num=4, seed=seed, forbid="CW"), generator=generator_model, scorer=None)
    assert len(designs) == 4
    for d in designs:
        assert len(d.sequence) == LENGTH and set(d.sequence) <= set(STANDARD_RESIDUES)
        held = motif_positions(d)
        assert all(d.sequence[p - 1] == r for p, r in held.items())
        assert d.sequence[fixed - 1 : fixed + 4][::4] == "HH" and d.motifs[0].start == fixed
        assert window <= d.motifs[1].start and d.motifs[1].end <= window + 19
        assert d.scores["motif_recovery"] == 1.0
        free = [r for p, r in enumerate(d.sequence, start=1) if p not in range(fixed, fixed + 5) and p not in held]
        assert not set(free) & set("CW")


def test_each_design_gets_its_own_placement_of_floating_motifs(generator_model):
    designs = design(LENGTH, ["1-30:WWW"], DesignConfig(num=8, seed=3), generator=generator_model, scorer=None)
    starts = {d.motifs[0].start for d in designs}
    assert len(starts) > 1
    assert all(d.sequence[s - 1 : s + 2] == "WWW" for d in designs for s in [d.motifs[0].start])


def test_designs_are_deterministic_given_the_seed(generator_model, esm_scorer):
    def run(seed):
        config = DesignConfig(num=3, seed=seed)
        designs = design(LENGTH, ["5:HEXXH", "10-30:GGS"], config, generator=generator_model, scorer=esm_scorer)
        return [d.as_dict() for d in designs]

    assert run(7) == run(7)
    assert [d["sequence"] for d in run(7)] != [d["sequence"] for d in run(8)]


def test_scores_per_residue_values_and_ranking_with_a_scorer(generator_dir, scorer_dir):
    designs = design(
        LENGTH, ["5:HEXXH"], DesignConfig(num=5, seed=1), generator=str(generator_dir), scorer=str(scorer_dir),
        reference=REFERENCE,
    )
    assert [d.rank for d in designs] == [1, 2, 3, 4, 5]
    perplexities = [d.scores["pseudo_perplexity"] for d in designs]
    assert perplexities == sorted(perplexities)  # lower pseudo-perplexity ranks first
    for d in designs:
        expected = {"motif_recovery", "generator_log_prob", "pseudo_perplexity", "mean_log_prob", "embedding_similarity"}
        assert set(d.scores) == expected
        assert -1.0 <= d.scores["embedding_similarity"] <= 1.0
        assert len(d.esm_log_probs) == len(d.confidence) == LENGTH
        assert d.scores["pseudo_perplexity"] == pytest.approx(math.exp(-sum(d.esm_log_probs) / LENGTH), rel=1e-5)
        held = set(range(5, 10)) - {6 + 1, 6 + 2}  # H E X X H: the X positions are generated
        assert all(d.confidence[p - 1] == 0.0 for p in held)
        assert all(c < 0.0 for p, c in enumerate(d.confidence, start=1) if p not in held)
        assert d.properties["length"] == LENGTH and 0 < d.properties["isoelectric_point"] < 14


def test_without_a_scorer_higher_generator_log_prob_ranks_first(generator_model):
    designs = design(LENGTH, (), DesignConfig(num=5, seed=2), generator=generator_model, scorer=None)
    values = [d.scores["generator_log_prob"] for d in designs]
    assert values == sorted(values, reverse=True)
    assert all(d.esm_log_probs is None and "pseudo_perplexity" not in d.scores for d in designs)


def test_rank_key_puts_designs_that_lose_a_motif_last():
    def make(sample, recovery, ppl):
        scores = {"motif_recovery": recovery, "generator_log_prob": -1.0, "pseudo_perplexity": ppl}
        return Design(0, sample, "A", (), scores, {}, (0.0,), (0.0,))

    ordered = sorted([make(0, 0.5, 2.0), make(1, 1.0, 9.0), make(2, 1.0, 3.0), make(3, 0.75, 1.0)], key=rank_key)
    assert [d.sample for d in ordered] == [2, 1, 3, 0]


def test_esm_remasking_keeps_motifs_and_touches_only_generated_residues(generator_model, esm_scorer):
    trace = Trace()
    config = DesignConfig(num=3, esm_remask=0.0, steps=16, seed=0)
    designs = design(LENGTH, ["3:HEXXH"], config, generator=generator_model, scorer=esm_scorer, trace=trace)
    remasked = sum(int(r.hook_remasked.sum()) for r in trace)
    assert remasked > 0  # every residue's log-probability is below 0: the remasker fires on its steps
    every = 16 // 8
    for record in trace:
        hit = record.hook_remasked  # (B, L + 2)
        if (record.step + 1) % every:
            assert not hit.any()
        assert not hit[:, [0, 3, 4, 7, -1]].any()  # <cls>, H, E, H, <eos> (motif at residues 3..7 = columns 3..7)
        assert (hit.sum(-1) <= int(0.1 * (LENGTH - 3))).all()
    assert all(d.sequence[2:7:4] == "HH" and d.sequence[3] == "E" for d in designs)


@pytest.mark.parametrize("steps", [7, None])
def test_the_fixed_sampler_spreads_the_residues_over_the_steps_asked_for(generator_model, steps):
    trace = Trace()
    config = DesignConfig(num=2, sampler="fixed", steps=steps)
    designs = design(LENGTH, ["3:HEXXH"], config, generator=generator_model, scorer=None, trace=trace)
    free = LENGTH - 3  # H, E and H are fixed
    counts = [record.committed.sum(-1).tolist() for record in trace]
    assert len(trace) == (free if steps is None else steps)
    most = 1 if steps is None else math.ceil(free / steps)  # not one a step and the rest at the last
    assert all(row[0] == row[1] and most - 1 <= row[0] <= most for row in counts)
    assert sum(row[0] for row in counts) == free
    assert all(d.scores["motif_recovery"] == 1.0 for d in designs)


@pytest.mark.parametrize("sampler", ["ancestral", "fixed"])
def test_cached_context_runs_most_steps_on_the_cache_and_keeps_every_motif(generator_model, sampler):
    runs = {}
    for cache in (False, True):
        trace = Trace()
        config = DesignConfig(num=2, sampler=sampler, steps=9, cache=cache)
        designs = design(LENGTH, ["3:HEXXH"], config, generator=generator_model, scorer=None, trace=trace)
        runs[cache] = [record.cached for record in trace]
        assert all(d.sequence[2:7:4] == "HH" and d.scores["motif_recovery"] == 1.0 for d in designs)
    assert not any(runs[False])
    assert runs[True][0] is False and sum(runs[True]) >= len(runs[True]) // 2  # a full forward every 4 steps


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"length": 0}, "length must be at least 1"),
        ({"length": MAX_RESIDUES + 1}, f"between 1 and {MAX_RESIDUES} residues"),
        ({"motifs": ["5:HEJXH"]}, "residue 'J' at motif position 3"),
        ({"motifs": ["28:HEXXH"]}, "28:HEXXH: ends at position 32, past the end of a design of length 30"),
        ({"motifs": ["20-40:GGS"]}, "window ends at 40, past the end"),
        ({"forbid": "J"}, "'J' is not a standard amino acid"),
        ({"num": 0}, "num must be at least 1"),
        ({"sampler": "magic"}, "unknown sampler 'magic'"),
        ({"sampler": "magic", "order_noise": 1.0}, "unknown sampler 'magic'"),
        ({"temperature": -1.0}, "temperature must be >= 0"),
        ({"order_noise": 2.0}, "order_noise ranks the positions of a confidence-ordered sampler \\(confidence, factor, fixed, threshold\\); the sampler 'ancestral' has none"),
        ({"order_noise": -1.0, "sampler": "threshold"}, "order_noise must be a finite number >= 0"),
        ({"esm_remask": -3.0}, "esm_remask needs an ESM-2 scorer"),
        ({"reference": ["MKB1"], "scorer": "ESM"}, "reference sequence 0: residue '1' at position 4"),
        ({"generator": "/no/such/folder"}, "cannot load the generator '/no/such/folder'"),
        ({"device": "gpu"}, "unknown device 'gpu': expected cpu, cuda, cuda:N or mps"),
    ],
)
def test_bad_requests_are_named(generator_model, kwargs, message):
    arguments = {"length": LENGTH, "generator": generator_model, "scorer": None} | kwargs
    settings = {k: arguments.pop(k) for k in list(arguments) if k in DesignConfig.__dataclass_fields__}
    with pytest.raises(DesignError, match=message):
        design(**arguments, config=DesignConfig(**settings))


def test_unshipped_defaults_say_what_to_pass(generator_model, monkeypatch):
    monkeypatch.setattr(importlib.import_module("apps.protein.design"), "registered_names", lambda: [])  # a checkout without the shipped models
    with pytest.raises(DesignError, match=f"no default protein model \\('{DEFAULT_MODEL}'\\) is shipped yet: pass generator=PATH"):
        design(LENGTH)
    with pytest.raises(DesignError, match=f"no default ESM-2 scorer \\('{DEFAULT_SCORER}'\\).*scorer=None"):
        design(LENGTH, generator=generator_model)


def test_a_model_on_another_alphabet_is_refused():
    with pytest.raises(DesignError, match="does not use the ESM alphabet"):
        design(LENGTH, generator=Generator(tiny_generator(mask_id=0)), scorer=None)

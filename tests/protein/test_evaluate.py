from __future__ import annotations

import gzip
import json
import math
import random
from collections import Counter

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from apps.protein.alphabet import STANDARD_RESIDUES
from apps.protein.baselines import NGramModel, baseline_sets, shuffled
from apps.protein.cli import main
from apps.protein.evaluate import SETS, EvalConfig, evaluate, make_designs, sample_sequences
from apps.protein.metrics import PseudoPerplexities, diversity, kl_bits, shuffle_pairs_fraction
from apps.protein.report import format_report
from tests.conftest import requires_tool
from tests.protein.conftest import MAX_RESIDUES

pytestmark = pytest.mark.usefixtures("one_thread")


def random_protein(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(STANDARD_RESIDUES) for _ in range(length))


def test_shuffled_keeps_the_residues_and_depends_only_on_seed_and_sequence():
    protein = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    assert Counter(shuffled(protein, 0)) == Counter(protein)
    assert shuffled(protein, 0) == shuffled(protein, 0) != protein
    assert shuffled(protein, 0) != shuffled(protein, 1)


def test_shuffle_pairs_fraction_counts_strictly_lower_naturals():
    assert shuffle_pairs_fraction([1.0, 2.0, 3.0, 5.0], [2.0, 1.0, 4.0, 5.0]) == 0.5
    with pytest.raises(ValueError, match="one shuffled value for each"):
        shuffle_pairs_fraction([1.0], [1.0, 2.0])


def test_kl_bits_is_zero_for_one_composition_and_one_bit_for_half_the_alphabet():
    assert kl_bits(["ACDE", "KL"], ["LKEDCA"]) == pytest.approx(0.0)
    # P: 10 residues 10,000 times each, Q: uniform; add-one smoothing leaves 1 / 100,020 on P's absent residues
    half, whole = STANDARD_RESIDUES[:10] * 10_000, STANDARD_RESIDUES * 5_000
    present, absent = 10_001 / 100_020, 1 / 100_020
    expected = 10 * present * math.log2(20 * present) + 10 * absent * math.log2(20 * absent)
    assert kl_bits([half], [whole]) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(1.0, abs=2e-3)  # about log2(20 / 10)


def test_diversity_is_one_for_copies_and_low_for_unrelated_sequences():
    rng = random.Random(0)
    assert diversity(["MKTAYIAKQRQISFVK"] * 3) == 1.0
    assert diversity([random_protein(rng, 60) for _ in range(6)]) < 0.35


def test_ngram_model_trained_on_a_repeated_pattern_reproduces_it():
    model = NGramModel.fit(["ACDE" * 20, "ACDE" * 5], order=3, add_k=1e-9)
    assert model.sample([12, 3, 1], np.random.default_rng(0)) == ["ACDEACDEACDE", "ACD", "A"]


def test_unigram_model_is_the_smoothed_composition_and_samples_it():
    model = NGramModel.fit(["AAAC", "AC"], order=1, add_k=1.0)
    expected = {r: 1 / 26 for r in STANDARD_RESIDUES} | {"A": 5 / 26, "C": 3 / 26}
    assert model.probs[0] == pytest.approx([expected[r] for r in STANDARD_RESIDUES])
    (sample,) = model.sample([20_000], np.random.default_rng(1))
    assert Counter(sample)["A"] / 20_000 == pytest.approx(5 / 26, abs=0.01)


def test_ngram_sampling_is_seeded_and_gives_the_asked_lengths():
    rng = random.Random(0)
    model = NGramModel.fit([random_protein(rng, 50) for _ in range(20)], order=2)
    lengths = [5, 40, 17]
    first, again = (model.sample(lengths, np.random.default_rng(7)) for _ in range(2))
    assert first == again and [len(s) for s in first] == lengths
    assert all(set(s) <= set(STANDARD_RESIDUES) for s in first)


@pytest.mark.parametrize("sequences, order, add_k, message", [
    (["ACDX"], 3, 1.0, "only the standard residues"),
    (["AC^D"], 2, 1.0, "only the standard residues"),
    (["ACD"], 0, 1.0, "order must be at least 1"),
    (["ACD"], 2, 0.0, "add_k must be positive"),
    ([], 2, 1.0, "no sequences"),
])  # fmt: skip
def test_ngram_fit_rejects_bad_input(sequences, order, add_k, message):
    with pytest.raises(ValueError, match=message):
        NGramModel.fit(sequences, order=order, add_k=add_k)


def test_baseline_sets_have_the_natural_lengths_and_depend_only_on_the_seed():
    rng = random.Random(0)
    training = [random_protein(rng, 50) for _ in range(30)]
    natural = [random_protein(rng, n) for n in (12, 40, 7)]
    sets, fit_on = baseline_sets(training, natural, seed=3)
    assert list(sets) == ["unigram", "ngram", "natural", "shuffled"] and fit_on == 30
    assert all([len(s) for s in sequences] == [12, 40, 7] for sequences in sets.values())
    assert sets["natural"] == natural and sets["shuffled"] == [shuffled(s, 3) for s in natural]
    assert baseline_sets(training, natural, seed=3) == (sets, 30) != baseline_sets(training, natural, seed=4)


def test_sample_sequences_caps_lengths_and_is_seeded():
    sequences = ["A" * n for n in range(1, 30)]
    first = sample_sequences(sequences, 10, seed=3)
    assert sorted(first) == sequences[:10] and first == sample_sequences(sequences, 10, seed=3)
    assert first != sample_sequences(sequences, 10, seed=4)


@pytest.mark.parametrize("changes, message", [
    ({"num_natural": 0}, "num_natural must be at least 1"),
    ({"num_designs": 1}, "num_designs must be at least 2"),
    ({"max_length": 10}, "max_length must be at least"),
    ({"sampler": "nope"}, "unknown sampler 'nope'"),
    ({"temperature": -1.0}, "temperature must be >= 0"),
    ({"steps": 0}, "steps must be at least 1"),
    ({"compare_temperatures": (-0.5,)}, "temperature must be >= 0"),
    ({"compare_temperatures": (0.8, 1.0)}, "repeats a temperature"),
])  # fmt: skip
def test_eval_config_names_the_bad_value(changes, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig(**changes)


def test_pseudo_perplexities_scores_each_sequence_once(esm_scorer):
    calls = []

    class Counting:
        def score(self, sequences):
            calls.append(list(sequences))
            return esm_scorer.score(sequences)

    pppl = PseudoPerplexities(Counting())
    first = pppl(["MKTAYIAK", "GSHMLEDP", "MKTAYIAK"])
    assert first[0] == first[2] and pppl(["GSHMLEDP"]) == [first[1]]
    assert calls == [["MKTAYIAK", "GSHMLEDP"], []]


def test_make_designs_pinned(generator_model):
    """The evaluation's design sets from fixed seeds, recorded before the split of evaluate.py: the same after it."""
    assert make_designs(generator_model, [20, 12, 20], EvalConfig(steps=4, seed=5).design_config(1.0), "cpu") == [
        "PMGQRETQWFPYSRKNNQRM", "WMIRWFMDPPHW", "TCNSYIATRMQKCKKIAVFE",
    ]  # fmt: skip
    assert make_designs(generator_model, [15, 15], EvalConfig(seed=0).design_config(0.7), "cpu") == [
        "TCAMVHWDYTMIHTH", "VPVRLNDMLGIAARG",
    ]  # fmt: skip


@pytest.fixture
def corpus(tmp_path):
    """A tiny corpus of random proteins in the folder layout `dlm-protein corpus` writes."""
    rng = random.Random(1)
    splits = {name: [random_protein(rng, rng.randint(30, 60)) for _ in range(n)] for name, n in [("train", 40), ("validation", 4), ("test", 12)]}
    DatasetDict({name: Dataset.from_dict({"sequence": seqs}) for name, seqs in splits.items()}).save_to_disk(tmp_path / "corpus")
    return tmp_path / "corpus", splits


@pytest.fixture
def external(tmp_path, corpus):
    """An external FASTA: two copies of training sequences, one close relative of one, and eight new proteins."""
    rng = random.Random(2)
    train = corpus[1]["train"]
    relative = "".join(r if i % 10 else "W" for i, r in enumerate(train[2]))
    sequences = [train[0], train[1], relative] + [random_protein(rng, 50) for _ in range(8)]
    path = tmp_path / "external.fasta.gz"
    with gzip.open(path, "wt") as out:
        out.write("".join(f">tr|E{i}|E{i}_HUMAN\n{s}\n" for i, s in enumerate(sequences)))
    return path


@pytest.mark.slow
@requires_tool("mmseqs")
def test_evaluate_reports_every_set_with_its_baselines(tmp_path, corpus, external, generator_model, esm_scorer):
    config = EvalConfig(num_natural=6, num_designs=4, max_length=MAX_RESIDUES, threads=1)
    kwargs = {"model": generator_model, "scorer": esm_scorer, "config": config, "external": external}
    report = evaluate(corpus[0], workdir=tmp_path / "work", **kwargs)
    assert set(report) == {"scorer_check", "generation", "settings", "seconds"}
    test, outside = report["scorer_check"]["test"], report["scorer_check"]["external"]
    assert test["n"] == 6 and 0.0 <= test["natural_lower_fraction"] <= 1.0
    assert outside["external_sequences"] == 11 and outside["identical_to_training_removed"] == 2
    assert outside["searched_for_relatives"] == 9 and outside["with_training_relative_removed"] == 1
    assert outside["n"] == 6
    assert list(report["generation"]) == list(SETS)
    natural = report["generation"]["natural"]
    for name, row in report["generation"].items():
        assert row["n"] == 4 and row["median_length"] == natural["median_length"], name
        assert row["median_pppl"] > 1.0 and row["kl_bits"] >= 0.0 and 0.0 <= row["no_hit_fraction"] <= 1.0
    assert report["generation"]["shuffled"]["kl_bits"] == pytest.approx(natural["kl_bits"])
    assert natural["no_hit_fraction"] == 1.0  # random test proteins have no relative in training
    assert report["settings"]["num_designs"] == 4 and report["seconds"]["total"] > 0
    assert "natural<shuffled" in format_report(report)
    again = evaluate(corpus[0], workdir=tmp_path / "work", **kwargs)
    assert again["scorer_check"] == report["scorer_check"] and again["generation"] == report["generation"]


@pytest.mark.slow
@requires_tool("mmseqs")
def test_eval_cli_prints_one_json_object(capsys, corpus, external, generator_dir, scorer_dir):
    argv = ["eval", "design", "--data", str(corpus[0]), "--model", str(generator_dir), "--scorer", str(scorer_dir), "--external", str(external)]
    assert main([*argv, "--num-natural", "3", "--num-designs", "2", "--max-length", "60", "--threads", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scorer_check"]["test"]["n"] == 3 and report["generation"]["designs"]["n"] == 2
    assert report["settings"]["model"] == str(generator_dir)
    assert report["settings"]["scorer_window"] is None  # the test scorer has no training record: whole sequences
    assert main([*argv, "--num-natural", "3", "--num-designs", "2", "--max-length", "60", "--threads", "1", "--json",
                 "--window", "16"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["settings"]["scorer_window"] == 16
    assert main([*argv, "--num-natural", "3", "--num-designs", "2", "--max-length", "60", "--threads", "1",
                 "--compare-temperature", "0.5", "--compare-temperature", "0"]) == 0  # fmt: skip
    printed = capsys.readouterr().out  # the text report: a row a design set, each temperature its own
    assert "designs_t0.5 " in printed and "designs_t0 " in printed
    assert main([*argv, "--num-natural", "3", "--num-designs", "2", "--max-length", "60", "--threads", "1", "--json",
                 "--compare-temperature", "0.5"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert list(report["generation"]) == ["designs", "designs_t0.5", "unigram", "ngram", "natural", "shuffled"]
    assert report["generation"]["designs_t0.5"]["n"] == 2 and report["settings"]["compare_temperatures"] == [0.5]


@pytest.mark.parametrize("argv, message", [
    (["--data", "{tmp}/missing"], "not a corpus folder (no dataset_dict.json)"),
    (["--data", "{tmp}", "--num-designs", "1"], "num_designs must be at least 2"),
    (["--data", "{tmp}", "--sampler", "nope"], "unknown sampler 'nope'"),
])  # fmt: skip
def test_eval_cli_errors_name_the_problem(tmp_path, capsys, argv, message):
    assert main(["eval", "design", *(a.format(tmp=tmp_path) for a in argv)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dlm-protein eval: error:") and message in err

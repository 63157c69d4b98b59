"""GO-conditioned design end to end on tiny models: the trainer's layout and warm start, design with terms
and guidance (alone and with motifs and remasking), the CLI's `terms`, `design --go` and `train-go`, and
`eval go` on a tiny corpus."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from unittest.mock import ANY

import pytest
import torch
import yaml

from apps.protein.alphabet import PAD_ID, STANDARD_RESIDUES
from apps.protein.cli import main
from apps.protein.design import DesignConfig, DesignError, design, load_generator, load_scorer
from apps.protein.go import TermVocabulary
from apps.protein.evaluate import designed
from apps.protein.go_eval import GoDesignSets, GoEvalConfig, evaluate_go, term_elbo
from apps.protein.go_train import build_trainer, term_subset, term_token, warm_start
from apps.protein.metrics import floored_ratio, motif_kept
from apps.protein.probes import ProbeConfig, ProbeSet, layer_means
from apps.protein.report import format_go_report
from shared_dlm import read_recipe
from tests.conftest import requires_tool
from tests.protein.conftest import MAX_POSITIONS, go_protein, tiny_generator_folder, write_go_corpus

pytestmark = pytest.mark.usefixtures("one_thread")

DNA, ZINC, MEMBRANE = "GO:0003677", "GO:0008270", "GO:0016021"


# ---- training ------------------------------------------------------------------------------------------


@pytest.fixture
def go_run(tmp_path, go_graph_dir):
    """A GO trainer on the tiny corpus, warm-started from a tiny generator, with a small recipe."""
    corpus = write_go_corpus(tmp_path / "corpus")
    init = tiny_generator_folder(tmp_path / "init")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "go": {"init": str(init), "min_count": 5, "slots": 4, "p_uncond": 0.25},
        "text_field": "sequence", "seq_len": 48, "batch_size": 4, "lr": 1e-3, "warmup_steps": 1, "max_steps": 4,
        "eval_every": 2, "eval_batches": 1, "save_every": 2, "log_every": 1, "seed": 0,
    }))  # fmt: skip

    def make(out: Path, **overrides):
        return build_trainer(corpus, out, recipe, **overrides)

    return make, init


def test_collate_lays_terms_before_the_residues_and_never_masks_them(go_run, tmp_path):
    make, _ = go_run
    trainer = make(tmp_path / "run")
    vocabulary = trainer.vocabulary
    assert vocabulary.slots == 4 and DNA in vocabulary and (tmp_path / "run" / "go_terms.json").is_file()
    examples = [trainer.train_data[i] for i in range(len(trainer.train_data))]
    batch = trainer.collate(examples, torch.Generator().manual_seed(0))
    again = trainer.collate(examples, torch.Generator().manual_seed(0))
    assert all(torch.equal(batch[k], again[k]) for k in batch)  # a pure function of the generator: exact resume
    ids, attention, maskable = batch["input_ids"], batch["attention_mask"], batch["maskable"]
    assert ids.shape == (len(examples), 48)
    assert not maskable[:, :4].any() and maskable[:, 4].all()  # <cls> is maskable context like any residue
    slots = ids[:, :4]
    terms = slots >= vocabulary.first_token
    assert torch.equal(terms, attention[:, :4]) and (slots[~terms] == PAD_ID).all()
    for row, example in enumerate(examples):
        shown = {int(t) - vocabulary.first_token for t in slots[row][terms[row]]}
        assert shown <= set(example["terms"])  # only the protein's own (propagated) terms
        assert sorted(shown) == [int(t) - vocabulary.first_token for t in slots[row][terms[row]]]  # vocabulary order
    unconditional = ~terms.any(1)
    with_terms = torch.tensor([bool(e["terms"]) for e in examples])
    assert unconditional[with_terms].any() and (~unconditional[with_terms]).any()  # term dropout, some of each
    assert unconditional[~with_terms].all()


def test_keep_rate_subsets_show_each_term_half_the_time_within_the_slots():
    terms, weights, generator = list(range(0, 40, 2)), torch.ones(40), torch.Generator().manual_seed(0)
    drawn = [term_subset(terms, weights, 8, generator) for _ in range(2000)]
    assert all(1 <= len(d) <= 8 and d == sorted(set(d)) and set(d) <= set(terms) for d in drawn)
    assert min(len(d) for d in drawn) == 1 and sum(len(d) == 8 for d in drawn) > 500  # few and many
    few = [term_subset(terms[:6], weights, 8, generator) for _ in range(4000)]
    shown = sum(terms[0] in d for d in few) / len(few)
    assert 0.5 < shown < 0.65  # half the time, plus the draws where only a forced single term is left
    assert [len(term_subset(terms, weights, 3, generator, "weighted")) for _ in range(300)].count(3) > 50
    with pytest.raises(ValueError, match="unknown term subset"):
        term_subset(terms, weights, 8, generator, "all")


def test_warm_start_keeps_the_generator_for_unconditional_input(go_run):
    _, init = go_run
    base = load_generator(init).model
    grown = warm_start(init, base.spec.vocab_size + 8, MAX_POSITIONS + 4).eval()
    assert grown.spec.vocab_size == base.spec.vocab_size + 8
    assert grown.lm_head.weight.data_ptr() == grown.embed.weight.data_ptr()  # still tied
    residues = torch.randint(4, 24, (2, 20), generator=torch.Generator().manual_seed(0))
    empty = torch.full((2, 4), PAD_ID)
    attention = torch.cat([torch.zeros(2, 4, dtype=torch.bool), torch.ones(2, 20, dtype=torch.bool)], 1)
    with torch.no_grad():
        before = base(residues)
        after = grown(torch.cat([empty, residues], 1), attention_mask=attention)[:, 4:, : base.spec.vocab_size]
    # rotary attention sees only relative positions and the empty slots are not attended: the same model
    assert torch.allclose(before, after, atol=1e-4)


def test_warm_start_spreads_the_new_rows_like_the_residue_rows(go_run):
    _, init = go_run
    base = load_generator(init).model
    old = base.embed.weight.data
    grown = warm_start(init, base.spec.vocab_size + 64, MAX_POSITIONS, seed=3)
    new = grown.embed.weight.data[old.shape[0]:]
    assert torch.equal(grown.embed.weight.data[: old.shape[0]], old)
    # terms start apart from one another, about as far as residues are (not all at one point)
    spread = lambda rows: (rows - rows.mean(0)).norm(dim=1).mean()
    assert 0.7 < spread(new) / spread(old) < 1.3
    assert torch.equal(new, warm_start(init, base.spec.vocab_size + 64, MAX_POSITIONS, seed=3).embed.weight.data[old.shape[0]:])
    at_mean = warm_start(init, base.spec.vocab_size + 4, MAX_POSITIONS, control_init="mean").embed.weight.data[old.shape[0]:]
    assert torch.allclose(at_mean, old.mean(0).expand(4, -1))  # the first model's start
    with pytest.raises(ValueError, match="unknown control_init"):
        warm_start(init, base.spec.vocab_size + 4, MAX_POSITIONS, control_init="zeros")


def test_the_go_recipes_read(tmp_path):
    """The shipped model's recipe, and the same sized for a GPU (bench/device/session.sh runs it)."""
    from apps.protein.go_train import RECIPE, GoRecipe

    for recipe in (RECIPE, RECIPE.with_name("go_recipe_gpu.yaml")):
        config, go = read_recipe(recipe, GoRecipe, section="go", output_dir=str(tmp_path))
        assert go == GoRecipe(init="apps/protein/models/generator", min_count=500, slots=8, p_uncond=0.15,
                              subset="keep_rate", term_weight_power=0.5, control_lr_scale=5.0, control_init="spread")
        assert config.seq_len > go.slots + 2


def test_a_go_recipe_with_an_unknown_setting_names_it(tmp_path):
    from apps.protein.go_train import GoRecipe

    bad = tmp_path / "bad.yaml"
    bad.write_text("seq_len: 64\ngo: {slots: 4, p_uncnd: 0.2}\n")
    with pytest.raises(ValueError, match="bad.yaml: unknown settings \\['p_uncnd'\\] in section 'go'"):
        read_recipe(bad, GoRecipe, section="go")


def test_control_lr_scale_scales_only_the_term_rows_step(go_run, tmp_path):
    make, _ = go_run
    changes = {}
    for scale in (1.0, 4.0):
        trainer = make(tmp_path / f"run-{scale}", max_steps=1)
        trainer.control_lr_scale = scale
        if scale != 1.0:
            trainer._scale_control_steps()
        weight = trainer.accelerator.unwrap_model(trainer.model).embed.weight
        before = weight.data.clone()
        trainer.train()
        changes[scale] = weight.data - before
    first = trainer.vocabulary.first_token
    assert torch.allclose(changes[4.0][:first], changes[1.0][:first])  # residue rows: the plain step
    assert changes[1.0][first:].abs().sum() > 0
    assert torch.allclose(changes[4.0][first:], 4 * changes[1.0][first:], rtol=1e-4, atol=1e-7)


def test_control_lr_scale_must_be_positive(go_run, tmp_path):
    make, _ = go_run
    trainer = make(tmp_path / "run")
    with pytest.raises(ValueError, match="control_lr_scale"):
        type(trainer)(trainer.config, trainer.model, trainer.train_data, trainer.eval_data, trainer.tokenizer,
                      trainer.vocabulary, control_lr_scale=0.0)  # fmt: skip


def test_train_go_writes_a_model_folder_that_design_loads(go_run, tmp_path):
    make, _ = go_run
    trainer = make(tmp_path / "run")
    metrics = trainer.train()
    folder = tmp_path / "run" / "model"
    assert trainer.step == 4 and "eval_bits_per_token" in metrics
    vocabulary = load_generator(folder).vocabulary
    assert isinstance(vocabulary, TermVocabulary) and vocabulary.slots == 4
    tokenizer_vocab = json.loads((folder / "tokenizer.json").read_text())["added_tokens"]
    assert {t["content"]: t["id"] for t in tokenizer_vocab}[term_token(DNA)] == vocabulary.token(DNA)


def test_a_stopped_go_run_resumes_to_the_same_weights(go_run, tmp_path):
    make, _ = go_run
    make(tmp_path / "whole").train()
    make(tmp_path / "parts", max_steps=2).train()
    make(tmp_path / "parts").train()
    whole = load_generator(tmp_path / "whole" / "model").model.state_dict()
    parts = load_generator(tmp_path / "parts" / "model").model.state_dict()
    assert all(torch.equal(whole[k], parts[k]) for k in whole)


def test_cli_train_go_refuses_a_folder_that_is_not_a_corpus(tmp_path, capsys):
    assert main(["train-go", "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 1
    assert "not a corpus folder" in capsys.readouterr().err


# ---- design --------------------------------------------------------------------------------------------


def test_design_with_terms_keeps_motifs_and_records_the_conditioning(go_generator_dir):
    config = DesignConfig(num=3, go=(ZINC,), guidance=2.0, steps=8)
    designs = design(40, ["5:HEXXH"], config, generator=go_generator_dir, scorer=None)
    assert len(designs) == 3
    for d in designs:
        assert len(d.sequence) == 40 and set(d.sequence) <= set(STANDARD_RESIDUES)
        assert d.sequence[4] == "H" and d.sequence[5] == "E" and d.sequence[8] == "H"
        assert d.scores["motif_recovery"] == 1.0 and d.go == (ZINC,) and d.guidance == 2.0
        assert len(d.confidence) == 40
    assert designs[0].as_dict()["go"] == [ZINC]


def test_guidance_zero_gives_the_unconditioned_designs(go_generator_dir):
    config = DesignConfig(num=3, steps=6, seed=3)
    without = design(30, [], config, generator=go_generator_dir, scorer=None)
    ignored = design(30, [], replace(config, go=(DNA, MEMBRANE), guidance=0.0), generator=go_generator_dir, scorer=None)
    conditioned = design(30, [], replace(config, go=(DNA, MEMBRANE)), generator=go_generator_dir, scorer=None)
    assert [d.sequence for d in ignored] == [d.sequence for d in without] and without[0].go == ()
    assert [d.confidence for d in ignored] == [d.confidence for d in without]
    # the terms reach the model: the same draws, under other probabilities
    assert [d.confidence for d in conditioned] != [d.confidence for d in without]
    assert conditioned[0].guidance == 1.0


def test_esm_remasking_composes_with_the_control_slots(go_generator_dir, scorer_dir):
    config = DesignConfig(num=2, go=(ZINC,), guidance=1.5, steps=8, esm_remask=-1.0)
    designs = design(30, ["3:CXXC"], config, generator=go_generator_dir, scorer=scorer_dir)
    assert all(d.sequence[2] == "C" and d.sequence[5] == "C" for d in designs)
    assert all(len(d.esm_log_probs) == 30 for d in designs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"go": ["GO:0003678"]}, "not a known GO term|outside this model's vocabulary"),
        ({"go": ["DNA binding"]}, r"not a GO id.*GO:0003677 \(DNA binding\)"),
        ({"go": [DNA], "guidance": -1.0}, "guidance must be a finite weight >= 0"),
        ({"guidance": 2.0}, "guidance weighs GO terms"),
        ({"go": [DNA, ZINC, MEMBRANE, "GO:0005488", "GO:0016020", "GO:0046872", "GO:0003676", "GO:0006355", "x"]},
         "at most 8 GO terms"),
        ({"length": MAX_POSITIONS - 2}, "GO control slots"),
    ],
)  # fmt: skip
def test_bad_conditioning_gets_a_clear_error(go_generator_dir, kwargs, message):
    length = kwargs.pop("length", 20)
    with pytest.raises(DesignError, match=message):
        design(length, [], DesignConfig(num=1, steps=2, **kwargs), generator=go_generator_dir, scorer=None)


def test_terms_need_a_go_generator(generator_dir):
    with pytest.raises(DesignError, match="was not trained with GO terms"):
        design(20, [], DesignConfig(num=1, go=(DNA,)), generator=generator_dir, scorer=None)


# ---- CLI -----------------------------------------------------------------------------------------------


def test_cli_terms_looks_terms_up_by_name_and_id(go_generator_dir, capsys):
    assert main(["terms", "zinc", "--model", str(go_generator_dir)]) == 0
    out = capsys.readouterr().out
    assert "GO:0008270" in out and "zinc ion binding" in out and "molecular_function" in out
    assert main(["terms", "GO:00036", "--model", str(go_generator_dir), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in listed] == ["GO:0003676", "GO:0003677"] and listed[1]["name"] == "DNA binding"
    assert main(["terms", "kinase", "--model", str(go_generator_dir)]) == 1
    assert "matches 'kinase'" in capsys.readouterr().err
    assert main(["terms", "--model", str(go_generator_dir / "missing")]) == 1
    assert "no such folder or registered model" in capsys.readouterr().err


def test_cli_design_with_go_terms(go_generator_dir, tmp_path, capsys):
    out = tmp_path / "designs.fasta"
    args = ["design", "--length", "25", "--num", "2", "--model", str(go_generator_dir), "--scorer", "none", "--steps", "5"]
    assert main([*args, "--go", f"{DNA},{ZINC}", "--guidance", "2", "--json"]) == 0
    designs = json.loads(capsys.readouterr().out)
    assert designs[0]["go"] == [DNA, ZINC] and designs[0]["guidance"] == 2.0
    assert main([*args, "--go", "GO:1234567", "--out", str(out)]) == 1
    assert "GO:1234567" in capsys.readouterr().err and not out.exists()  # nothing written on bad input
    assert main([*args, "--go", DNA, "--guidance", "-2"]) == 1
    assert "guidance must be" in capsys.readouterr().err


# ---- evaluation ----------------------------------------------------------------------------------------


def test_eval_go_design_sets_pinned(go_generator_dir):
    """The sets ``evaluate_go`` makes (a term at a guidance weight, with and without a motif) from fixed seeds,
    recorded before the split of the evaluation modules: the same after it."""
    generator = load_generator(go_generator_dir)
    config = GoEvalConfig(terms=(ZINC,), length=30, num=2, steps=6, seed=0, motif_pairs=())
    sets = GoDesignSets.make(generator, config, "cpu")
    assert sets.conditioned[ZINC] == ["TGPFWRQAKSEYICEDVWSFIQKINYLMQS", "PFPFWWNRRYSMCNHCQYNDYCICLPAVQE"]  # seed 0 + 1
    motif_only = replace(config.design_config(), num=2, go=(ZINC,), guidance=0.0, seed=1)
    assert designed(30, ["5-20:CXXC"], motif_only, generator, "cpu") == [
        "PLDLKQTQTFCVGCMQTTIAMPDGKFEPQM", "HHHRKYIWSSNFDCLLCTRYHCNRSLPQRV",
    ]  # fmt: skip


def test_motif_kept_reads_the_motif_inside_its_window():
    assert motif_kept(["AAHEAAHAAAA", "AAAAAAAAAAA"], "2-11:HEXXH") == 0.5
    assert motif_kept(["AHEAAH"], "2:HEXXH") == 1.0 and motif_kept(["AHEAAH"], "3:HEXXH") == 0.0


def test_ratio_floors_an_empty_baseline_at_one_design():
    assert floored_ratio(0.5, 0.1, 10) == pytest.approx(5.0)
    assert floored_ratio(0.5, 0.0, 10) == pytest.approx(5.0)  # 0 of 10 counts as below 1 in 10
    assert floored_ratio(0.0, 0.0, 10) == 0.0


@requires_tool("mmseqs")
def test_eval_go_reports_every_term_under_both_annotators(tmp_path, go_graph_dir, go_generator_dir, scorer_dir):
    corpus = write_go_corpus(tmp_path / "corpus", {"train": 20, "validation": 6, "test": 6})
    config = GoEvalConfig(
        terms=(DNA, ZINC, MEMBRANE), length=30, num=4, guidance=2.0, compare_guidance=(0.0, 5.0), steps=6,
        motif_pairs=((ZINC, "5-20:CXXC"),),
        motif_num=2, probes=ProbeConfig(sample=40, positives=10, heldout=20), threads=1,
    )  # fmt: skip
    probes_file = tmp_path / "go_probes.json"
    report = evaluate_go(
        corpus, model=go_generator_dir, scorer=scorer_dir, config=config, workdir=tmp_path / "work", save_probes=probes_file
    )  # fmt: skip
    assert [row["term"] for row in report["terms"]] == [DNA, ZINC, MEMBRANE]
    for row in report["terms"]:
        for annotator in ("probe", "homology"):
            assert all(0.0 <= row[annotator][k] <= 1.0 for k in ("conditioned", "unconditioned", "other_terms"))
        assert 0.5 <= row["probe"]["test_auroc"] <= 1.0  # the groups differ in composition: the probe separates them
        assert row["probe"]["positives"] >= 10 and 0.0 <= row["novelty_median_max_identity"] <= 1.0
    assert report["motifs"][0]["with_term"]["motif_kept"] == 1.0 == report["motifs"][0]["motif_only"]["motif_kept"]
    assert report["summary"]["terms"] == 3
    assert all(row["pseudo_perplexity_median"] > 1.0 for row in report["terms"])
    assert report["summary"]["unconditioned_pseudo_perplexity_median"] > 1.0
    zero, five = report["guidance_compare"]  # other weights, each a set a term from the main sets' seeds
    assert zero["guidance"] == 0.0 and five["guidance"] == 5.0
    for other in (zero, five):
        assert list(other["terms"]) == [DNA, ZINC, MEMBRANE]
        assert all(0.0 <= t["conditioned"] <= 1.0 and t["pseudo_perplexity_median"] > 1.0 for t in other["terms"].values())
    assert five["probe_enriched_3x_over_unconditioned"] == sum(t["ratio_unconditioned"] >= 3 for t in five["terms"].values())
    text = format_go_report(report)
    assert "DNA binding" in text and "motif + term" in text and "guidance 5:" in text and "median PPPL" in text
    # the saved probes call the same terms without scikit-learn
    probes = ProbeSet.load(probes_file)
    assert probes.terms == [DNA, ZINC, MEMBRANE] and probes.checks[DNA]["test_auroc"] == report["terms"][0]["probe"]["test_auroc"]
    scorer = load_scorer(scorer_dir).model
    proteins = [go_protein(random.Random(i), group, 40) for i, group in enumerate(["dna", "zinc", "membrane", "none"] * 3)]
    assigned = probes.assign(scorer, proteins)
    features = layer_means(scorer, proteins)
    assert assigned == [[t for t, s, th in zip(probes.terms, row, probes.thresholds) if s >= th] for row in probes.scores(features)]
    assert any(DNA in terms for terms in assigned[0::4]) or any(MEMBRANE in terms for terms in assigned[2::4])


def test_term_elbo_compares_the_same_proteins_under_the_same_noise(tmp_path, go_graph_dir, go_generator_dir, capsys):
    corpus = write_go_corpus(tmp_path / "corpus", {"train": 10, "validation": 12, "test": 2})
    report = term_elbo(corpus, model=go_generator_dir, proteins=8, batch_size=3, seed=1)
    assert report["proteins"] == 8 and report["tokens"] > 8 * 20
    assert report["gain_bits"] == pytest.approx(report["no_terms_bits"] - report["with_terms_bits"])
    assert report["with_terms_bits"] != report["no_terms_bits"]  # the terms reach the model
    again = term_elbo(corpus, model=go_generator_dir, proteins=8, batch_size=5, seed=1)
    # the noise is drawn per batch, so another batching is another estimate of the same two numbers
    assert again["proteins"] == 8 and abs(again["no_terms_bits"] - report["no_terms_bits"]) < 1.0
    assert term_elbo(corpus, model=go_generator_dir, proteins=8, batch_size=3, seed=1) == {**report, "seconds": ANY}
    assert main(["eval", "go-elbo", "--data", str(corpus), "--model", str(go_generator_dir), "--proteins", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["proteins"] == 4
    assert main(["eval", "go-elbo", "--data", str(corpus), "--model", str(go_generator_dir), "--proteins", "0"]) == 1
    assert "--proteins must be at least 1" in capsys.readouterr().err


def test_term_elbo_needs_a_go_generator(tmp_path, go_graph_dir, generator_dir, capsys):
    corpus = write_go_corpus(tmp_path / "corpus", {"train": 2, "validation": 2, "test": 1})
    assert main(["eval", "go-elbo", "--data", str(corpus), "--model", str(generator_dir)]) == 1
    assert "not a GO-conditioned generator" in capsys.readouterr().err


def test_cli_eval_go_refuses_bad_settings(tmp_path, capsys):
    assert main(["eval", "go", "--data", str(tmp_path), "--guidance", "-1"]) == 1
    assert "--guidance must be >= 0" in capsys.readouterr().err
    assert main(["eval", "go", "--data", str(tmp_path), "--terms", " , "]) == 1
    assert "at least one GO term" in capsys.readouterr().err
    assert main(["eval", "go", "--data", str(tmp_path), "--guidance", "3", "--compare-guidance", "3"]) == 1
    assert "repeats a weight" in capsys.readouterr().err
    assert main(["eval", "go", "--data", str(tmp_path), "--compare-guidance", "-2"]) == 1
    assert "guidance must be a finite weight >= 0" in capsys.readouterr().err


def test_eval_go_refuses_a_motif_that_cannot_fit_before_any_work(tmp_path, go_graph_dir, go_generator_dir, scorer_dir):
    corpus = write_go_corpus(tmp_path / "corpus", {"train": 2, "validation": 1, "test": 1})
    config = GoEvalConfig(terms=(DNA,), length=30, motif_pairs=((ZINC, "10-60:HEXXH"),))
    with pytest.raises(DesignError, match="window ends at 60, past the end of a design of length 30"):
        evaluate_go(corpus, model=go_generator_dir, scorer=scorer_dir, config=config)

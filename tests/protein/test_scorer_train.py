"""The ESM scorer's trainer: ESM's masking, and a tiny run through `dlm-protein train-scorer` that resumes
exactly and writes a folder that `load_esm` reads."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset, DatasetDict
from safetensors.torch import load_file

from apps.protein.alphabet import CLS_ID, EOS_ID, MASK_ID, PAD_ID, STANDARD_IDS, STANDARD_RESIDUES
from apps.protein.cli import main
from apps.protein.scorer_train import esm_masking, residue_positions
from apps.protein.scoring import load_esm

pytestmark = pytest.mark.usefixtures("one_thread")


def test_masking_selects_residues_only_in_esm_proportions():
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor(STANDARD_IDS)[torch.randint(20, (64, 200), generator=g)]
    ids[:, 0], ids[:, -1] = CLS_ID, EOS_ID
    ids[:32, 150:] = PAD_ID
    attention = ids != PAD_ID
    residue = residue_positions(ids, attention)
    assert not residue[:, 0].any() and not residue[:, -1].any() and not residue[:32, 150:].any()
    corrupted, selected = esm_masking(ids, residue, g)
    assert not (selected & ~residue).any()
    assert torch.equal(corrupted[~selected], ids[~selected])  # nothing outside the selection changes
    share = selected.sum() / residue.sum()
    assert 0.13 < share < 0.17
    masked = (corrupted[selected] == MASK_ID).float().mean()
    kept = (corrupted[selected] == ids[selected]).float().mean()
    assert 0.75 < masked < 0.85 and 0.07 < kept < 0.15  # kept: 10% unchanged, plus random draws of the same
    assert set(corrupted[selected & (corrupted != MASK_ID)].tolist()) <= set(STANDARD_IDS)


def test_every_sequence_gets_a_selected_residue():
    ids = torch.tensor([[CLS_ID, STANDARD_IDS[0], STANDARD_IDS[1], EOS_ID]]).repeat(50, 1)
    residue = residue_positions(ids, torch.ones_like(ids, dtype=torch.bool))
    _, selected = esm_masking(ids, residue, torch.Generator().manual_seed(1))
    assert (selected.sum(-1) >= 1).all()


@pytest.fixture()
def corpus(tmp_path):
    g = torch.Generator().manual_seed(0)

    def sequences(n):
        return ["".join(STANDARD_RESIDUES[i] for i in torch.randint(20, (int(torch.randint(20, 60, (1,), generator=g)),), generator=g)) for _ in range(n)]

    folder = tmp_path / "corpus"
    DatasetDict({name: Dataset.from_dict({"sequence": sequences(n)}) for name, n in [("train", 40), ("validation", 8)]}).save_to_disk(str(folder))
    return folder


@pytest.mark.slow
def test_train_scorer_resumes_exactly_and_writes_an_esm_folder(corpus, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "model: {num_layers: 1, embed_dim: 32, attention_heads: 2}\ntext_field: sequence\nseq_len: 32\n"
        "batch_size: 4\nlr: 1.0e-3\nwarmup_steps: 1\nmax_steps: 4\neval_every: 2\neval_batches: 1\nsave_every: 2\n"
    )
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    assert main(["train-scorer", "--data", str(corpus), "--out", str(whole), "--config", str(recipe)]) == 0
    # out of time after the first step: a checkpoint at step 1, no final model
    assert main(["train-scorer", "--data", str(corpus), "--out", str(halves), "--config", str(recipe), "--max-minutes", "1e-9"]) == 0
    assert not (halves / "model").exists() and (halves / "checkpoints" / "step-00000001").is_dir()
    assert main(["train-scorer", "--data", str(corpus), "--out", str(halves), "--config", str(recipe)]) == 0
    a, b = load_file(str(whole / "model" / "model.safetensors")), load_file(str(halves / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model = load_esm(whole / "model")
    assert model.num_layers == 1 and model.embed_dim == 32
    evals = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines() if "eval_bits_per_token" in line]
    assert evals and all(0 < e["eval_bits_per_token"] < 20 for e in evals)  # finite; untrained logits are wide

    # a finished scorer (as shipped: no checkpoints, no optimizer) trains on from its step in a new run folder
    more = tmp_path / "more"
    args = ["train-scorer", "--data", str(corpus), "--out", str(more), "--config", str(recipe), "--init-from", str(whole / "model")]
    assert main([*args, "--max-steps", "6"]) == 0
    assert json.loads((more / "model" / "training.json").read_text())["step"] == 6
    assert sorted(p.name for p in (more / "checkpoints").iterdir()) == ["step-00000006"]  # steps 5 and 6 only
    assert main(["train-scorer", "--data", str(corpus), "--out", str(tmp_path / "x"), "--init-from", str(tmp_path)]) == 1
    assert "not a scorer folder" in capsys.readouterr().err


def test_train_scorer_says_when_the_corpus_is_missing(tmp_path, capsys):
    assert main(["train-scorer", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")]) == 1
    assert "not a corpus folder" in capsys.readouterr().err

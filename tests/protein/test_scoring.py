from __future__ import annotations

import argparse
import json
import math
import re

import esm
import pytest
import torch
from esm.model.esm2 import ESM2
from torch import Tensor

from apps.protein.cli import main as protein_main
from apps.protein.scoring import (
    Scorer,
    embed,
    embedding_similarity,
    load_esm,
    load_esm2,
    pseudo_perplexity,
    residue_log_probs,
    save_esm2,
    window_start,
)
from shared_dlm import CheckpointError

SEQUENCES = ["MKTAYIAKQR", "GSHMLEDPVA", "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEG", "WY"]


def tiny_esm2(seed: int = 0) -> ESM2:
    torch.manual_seed(seed)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    return ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=alphabet).eval()


@pytest.fixture
def model() -> ESM2:
    return tiny_esm2()


def naive_log_probs(model: ESM2, sequence: str) -> torch.Tensor:
    alphabet = model.alphabet
    ids = torch.tensor([[alphabet.cls_idx, *(alphabet.get_idx(r) for r in sequence), alphabet.eos_idx]])
    values = []
    with torch.no_grad():
        for i in range(1, ids.shape[1] - 1):
            masked = ids.clone()
            masked[0, i] = alphabet.mask_idx
            values.append(model(masked)["logits"][0, i].log_softmax(-1)[ids[0, i]])
    return torch.stack(values)


@pytest.mark.parametrize("max_tokens", [1, 40, 100_000])  # one copy per pass, a few, all in one
def test_pseudo_log_likelihood_matches_a_loop_over_positions(model, max_tokens):
    batched = residue_log_probs(model, SEQUENCES, max_tokens=max_tokens)
    for sequence, values in zip(SEQUENCES, batched):
        assert values.shape == (len(sequence),)
        torch.testing.assert_close(values, naive_log_probs(model, sequence), atol=1e-5, rtol=1e-5)


def naive_windowed_log_probs(model, sequence: str, window: int) -> Tensor:
    """The definition: each residue masked in the `window` tokens of <cls> sequence <eos> centred on it."""
    alphabet = model.alphabet
    ids = torch.tensor([alphabet.cls_idx, *(alphabet.get_idx(r) for r in sequence), alphabet.eos_idx])
    values = []
    with torch.no_grad():
        for i in range(1, len(ids) - 1):
            start = min(max(i - window // 2, 0), len(ids) - window) if len(ids) > window else 0
            row = ids[start : start + window].clone()
            row[i - start] = alphabet.mask_idx
            values.append(model(row[None])["logits"][0, i - start].log_softmax(-1)[ids[i]])
    return torch.stack(values)


@pytest.mark.parametrize("window", [3, 8, 11])
def test_windowed_pseudo_likelihood_scores_each_residue_in_its_window(model, window):
    batched = residue_log_probs(model, SEQUENCES, max_tokens=64, window=window)
    for sequence, values in zip(SEQUENCES, batched):
        torch.testing.assert_close(values, naive_windowed_log_probs(model, sequence, window), atol=1e-5, rtol=1e-5)
    assert window_start(1, 20, 8) == 0 and window_start(10, 20, 8) == 6 and window_start(18, 20, 8) == 12
    # a row that fits its window is scored whole
    short = [s for s in SEQUENCES if len(s) + 2 <= 40]
    whole = residue_log_probs(model, short)
    for a, b in zip(residue_log_probs(model, short, window=40), whole):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="at least 3 tokens"):
        residue_log_probs(model, SEQUENCES, window=2)


def test_scorers_window_at_the_context_they_were_trained_on(model, tmp_path):
    folder = save_esm2(model, tmp_path / "esm")
    assert Scorer(load_esm(folder)).window is None  # no record: whole sequences
    (folder / "training.json").write_text(json.dumps({"train_config": {"seq_len": 9}}))
    scorer = Scorer(load_esm(folder))
    assert scorer.window == 9 and Scorer(load_esm(folder), window=None).window is None
    long = max(SEQUENCES, key=len)
    expected = naive_windowed_log_probs(model, long, 9)
    assert scorer.score([long])[0]["mean_log_prob"] == pytest.approx(float(expected.mean()), abs=1e-5)
    with pytest.raises(ValueError, match="window must be"):
        Scorer(model, window=1)


def test_pseudo_perplexity_is_exp_of_minus_mean_log_prob(model):
    scores = Scorer(model).score(SEQUENCES)
    for sequence, row in zip(SEQUENCES, scores):
        log_probs = naive_log_probs(model, sequence)
        assert row["mean_log_prob"] == pytest.approx(float(log_probs.mean()), abs=1e-5)
        assert row["pseudo_perplexity"] == pytest.approx(math.exp(-float(log_probs.mean())), rel=1e-5)
        assert "embedding_similarity" not in row
    assert pseudo_perplexity(torch.log(torch.full((5,), 0.25))) == pytest.approx(4.0)


def test_embeddings_ignore_padding(model):
    alone = embed(model, ["MKTAYIAKQR"])
    with_longer = embed(model, ["MKTAYIAKQR", "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEG"])
    assert alone.shape == (1, 32) and with_longer.shape == (2, 32)
    torch.testing.assert_close(with_longer[0], alone[0], atol=1e-5, rtol=1e-5)
    # order and batching do not matter either
    torch.testing.assert_close(embed(model, SEQUENCES, max_tokens=1), embed(model, SEQUENCES), atol=1e-5, rtol=1e-5)


def test_embedding_similarity_to_the_reference_centroid(model):
    scorer = Scorer(model, reference=SEQUENCES[:2])
    scores = scorer.score(SEQUENCES)
    reference = embed(model, SEQUENCES[:2])
    expected = torch.nn.functional.cosine_similarity(embed(model, SEQUENCES), reference.mean(0, keepdim=True))
    assert [row["embedding_similarity"] for row in scores] == pytest.approx(expected.tolist(), abs=1e-5)
    assert embedding_similarity(reference[:1], reference[:1]).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="reference set is empty"):
        Scorer(model, reference=[])


def test_unknown_residues_are_named(model):
    with pytest.raises(ValueError, match="residue 'J' at position 3"):
        residue_log_probs(model, ["MKJL"])


def test_save_load_round_trip(model, tmp_path):
    save_esm2(model, tmp_path / "esm")
    assert json.loads((tmp_path / "esm" / "config.json").read_text())["num_layers"] == 2
    loaded = load_esm(tmp_path / "esm")
    assert loaded.lm_head.weight is loaded.embed_tokens.weight  # still tied
    ids = torch.tensor([[0, 20, 15, 11, 2]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids)["logits"], model(ids)["logits"])
    assert Scorer(loaded).score(SEQUENCES[:1]) == Scorer(model).score(SEQUENCES[:1])
    half = load_esm2(tmp_path / "esm", dtype=torch.bfloat16)
    assert half.embed_tokens.weight.dtype == torch.bfloat16


def test_truncated_or_wrong_checkpoints_name_the_file(model, tmp_path):
    folder = save_esm2(model, tmp_path / "esm")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=re.escape(str(weights))):
        load_esm2(folder)
    save_esm2(tiny_esm2(), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "embed_dim": 64}))
    with pytest.raises(CheckpointError, match=re.escape(str(weights)) + ": tensor '.*' has shape .*, the model expects"):
        load_esm2(folder)
    (folder / "config.json").write_text(json.dumps({**config, "layers": 2}))
    with pytest.raises(CheckpointError, match="config.json: expected exactly"):
        load_esm2(folder)


def fair_esm_checkpoint(model: ESM2, path) -> None:
    """A checkpoint laid out as esm.pretrained downloads it: fairseq prefixes, config in a Namespace."""
    cfg = argparse.Namespace(
        encoder_layers=model.num_layers,
        encoder_embed_dim=model.embed_dim,
        encoder_attention_heads=model.attention_heads,
        token_dropout=model.token_dropout,
    )
    state = {
        f"encoder.sentence_encoder.{k}": v
        for k, v in model.state_dict().items()
        if not k.startswith("contact_head.regression")  # shipped in a separate file
    }
    torch.save({"cfg": {"model": cfg}, "model": state}, path)


def test_fair_esm_checkpoint_loads_safely(model, tmp_path):
    path = tmp_path / "esm2_tiny.pt"
    fair_esm_checkpoint(model, path)
    loaded = load_esm(path)
    ids = torch.tensor([[0, 20, 15, 11, 2]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids)["logits"], model(ids)["logits"])
    assert Scorer(loaded).window == 1024  # ESM-2's training crops

    class Payload:  # anything beyond tensors and the config is refused, never executed
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"cfg": {"model": Payload()}, "model": {}}, path)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_esm(path)


class Opaque:
    """An object no ESM-2 checkpoint holds: torch.load(weights_only=True) refuses its class."""


def test_a_refused_checkpoint_says_why_without_advising_to_turn_the_check_off(model, tmp_path, capsys):
    path = tmp_path / "esm2_tiny.pt"
    torch.save({"cfg": {"model": Opaque()}, "model": {}}, path)
    with pytest.raises(CheckpointError) as refused:
        load_esm(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: not loaded") and "tests.protein.test_scoring.Opaque" in message
    assert "code that would run when the file is loaded" in message and "safetensors" in message
    assert "weights_only" not in message and "\n" not in message
    fasta = tmp_path / "x.fasta"
    fasta.write_text(">x\nMKTAYIAK\n")
    assert protein_main(["score", str(fasta), "--esm", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fair-esm yourself" in err and "weights_only" not in err


def test_truncated_or_wrong_shape_fair_esm_checkpoint(model, tmp_path):
    path = tmp_path / "esm2_tiny.pt"
    fair_esm_checkpoint(model, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: cannot be read")):
        load_esm(path)
    wide = ESM2(num_layers=2, embed_dim=64, attention_heads=4)
    fair_esm_checkpoint(wide, path)
    data = torch.load(path, weights_only=False)
    data["cfg"]["model"].encoder_embed_dim = 32
    torch.save(data, path)
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ": tensor '.*' has shape"):
        load_esm(path)


@pytest.fixture
def hub_dir(tmp_path):
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(before)


def test_hub_names_load_only_from_the_cache(model, hub_dir):
    expected = hub_dir / "checkpoints" / "esm2_t6_8M_UR50D.pt"
    with pytest.raises(FileNotFoundError, match=re.escape(f"looked for {expected}")):
        load_esm("esm2_t6_8M_UR50D")
    expected.parent.mkdir(parents=True)
    fair_esm_checkpoint(model, expected)  # a stand-in with the cached name
    assert load_esm("esm2_t6_8M_UR50D").num_layers == 2
    with pytest.raises(FileNotFoundError, match="not one of the esm.pretrained names"):
        load_esm("esm2_t99_huge")

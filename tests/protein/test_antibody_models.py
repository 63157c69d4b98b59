"""The pretrained antibody LMs as denoisers: the Sapiens conversion is exact, the shipped folders are the
conversion's, the models tell an antibody from its shuffle, and every sampler runs on them."""

import argparse
import functools
import hashlib
import json
import random
from pathlib import Path

import pytest
import torch

import apps.protein  # noqa: F401  (registers the antibody models by name)
from apps.protein.antibody import SAPIENS, chain_ids
from apps.protein.convert_sapiens import convert, fairseq_forward, read_checkpoint
from shared_dlm import STRATEGIES, Canvas, SamplerConfig, generate, load, make_strategy

# trastuzumab (a humanized IgG1): its VH and VL
VH = "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS"
VL = "DIQMTQSPSSLSASVGDRVTITCRASQDVNTAVAWYQQKPGKAPKLLIYSASFLYSGVPSRFSGSRSGTDFTLTISSLQPEDFATYYCQQHYTTPPTFGQGTKVEIK"
RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


@functools.cache
def shipped(name: str):
    """Each shipped model loaded once for the whole module."""
    return load(name)


def tiny_fairseq_checkpoint(path: Path, layers: int = 2, hidden: int = 16, ffn: int = 24, heads: int = 4) -> None:
    """A random checkpoint with fairseq RoBERTa's tensor names and training arguments, saved as fairseq does."""
    g = torch.Generator().manual_seed(0)
    vocab, positions = 25, 20

    def rand(*shape):
        return torch.randn(*shape, generator=g) * 0.5

    enc = "decoder.sentence_encoder."
    state = {enc + "embed_tokens.weight": rand(vocab, hidden), enc + "embed_positions.weight": rand(positions, hidden)}
    norms = [enc + "emb_layer_norm", "decoder.lm_head.layer_norm"]
    for i in range(layers):
        layer = f"{enc}layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            state[f"{layer}self_attn.{name}.weight"] = rand(hidden, hidden)
            state[f"{layer}self_attn.{name}.bias"] = rand(hidden)
        state[layer + "fc1.weight"], state[layer + "fc1.bias"] = rand(ffn, hidden), rand(ffn)
        state[layer + "fc2.weight"], state[layer + "fc2.bias"] = rand(hidden, ffn), rand(hidden)
        norms += [layer + "self_attn_layer_norm", layer + "final_layer_norm"]
    for name in norms:
        state[name + ".weight"], state[name + ".bias"] = 1 + rand(hidden) * 0.1, rand(hidden) * 0.1
    state["decoder.lm_head.dense.weight"], state["decoder.lm_head.dense.bias"] = rand(hidden, hidden), rand(hidden)
    state["decoder.lm_head.weight"] = state[enc + "embed_tokens.weight"]
    state["decoder.lm_head.bias"] = rand(vocab)
    args = argparse.Namespace(encoder_layers=layers, encoder_embed_dim=hidden, encoder_ffn_embed_dim=ffn,
                              encoder_attention_heads=heads, activation_fn="gelu", dropout=0.1,
                              attention_dropout=0.1, max_positions=positions - 2)
    torch.save({"args": args, "model": state, "extra_state": {}}, path)


def test_converted_roberta_gives_the_fairseq_forward_logits(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    tiny_fairseq_checkpoint(checkpoint)
    record = convert(checkpoint, "\n".join(f"{r} 1" for r in RESIDUES), tmp_path / "out", ["ACDEF", "KLM"])
    assert record["max_abs_logit_difference"] < 1e-5
    loaded = load(tmp_path / "out")
    state, args = read_checkpoint(checkpoint)
    tok = loaded.tokenizer
    assert (tok.mask_token_id, tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (24, 1, 0, 2)  # fairseq's order
    assert loaded.model.spec.max_len == 18  # 20 learned positions less the pad offset: fairseq's max_positions
    ids = torch.tensor([chain_ids(tok, "WYVAC"), chain_ids(tok, "MKL") + [tok.pad_token_id] * 2])
    with torch.no_grad():
        ours = loaded.model(ids, attention_mask=ids.ne(tok.pad_token_id))
        reference = fairseq_forward(state, args, ids, tok.pad_token_id)
    real = ids.ne(tok.pad_token_id)
    assert torch.allclose(ours[real], reference[real], atol=1e-5)


def test_a_pre_norm_checkpoint_is_refused(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    tiny_fairseq_checkpoint(checkpoint)
    state, args = read_checkpoint(checkpoint)
    args.encoder_normalize_before = True
    torch.save({"args": args, "model": state}, checkpoint)
    with pytest.raises(ValueError, match="pre-norm"):
        convert(checkpoint, "\n".join(f"{r} 1" for r in RESIDUES), tmp_path / "out", ["ACD"])


@pytest.mark.parametrize("name", sorted(SAPIENS))
def test_shipped_sapiens_folders_are_the_recorded_conversion(name):
    folder = SAPIENS[name]
    origin = json.loads((folder / "origin.json").read_text())
    assert hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest() == origin["model_safetensors_sha256"]
    assert origin["max_abs_logit_difference"] < 1e-4
    assert "MIT" in (folder / "LICENSE").read_text()


def pseudo_log_likelihood(loaded, sequence: str, stride: int = 4) -> float:
    """Mean log-probability of every `stride`-th residue with it alone masked."""
    ids = torch.tensor([chain_ids(loaded.tokenizer, sequence)])
    where = torch.arange(1, len(sequence) + 1, stride)
    batch = ids.repeat(len(where), 1)
    rows = torch.arange(len(where))
    batch[rows, where] = loaded.model.spec.mask_id
    with torch.no_grad():
        logp = loaded.model(batch).log_softmax(-1)
    return logp[rows, where, ids[0, where]].mean().item()


@pytest.mark.parametrize(("name", "chain"), [("sapiens-vh", VH), ("sapiens-vl", VL), ("antiberty", VH), ("antiberty", VL)])
def test_each_model_prefers_an_antibody_to_its_shuffle(name, chain):
    loaded = shipped(name)
    shuffled = "".join(random.Random(0).sample(chain, len(chain)))
    natural, control = pseudo_log_likelihood(loaded, chain), pseudo_log_likelihood(loaded, shuffled)
    assert natural > control + 1.0, (natural, control)


def test_special_ids_come_from_each_models_tokenizer():
    for name in ("antiberty", "sapiens-vh"):
        loaded = shipped(name)
        assert loaded.model.spec.mask_id == loaded.tokenizer.mask_token_id
        assert loaded.model.spec.pad_id == loaded.tokenizer.pad_token_id
    with pytest.raises(ValueError, match="B"):
        chain_ids(shipped("sapiens-vh").tokenizer, "EVQBV")


def redesign_cdr_h3(loaded, strategy: str) -> tuple[list[str], list[int]]:
    """CDR-H3's middle of the VH masked, everything else fixed, only residues allowed; two designs and the steps
    at which a (no-op) remasker was consulted."""
    ids = chain_ids(loaded.tokenizer, VH)
    template = [None if CDR_START + 1 <= i < CDR_END + 1 else t for i, t in enumerate(ids)]
    spec = loaded.model.spec
    allowed = torch.zeros(len(ids), spec.vocab_size, dtype=torch.bool)
    allowed[:, loaded.tokenizer.convert_tokens_to_ids(list(RESIDUES))] = True
    canvas = Canvas.from_template(template, spec, batch=2, allowed=allowed)
    calls = []

    def remasker(canvas, step):
        calls.append(step)
        return torch.zeros_like(canvas.fixed)

    config = SamplerConfig(steps=CDR_END - CDR_START, strategy=make_strategy(strategy))
    out = generate(loaded.model, canvas, config, remasker=remasker, generator=torch.Generator().manual_seed(0))
    return [loaded.tokenizer.decode(row[1:-1]) for row in out.ids.tolist()], calls


CDR_START, CDR_END = VH.index("SRWGG") + 2, VH.index("WGQG")  # the CDR-H3 loop's middle


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("name", ["sapiens-vh", "antiberty"])
def test_every_sampler_redesigns_a_cdr_on_the_antibody_models(name, strategy):
    designed, calls = redesign_cdr_h3(shipped(name), strategy)
    for seq in designed:
        assert seq[:CDR_START] == VH[:CDR_START] and seq[CDR_END:] == VH[CDR_END:]
        assert len(seq) == len(VH) and set(seq) <= set(RESIDUES)
    assert calls

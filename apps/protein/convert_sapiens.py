"""Convert the Sapiens antibody language models (fairseq RoBERTa checkpoints) to transformers' layout.

Sapiens (Prihoda et al. 2022, BioPhi; MIT licence) is two RoBERTa masked LMs, one of human heavy chains (VH),
one of light chains (VL), trained on the Observed Antibody Space. The `sapiens` package ships them as fairseq
checkpoints but requires fairseq and torch<2.5, so it cannot be a dependency: this module reads its wheel
(``pip download --no-deps sapiens==1.0.5``) once and writes each model as a ``RobertaForMaskedLM`` folder
(config.json, model.safetensors, a character tokenizer with fairseq's dictionary order, the licence and a
record of the origin), which ``shared_dlm.load`` reads like any masked LM::

    python -m apps.protein.convert_sapiens --wheel sapiens-1.0.5-py3-none-any.whl --out apps/protein/models

The checkpoint is read with ``torch.load(weights_only=True)``, allowing only ``argparse.Namespace`` (fairseq
stores its training arguments as one) besides tensors. ``fairseq_forward`` is the model written directly from
the checkpoint's tensors (fairseq's post-norm ``TransformerSentenceEncoder`` and ``RobertaLMHead``): the
conversion is checked against it on real antibody sequences before anything is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_model
from torch import Tensor
from torch.nn import functional as F
from transformers import RobertaConfig, RobertaForMaskedLM

from shared_dlm import char_tokenizer

CHAINS = {"vh": "sapiens/models/v1/checkpoint_vh.pt", "vl": "sapiens/models/v1/checkpoint_vl.pt"}
DICTIONARY = "sapiens/models/v1/dict.txt"
# fairseq's Dictionary puts these four first and appends <mask> after the symbols of dict.txt (masked_lm task)
FAIRSEQ_HEAD = ["<s>", "<pad>", "</s>", "<unk>"]
FAIRSEQ_MASK = "<mask>"
LAYER_NORM_EPS = 1e-5  # fairseq's LayerNorm default
# Checked against fairseq_forward before writing: a human VH and a human VL (trastuzumab's, humanized IgG1)
CHECK_SEQUENCES = {
    "vh": "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS",
    "vl": "DIQMTQSPSSLSASVGDRVTITCRASQDVNTAVAWYQQKPGKAPKLLIYSASFLYSGVPSRFSGSRSGTDFTLTISSLQPEDFATYYCQQHYTTPPTFGQGTKVEIK",
}


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], argparse.Namespace]:
    """The model tensors and training arguments of a fairseq checkpoint, loaded without running its code."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint["model"], checkpoint["args"]


def read_dictionary(text: str) -> list[str]:
    """fairseq's token order: <s> <pad> </s> <unk>, the symbols of dict.txt in order, then <mask>."""
    symbols = [line.split()[0] for line in text.splitlines() if line.strip()]
    return FAIRSEQ_HEAD + symbols + [FAIRSEQ_MASK]


def roberta_config(args: argparse.Namespace, vocab: list[str], state: dict[str, Tensor]) -> RobertaConfig:
    """transformers' RoBERTa configuration of a fairseq ``roberta`` checkpoint (post-norm, learned positions)."""
    if getattr(args, "encoder_normalize_before", False):
        raise ValueError("a pre-norm fairseq encoder has no RobertaForMaskedLM equivalent")
    positions = state["decoder.sentence_encoder.embed_positions.weight"].shape[0]
    tied = torch.equal(state["decoder.lm_head.weight"], state["decoder.sentence_encoder.embed_tokens.weight"])
    return RobertaConfig(
        vocab_size=len(vocab),
        hidden_size=args.encoder_embed_dim,
        num_hidden_layers=args.encoder_layers,
        num_attention_heads=args.encoder_attention_heads,
        intermediate_size=args.encoder_ffn_embed_dim,
        hidden_act=args.activation_fn,
        max_position_embeddings=positions,  # max_positions + padding_idx + 1, as fairseq and transformers count them
        type_vocab_size=1,
        layer_norm_eps=LAYER_NORM_EPS,
        pad_token_id=vocab.index("<pad>"),
        bos_token_id=vocab.index("<s>"),
        eos_token_id=vocab.index("</s>"),
        mask_token_id=vocab.index(FAIRSEQ_MASK),
        tie_word_embeddings=tied,
        hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.attention_dropout,
    )


def convert_state(state: dict[str, Tensor], layers: int) -> dict[str, Tensor]:
    """fairseq tensor names to RobertaForMaskedLM's; the token-type embedding, absent in fairseq, is zero."""
    enc, out = "decoder.sentence_encoder.", {}
    hidden = state[enc + "embed_tokens.weight"].shape[1]
    out["roberta.embeddings.word_embeddings.weight"] = state[enc + "embed_tokens.weight"]
    out["roberta.embeddings.position_embeddings.weight"] = state[enc + "embed_positions.weight"]
    out["roberta.embeddings.token_type_embeddings.weight"] = torch.zeros(1, hidden)
    for part in ("weight", "bias"):
        out[f"roberta.embeddings.LayerNorm.{part}"] = state[f"{enc}emb_layer_norm.{part}"]
        for i in range(layers):
            src, dst = f"{enc}layers.{i}.", f"roberta.encoder.layer.{i}."
            for a, b in [
                ("self_attn.q_proj", "attention.self.query"),
                ("self_attn.k_proj", "attention.self.key"),
                ("self_attn.v_proj", "attention.self.value"),
                ("self_attn.out_proj", "attention.output.dense"),
                ("self_attn_layer_norm", "attention.output.LayerNorm"),
                ("fc1", "intermediate.dense"),
                ("fc2", "output.dense"),
                ("final_layer_norm", "output.LayerNorm"),
            ]:
                out[f"{dst}{b}.{part}"] = state[f"{src}{a}.{part}"]
        out[f"lm_head.dense.{part}"] = state[f"decoder.lm_head.dense.{part}"]
        out[f"lm_head.layer_norm.{part}"] = state[f"decoder.lm_head.layer_norm.{part}"]
    out["lm_head.decoder.weight"] = state["decoder.lm_head.weight"]
    out["lm_head.bias"] = out["lm_head.decoder.bias"] = state["decoder.lm_head.bias"]
    return out


def fairseq_forward(state: dict[str, Tensor], args: argparse.Namespace, ids: Tensor, pad_id: int) -> Tensor:
    """(B, L) ids -> (B, L, V) logits, computed directly from a fairseq RoBERTa checkpoint's tensors:
    learned positions counted from pad_id + 1 over non-pad tokens, embedding LayerNorm, post-norm layers
    (attention, then GELU feed-forward), and the LM head (dense, GELU, LayerNorm, output projection)."""
    enc = "decoder.sentence_encoder."
    heads, eps = args.encoder_attention_heads, LAYER_NORM_EPS

    def norm(x: Tensor, name: str) -> Tensor:
        return F.layer_norm(x, x.shape[-1:], state[name + ".weight"], state[name + ".bias"], eps)

    def linear(x: Tensor, name: str) -> Tensor:
        return F.linear(x, state[name + ".weight"], state[name + ".bias"])

    keep = ids.ne(pad_id)
    positions = torch.cumsum(keep, dim=1) * keep + pad_id
    x = state[enc + "embed_tokens.weight"][ids] + state[enc + "embed_positions.weight"][positions]
    x = norm(x, enc + "emb_layer_norm")
    batch, length, hidden = x.shape
    size = hidden // heads
    blocked = ~keep[:, None, None, :]  # (B, 1, 1, L): no position attends to padding
    for i in range(args.encoder_layers):
        layer = f"{enc}layers.{i}."

        def split(t: Tensor) -> Tensor:
            return t.view(batch, length, heads, size).transpose(1, 2)

        q = split(linear(x, layer + "self_attn.q_proj")) / math.sqrt(size)
        k, v = split(linear(x, layer + "self_attn.k_proj")), split(linear(x, layer + "self_attn.v_proj"))
        weights = (q @ k.transpose(-1, -2)).masked_fill(blocked, float("-inf")).softmax(-1)
        attended = (weights @ v).transpose(1, 2).reshape(batch, length, hidden)
        x = norm(x + linear(attended, layer + "self_attn.out_proj"), layer + "self_attn_layer_norm")
        feed = linear(F.gelu(linear(x, layer + "fc1")), layer + "fc2")
        x = norm(x + feed, layer + "final_layer_norm")
    x = norm(F.gelu(linear(x, "decoder.lm_head.dense")), "decoder.lm_head.layer_norm")
    return F.linear(x, state["decoder.lm_head.weight"], state["decoder.lm_head.bias"])


def convert(checkpoint: Path, dictionary: str, out: Path, check: list[str]) -> dict:
    """Write one converted model folder at ``out``; return the largest logit difference from fairseq_forward
    on ``check`` (sequences, each read as <s> residues </s>). Refuses to write when it is above 1e-4."""
    state, args = read_checkpoint(checkpoint)
    vocab = read_dictionary(dictionary)
    config = roberta_config(args, vocab, state)
    model = RobertaForMaskedLM(config).eval()
    model.load_state_dict(convert_state(state, args.encoder_layers), strict=True)
    tokenizer = char_tokenizer(vocab, mask_token=FAIRSEQ_MASK, pad_token="<pad>", unk_token="<unk>",
                               bos_token="<s>", eos_token="</s>")
    rows = [[config.bos_token_id, *tokenizer.convert_tokens_to_ids(list(s)), config.eos_token_id] for s in check]
    width = max(map(len, rows))
    ids = torch.tensor([r + [config.pad_token_id] * (width - len(r)) for r in rows])
    with torch.no_grad():
        ours = model(input_ids=ids, attention_mask=ids.ne(config.pad_token_id).long()).logits
        reference = fairseq_forward(state, args, ids, config.pad_token_id)
    real = ids.ne(config.pad_token_id)
    difference = (ours - reference).abs()[real].max().item()
    if difference > 1e-4:
        raise RuntimeError(f"{checkpoint}: converted logits differ from the fairseq forward by {difference:.2e}")
    out.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(out)
    save_model(model, str(out / "model.safetensors"))
    tokenizer.save_pretrained(out)
    return {"max_abs_logit_difference": difference, "checked_sequences": len(check)}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_wheel(wheel: Path, out: Path) -> dict[str, dict]:
    """Convert both chains of a sapiens wheel into ``out/sapiens-vh`` and ``out/sapiens-vl``."""
    records = {}
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp)
        root = Path(tmp)
        licence = next(root.glob("sapiens-*.dist-info/LICENSE"))
        dictionary = (root / DICTIONARY).read_text()
        for chain, member in CHAINS.items():
            folder = out / f"sapiens-{chain}"
            checked = convert(root / member, dictionary, folder, [CHECK_SEQUENCES[chain]])
            shutil.copyfile(licence, folder / "LICENSE")
            records[chain] = {
                "source": f"{wheel.name}:{member}",
                "wheel_sha256": sha256(wheel),
                "checkpoint_sha256": sha256(root / member),
                "model_safetensors_sha256": sha256(folder / "model.safetensors"),
                "command": f"python -m apps.protein.convert_sapiens --wheel {wheel.name}",
                **checked,
            }
            (folder / "origin.json").write_text(json.dumps(records[chain], indent=2) + "\n")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, required=True, help="sapiens-1.0.5-py3-none-any.whl (pip download --no-deps)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "models")
    args = parser.parse_args(argv)
    if not zipfile.is_zipfile(args.wheel):
        parser.error(f"{args.wheel} is not a wheel (a zip file): download it with pip download --no-deps sapiens==1.0.5")
    print(json.dumps(convert_wheel(args.wheel, args.out), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

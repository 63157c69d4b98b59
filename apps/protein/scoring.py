"""Score protein sequences with an ESM-2 masked language model (fair-esm; Lin et al. 2023).

* Pseudo-log-likelihood (Salazar et al. 2020): mask each residue in turn, one masked copy per
  residue, and sum log p(true residue | rest). Pseudo-perplexity is exp(-mean log p). A sequence longer
  than the context the model was trained on (``trained_context``: ESM-2's 1,024 tokens, or the crop length
  of a scorer trained here) is scored in windows of that many tokens, each residue inside a window centred
  on it where the ends allow, as ESM-1v scores long proteins: rotary attention runs on longer rows but has
  never seen such distances (the shipped scorer, trained on 128-token crops, separates natural from
  shuffled sequences of 126-300 residues better in windows: 35/38 pairs against 32/38 whole).
* Embedding: the last layer's representation averaged over residue positions (not <cls>, <eos>, pad).
  ``embedding_similarity`` is the cosine similarity to the *mean* of a reference set's embeddings
  (the centroid: one cheap number for "how much like the family", less noisy than the max over the
  set, which rewards copying a single member).

Models load from three local sources and are never downloaded (``load_esm``):
(a) a checkpoint file in fair-esm's format (what ``esm.pretrained`` downloads),
(b) an ``esm.pretrained`` name such as ``esm2_t6_8M_UR50D``, if its file is already in the torch-hub cache,
(c) a folder written by ``save_esm2``: ``config.json`` plus ``model.safetensors``.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import esm
import torch
import torch.nn.functional as F
from esm.model.esm2 import ESM2
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from apps.protein.alphabet import RARE_RESIDUES, STANDARD_RESIDUES, check_residues
from shared_dlm import CheckpointError, copy_state_strict

ESM2_NAMES = (
    "esm2_t6_8M_UR50D",
    "esm2_t12_35M_UR50D",
    "esm2_t30_150M_UR50D",
    "esm2_t33_650M_UR50D",
    "esm2_t36_3B_UR50D",
    "esm2_t48_15B_UR50D",
)
"""The ESM-2 names of ``esm.pretrained``; ``load_esm`` finds them in the torch-hub cache only."""

CONFIG, WEIGHTS = "config.json", "model.safetensors"
TRAINING_RECORD = "training.json"  # written beside a scorer trained here; its train_config.seq_len is its context
ESM2_CONTEXT = 1024
"""Tokens (``<cls>`` and ``<eos>`` included) of the crops ESM-2 was trained on: the context of a fair-esm checkpoint."""
ALPHABET_NAME = "ESM-1b"  # the alphabet every ESM-2 uses
_CONFIG_KEYS = {"num_layers": int, "embed_dim": int, "attention_heads": int, "token_dropout": bool, "alphabet": str}
# Never used for scoring: the contact head's regression ships in a separate file; the LM head is
# the token embedding (tied), so a checkpoint may hold it once.
_OPTIONAL = {"contact_head.regression.weight", "contact_head.regression.bias", "lm_head.weight"}


def save_esm2(model: ESM2, folder: str | Path) -> Path:
    """Write ``model`` as ``config.json`` and ``model.safetensors`` (the tied LM head stored once)."""
    if model.alphabet.all_toks != esm.data.Alphabet.from_architecture(ALPHABET_NAME).all_toks:
        raise ValueError(f"only ESM-2 models on the {ALPHABET_NAME} alphabet can be saved")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "num_layers": model.num_layers,
        "embed_dim": model.embed_dim,
        "attention_heads": model.attention_heads,
        "token_dropout": model.token_dropout,
        "alphabet": ALPHABET_NAME,
    }
    (folder / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(folder / WEIGHTS), metadata={"format": "pt"})
    return folder


def load_esm2(folder: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> ESM2:
    """A folder written by ``save_esm2``, loaded strictly (every tensor present, none extra, shapes equal)."""
    folder = Path(folder)
    config_file, weights = folder / CONFIG, folder / WEIGHTS
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{config_file}: cannot read the ESM-2 config ({err})") from err
    wrong = {k for k, kind in _CONFIG_KEYS.items() if not isinstance(config.get(k), kind)}
    if wrong or set(config) != set(_CONFIG_KEYS) or config["alphabet"] != ALPHABET_NAME:
        expected = ", ".join(f"{k} ({t.__name__})" for k, t in _CONFIG_KEYS.items())
        raise CheckpointError(f"{config_file}: expected exactly {expected} with alphabet {ALPHABET_NAME!r}, got {config}")
    model = ESM2(**{**config, "alphabet": esm.data.Alphabet.from_architecture(ALPHABET_NAME)})
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err}); it may be missing, truncated or corrupt") from err
    copy_state_strict(model, state, weights, optional={"lm_head.weight"})
    model.trained_context = _recorded_context(folder)
    return model.to(device=device, dtype=dtype).eval()


def _recorded_context(folder: Path) -> int | None:
    """The crop length (tokens) in a ``training.json`` beside the weights, if there is one."""
    try:
        return int(json.loads((folder / TRAINING_RECORD).read_text())["train_config"]["seq_len"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def trained_context(model: ESM2) -> int | None:
    """Tokens of the longest rows ``model`` was trained on, None when unknown (a model built in memory)."""
    return getattr(model, "trained_context", None)


def resolve_window(model: ESM2, window: int | None | str, least: int) -> int | None:
    """A window setting made concrete: "trained" is ``trained_context(model)``, None the whole sequence, else
    at least ``least`` tokens (a ValueError otherwise)."""
    if window == "trained":
        window = trained_context(model)
    if window is not None and (isinstance(window, str) or window < least):
        raise ValueError(f"window must be 'trained', None or at least {least} tokens, got {window!r}")
    return window


def load_esm(name_or_path: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> ESM2:
    """An ESM-2 from a ``save_esm2`` folder, a fair-esm checkpoint file, or an ``esm.pretrained``
    name already in the torch-hub cache; never downloads. Returned in eval mode on ``device``."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return load_esm2(path, device, dtype)
    if path.is_file():
        return _load_fair_esm(path).to(device=device, dtype=dtype).eval()
    if str(name_or_path) in ESM2_NAMES:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / f"{name_or_path}.pt"
        if not cached.is_file():
            raise FileNotFoundError(
                f"ESM-2 {name_or_path!r} is not in the torch-hub cache: looked for {cached}. Models are never "
                f"downloaded here; copy the checkpoint there, or pass a checkpoint file or a save_esm2 folder"
            )
        return _load_fair_esm(cached).to(device=device, dtype=dtype).eval()
    raise FileNotFoundError(
        f"no ESM-2 at {str(path)!r}: not a folder, not a file, and not one of the esm.pretrained names {', '.join(ESM2_NAMES)}"
    )


def _load_fair_esm(file: Path) -> ESM2:
    """A fair-esm ESM-2 checkpoint, read without running arbitrary pickled code.

    fair-esm's own ``load_model_and_alphabet_local`` calls ``torch.load`` without ``weights_only``:
    on torch < 2.6 that unpickles anything, on newer torch it fails on the ``argparse.Namespace``
    holding the config. We load with ``weights_only=True`` and allow that one class, then rebuild
    the model as ``esm.pretrained`` does and check every tensor.
    """
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(str(file), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as err:
        if str(err).startswith(_REFUSED):
            raise CheckpointError(_refused(file, str(err))) from None
        raise CheckpointError(
            f"{file}: cannot be read as a fair-esm checkpoint (truncated or corrupt): {' '.join(str(err).split())}"
        ) from err
    try:
        cfg = data["cfg"]["model"]
        cfg = cfg if isinstance(cfg, Mapping) else vars(cfg)
        model = ESM2(
            num_layers=cfg["encoder_layers"],
            embed_dim=cfg["encoder_embed_dim"],
            attention_heads=cfg["encoder_attention_heads"],
            alphabet=esm.data.Alphabet.from_architecture(ALPHABET_NAME),
            token_dropout=cfg["token_dropout"],
        )
        state = data["model"]
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{file}: not an ESM-2 checkpoint in fair-esm's format (missing {err})") from err
    # fairseq prefixes, removed as esm.pretrained does
    prefixes = ("encoder.sentence_encoder.", "encoder.")
    state = {next((k[len(p):] for p in prefixes if k.startswith(p)), k): v for k, v in state.items()}
    copy_state_strict(model, state, file, optional=_OPTIONAL)
    model.trained_context = ESM2_CONTEXT
    return model


_REFUSED = "Weights only load failed"  # how torch.load(weights_only=True) begins its refusal of a pickled object
_OBJECT = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _refused(file: Path, refusal: str) -> str:
    """Why a checkpoint that ``torch.load(weights_only=True)`` refused is not loaded, in our words, in place of
    torch's message (which advises loading it with ``weights_only=False``, running whatever the file holds)."""
    named = _OBJECT.search(refusal)
    what = f"a Python object ({named.group(1)})" if named else "a Python object"
    return (f"{file}: not loaded: besides tensors and fair-esm's config it holds {what}, code that would run when "
            "the file is loaded. Convert the weights to safetensors (a save_esm2 folder), or, if you trust where "
            "the file came from, load it with fair-esm yourself")  # fmt: skip


def encode(model: ESM2, sequence: str) -> Tensor:
    """(L + 2,) ids: ``<cls>`` residues ``<eos>``; a ValueError names a letter ESM does not know."""
    if not sequence:
        raise ValueError("cannot score an empty sequence")
    check_residues(sequence, STANDARD_RESIDUES + RARE_RESIDUES)
    alphabet = model.alphabet
    return torch.tensor([alphabet.cls_idx, *(alphabet.get_idx(r) for r in sequence), alphabet.eos_idx])


def batch_indices(lengths: Sequence[int], max_tokens: int) -> Iterator[list[int]]:
    """Indices grouped so that rows x longest row <= max_tokens (a longer row goes alone),
    shortest first so that little is padding."""
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batch and (len(batch) + 1) * lengths[i] > max_tokens:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def pad_batch(model: ESM2, rows: Sequence[Tensor], device: torch.device) -> Tensor:
    """(B, T) ids on ``device``: the ``encode``d rows, padded with the model's padding id to the longest."""
    ids = torch.full((len(rows), max(len(r) for r in rows)), model.padding_idx, dtype=torch.long)  # (B, T)
    for b, row in enumerate(rows):
        ids[b, : len(row)] = row
    return ids.to(device)


def window_start(position: int, length: int, window: int | None) -> int:
    """Where the ``window``-token slice of a ``length``-token row that scores ``position`` starts: centred on it,
    moved inside the row at the ends; 0 when the row fits (or ``window`` is None)."""
    if window is None or length <= window:
        return 0
    return min(max(position - window // 2, 0), length - window)


def windowed_logits(model: ESM2, tokens: Tensor, window: int | None) -> Tensor:
    """(B, T, V) logits of one unmasked read of (B, T) ESM tokens. A row longer than ``window`` tokens is read
    in windows of ``window`` tokens every ``window // 2`` (the last one ending at the row's end); each position
    takes its logits from the window whose centre is nearest (the earlier one on a tie)."""
    length = tokens.shape[1]
    if window is None or length <= window:
        return model(tokens)["logits"]
    if window < 2:
        raise ValueError(f"window must be at least 2 tokens, got {window}")
    starts = list(range(0, length - window, max(window // 2, 1))) + [length - window]
    positions = torch.arange(length, device=tokens.device)
    best = torch.full((length,), math.inf, device=tokens.device)
    out = None
    for start in starts:
        logits = model(tokens[:, start : start + window])["logits"]  # (B, window, V)
        if out is None:
            out = logits.new_empty(tokens.shape[0], length, logits.shape[-1])
        inside = positions[start : start + window]
        distance = (inside - (start + (window - 1) / 2)).abs()
        take = distance < best[inside]
        out[:, inside[take]] = logits[:, take]
        best[inside[take]] = distance[take]
    return out


@torch.inference_mode()
def residue_log_probs(
    model: ESM2, sequences: Sequence[str], max_tokens: int = 8192, window: int | None = None
) -> list[Tensor]:
    """Per sequence, (L,) float32 log p(residue i | all others, i masked): one masked copy per residue,
    many copies per forward pass, at most ``max_tokens`` tokens (padding included) per pass. ``window``
    (tokens, at least 3): a longer row (``<cls>`` residues ``<eos>``) is cut to the ``window`` tokens around each
    masked residue (``window_start``); None: every residue sees the whole sequence."""
    if window is not None and window < 3:
        raise ValueError(f"window must be at least 3 tokens (<cls>, a residue, <eos>), got {window}")
    device = next(model.parameters()).device
    encoded = [encode(model, s) for s in sequences]
    jobs = [  # (sequence, masked position, window start, window end), positions in the whole row
        (s, i, start, start + min(len(ids), window or len(ids)))
        for s, ids in enumerate(encoded)
        for i in range(1, len(ids) - 1)
        for start in [window_start(i, len(ids), window)]
    ]
    out = [torch.empty(len(ids) - 2) for ids in encoded]
    for batch in batch_indices([end - start for _, _, start, end in jobs], max_tokens):
        rows = []
        for j in batch:
            s, i, start, end = jobs[j]
            row = encoded[s][start:end].clone()
            row[i - start] = model.mask_idx
            rows.append(row)
        logits = model(pad_batch(model, rows, device))["logits"].float()  # (B, T, V)
        at = torch.tensor([jobs[j][1] - jobs[j][2] for j in batch], device=device)
        true = torch.stack([encoded[jobs[j][0]][jobs[j][1]] for j in batch]).to(device)
        rows_logp = logits[torch.arange(len(batch), device=device), at].log_softmax(-1)  # (B, V)
        picked = rows_logp.gather(1, true[:, None])[:, 0].cpu()
        for j, value in zip(batch, picked):
            s, i, _, _ = jobs[j]
            out[s][i - 1] = value
    return out


def pseudo_perplexity(log_probs: Tensor) -> float:
    """exp(-mean log p) over a sequence's residues; 1 is a certain model, lower is more protein-like."""
    return math.exp(-float(log_probs.mean()))


@torch.inference_mode()
def embed(model: ESM2, sequences: Sequence[str], max_tokens: int = 8192) -> Tensor:
    """(N, E) float32: the last layer averaged over each sequence's residues (no cls, eos or pad)."""
    device = next(model.parameters()).device
    encoded = [encode(model, s) for s in sequences]
    out = torch.empty(len(sequences), model.embed_dim)
    for batch in batch_indices([len(ids) for ids in encoded], max_tokens):
        ids = pad_batch(model, [encoded[s] for s in batch], device)  # (B, T)
        hidden = model(ids, repr_layers=[model.num_layers])["representations"][model.num_layers].float()  # (B, T, E)
        residues = (ids != model.padding_idx) & (ids != model.cls_idx) & (ids != model.eos_idx)  # (B, T)
        pooled = (hidden * residues[..., None]).sum(1) / residues.sum(1, keepdim=True)
        out[batch] = pooled.cpu()
    return out


def embedding_similarity(embeddings: Tensor, reference: Tensor) -> Tensor:
    """(N,) cosine similarity of each (N, E) embedding to the mean of the (M, E) reference embeddings."""
    return F.cosine_similarity(embeddings, reference.mean(0, keepdim=True), dim=-1)


class Scorer:
    """ESM-2 scores of protein sequences, the protein app's Scorer (see DESIGN.md).

    ``score`` returns, per sequence, ``pseudo_perplexity``, ``mean_log_prob`` and, when a reference
    set was given, ``embedding_similarity`` (cosine to the reference centroid). ``window``: the tokens each
    residue's pseudo-likelihood sees (``residue_log_probs``); "trained" (the default) is the model's
    ``trained_context`` (whole sequences when unknown), None always the whole sequence.
    """

    def __init__(
        self,
        model: ESM2,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        reference: Sequence[str] | None = None,
        max_tokens: int = 8192,
        window: int | None | str = "trained",
    ):
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        self.window = resolve_window(model, window, 3)  # <cls>, the masked residue, <eos>
        if reference is not None and not reference:
            raise ValueError("the reference set is empty: pass None to score without embedding similarity")
        self.model = model.to(device=device, dtype=dtype).eval()
        self.max_tokens = max_tokens
        self.reference = None if reference is None else embed(self.model, reference, max_tokens)  # (M, E)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        reference: Sequence[str] | None = None,
        max_tokens: int = 8192,
        window: int | None | str = "trained",
    ) -> Scorer:
        """A scorer over ``load_esm(name_or_path)``."""
        model = load_esm(name_or_path, device, dtype)
        return cls(model, device=device, dtype=dtype, reference=reference, max_tokens=max_tokens, window=window)

    def score(self, sequences: list[str]) -> list[dict[str, float]]:
        return self.score_with_residues(sequences)[0]

    def score_with_residues(self, sequences: list[str]) -> tuple[list[dict[str, float]], list[Tensor]]:
        """`score`'s numbers and the per-residue log-probabilities (L,) they come from, in one pass."""
        log_probs = residue_log_probs(self.model, sequences, self.max_tokens, self.window)
        scores = [{"pseudo_perplexity": pseudo_perplexity(lp), "mean_log_prob": float(lp.mean())} for lp in log_probs]
        if self.reference is not None and sequences:
            similarity = embedding_similarity(embed(self.model, sequences, self.max_tokens), self.reference)
            for row, value in zip(scores, similarity.tolist()):
                row["embedding_similarity"] = value
        return scores, log_probs

"""The pretrained antibody language models, as denoisers and scorers: ``load("antiberty")``,
``load("sapiens-vh")``, ``load("sapiens-vl")``.

AntiBERTy (Ruffolo et al. 2021; MIT): a BERT masked LM of 26M parameters trained on 558M natural antibody
sequences of the Observed Antibody Space. Its weights come inside the ``antiberty==0.1.3`` wheel (a
dependency; later releases download them instead); they are read from the installed package's folder with
``torch.load(weights_only=True)``, without importing the package. The checkpoint also holds species, chain
and graft classifier heads that the masked LM does not use: those tensors are left out by name, everything
else is copied strictly.

Sapiens (Prihoda et al. 2022, BioPhi; MIT): RoBERTa masked LMs of human heavy (VH) and light (VL) chains,
shipped converted to safetensors in ``models/sapiens-vh`` and ``models/sapiens-vl`` (``convert_sapiens.py``;
``origin.json`` beside each records the wheel and checksums).

Every model reads a chain as ``<cls>`` residues ``<eos>`` in its own tokenizer's ids (``[CLS]``/``[SEP]`` for
AntiBERTy, ``<s>``/``</s>`` for Sapiens); ``chain_ids`` builds that row from the tokenizer, never from literals.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import torch
from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerBase

from shared_dlm import (
    CheckpointError,
    Loaded,
    MaskedLMAdapter,
    char_tokenizer,
    copy_state_strict,
    register_loader,
    register_pretrained,
)

MODELS = Path(__file__).resolve().parents[1] / "models"
SAPIENS = {"sapiens-vh": MODELS / "sapiens-vh", "sapiens-vl": MODELS / "sapiens-vl"}
ANTIBERTY = "antiberty"
ANTIBERTY_FOLDER = "trained_models/AntiBERTy_md_smooth"
# tensors of the AntiBERTy checkpoint that are not part of its masked LM (classifier heads, a position buffer)
ANTIBERTY_UNUSED = ("bert.embeddings.position_ids", "bert.pooler.", "cls.species.", "cls.chain.", "cls.graft.")


def antiberty_package() -> Path:
    """The installed ``antiberty`` package's folder, found without importing it."""
    spec = importlib.util.find_spec("antiberty")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("AntiBERTy is not installed: pip install antiberty==0.1.3 (its wheel holds the weights)")
    return Path(next(iter(spec.submodule_search_locations)))


def load_antiberty(device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> Loaded:
    """AntiBERTy's masked LM and tokenizer from the installed wheel, wrapped as a denoiser."""
    package = antiberty_package()
    folder = package / ANTIBERTY_FOLDER
    weights, vocab = folder / "pytorch_model.bin", package / "trained_models" / "vocab.txt"
    for needed in (folder / "config.json", weights, vocab):
        if not needed.is_file():
            raise CheckpointError(f"{needed}: missing from the antiberty package (0.1.3 ships it; later releases do not)")
    # one token a residue, ids in vocab.txt's order (what BERT's WordPiece gives single letters)
    tokenizer = char_tokenizer(vocab.read_text().split(), mask_token="[MASK]", pad_token="[PAD]", unk_token="[UNK]",
                               bos_token="[CLS]", eos_token="[SEP]")
    mlm = BertForMaskedLM(BertConfig.from_json_file(str(folder / "config.json")))
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:  # truncated or tampered: never retry unsafely
        raise CheckpointError(f"{weights}: not a readable tensor checkpoint ({err.__class__.__name__})") from None
    state = {k: v for k, v in state.items() if not k.startswith(ANTIBERTY_UNUSED)}
    copy_state_strict(mlm, state, weights)
    mlm.tie_weights()
    model = MaskedLMAdapter(mlm, mask_id=tokenizer.mask_token_id, pad_id=tokenizer.pad_token_id)
    return Loaded(model=model.to(device=device, dtype=dtype), tokenizer=tokenizer, path=folder)


def chain_ids(tokenizer: PreTrainedTokenizerBase, sequence: str) -> list[int]:
    """A chain as the model reads it: its start token, one id a residue, its end token."""
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    ids = tokenizer.convert_tokens_to_ids(list(sequence))
    unknown = sorted({r for r, i in zip(sequence, ids) if i == tokenizer.unk_token_id})
    if unknown:
        raise ValueError(f"residues {''.join(unknown)} are not in the model's vocabulary")
    return [start, *ids, end]


def register() -> None:
    """Register the antibody models by name with the core's loader."""
    for name, folder in SAPIENS.items():
        if folder.is_dir():
            register_pretrained(name, folder)
    register_loader(ANTIBERTY, load_antiberty)

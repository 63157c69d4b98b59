"""Train the default ESM scorer: a small ESM-2 (fair-esm's ``ESM2``) with ESM's own masked-LM objective.

The scorer must be a separate model from the generator, so that designs are not graded by the model that
made them. It is trained on the same training split with the core's Trainer (its data order, checkpoints,
exact resume and held-out evaluation); only the loss and the saved format differ:

* the loss is BERT/ESM masking (Rives et al. 2021; Lin et al. 2023): 15% of the residues of each sequence
  are selected, 80% of those become ``<mask>``, 10% a random standard residue, 10% stay; cross-entropy on
  the selected ones. ESM-2's token dropout is on, as in ESM-2.
* the model is written with ``save_esm2`` (``config.json`` + ``model.safetensors``), the folder format that
  ``load_esm`` and ``--esm PATH`` read.

``dlm-protein train-scorer --data data/protein --out runs/protein-scorer`` runs the recipe in
``scorer_recipe.yaml``; a stopped run resumes from its latest checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import esm
import torch
import torch.nn.functional as F
from esm.model.esm2 import ESM2
from torch import Tensor, nn

from apps.protein.alphabet import (
    ALPHABET,
    MASK_ID,
    PAD_ID,
    STANDARD_IDS,
    build_tokenizer,
)
from apps.protein.scoring import ALPHABET_NAME, load_esm2, save_esm2
from shared_dlm import Elbo, Trainer, load_split, read_recipe, tokenize

RECIPE = Path(__file__).with_name("scorer_recipe.yaml")
SELECT, AS_MASK, AS_RANDOM = 0.15, 0.8, 0.1  # ESM's masking: select 15%; of those 80% <mask>, 10% random
SPECIAL_IDS = tuple(i for i, token in enumerate(ALPHABET.all_toks) if len(token) > 1)  # <cls> <pad> <eos> <mask>...


@dataclass(frozen=True)
class EsmShape:
    """The ``model:`` section of a scorer recipe: fair-esm's ``ESM2`` arguments."""

    num_layers: int
    embed_dim: int
    attention_heads: int


class EsmForTraining(nn.Module):
    """An ``ESM2`` with the two ids the core Trainer reads from ``model.config``."""

    def __init__(self, num_layers: int, embed_dim: int, attention_heads: int):
        super().__init__()
        alphabet = esm.data.Alphabet.from_architecture(ALPHABET_NAME)
        self.esm = ESM2(num_layers, embed_dim, attention_heads, alphabet=alphabet, token_dropout=True)
        self.config = SimpleNamespace(mask_token_id=MASK_ID, pad_token_id=PAD_ID)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.esm(tokens)["logits"]


def esm_masking(
    ids: Tensor, residue: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """ESM's corruption of ``ids`` (B, L) at ``residue`` positions: (corrupted ids, selected positions).
    Every sequence with a residue gets at least one selected position."""
    u = torch.rand(ids.shape, generator=generator, device=ids.device)
    selected = residue & (u < SELECT)
    # a short sequence can draw no selection: take its lowest-u residue instead
    empty = residue.any(-1) & ~selected.any(-1)
    if empty.any():
        first = torch.where(residue, u, torch.full_like(u, 2.0)).argmin(-1)
        selected[empty, first[empty]] = True
    how = torch.rand(ids.shape, generator=generator, device=ids.device)
    standard = torch.tensor(STANDARD_IDS, device=ids.device)
    pick = torch.randint(len(STANDARD_IDS), ids.shape, generator=generator, device=ids.device)
    corrupted = torch.where(selected & (how < AS_MASK), torch.full_like(ids, MASK_ID), ids)
    random_ = selected & (how >= AS_MASK) & (how < AS_MASK + AS_RANDOM)
    corrupted = torch.where(random_, standard[pick], corrupted)
    return corrupted, selected


def residue_positions(ids: Tensor, attention_mask: Tensor) -> Tensor:
    """The positions holding a residue (not <cls>, <eos>, <pad>, <mask>)."""
    return attention_mask.bool() & ~torch.isin(ids, torch.tensor(SPECIAL_IDS, device=ids.device))


class ScorerTrainer(Trainer):
    """The core Trainer with ESM's masked-LM loss and fair-esm's folder format."""

    def loss(self, batch: dict[str, Tensor], generator: torch.Generator) -> Elbo:
        ids = batch["input_ids"]
        residue = residue_positions(ids, batch["attention_mask"])
        corrupted, selected = esm_masking(ids, residue, generator)
        with self.accelerator.autocast():
            logits = self.model(corrupted)
        nll = F.cross_entropy(logits[selected].float(), ids[selected], reduction="sum")
        tokens = selected.sum()
        return Elbo(loss=nll / tokens.clamp_min(1), nll=nll.detach(), tokens=tokens)

    def write_model(self, folder: Path, dtype: torch.dtype) -> None:
        save_esm2(self.accelerator.unwrap_model(self.model).esm, folder)  # fp32: the scorer is small

    def load_weights(self, folder: Path) -> None:
        loaded = load_esm2(folder)
        self.accelerator.unwrap_model(self.model).esm.load_state_dict(loaded.state_dict())


def build_trainer(
    data: Path,
    out: Path,
    recipe: Path = RECIPE,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    init_from: Path | None = None,
) -> ScorerTrainer:
    """The scorer's Trainer on the ``train`` and ``validation`` splits of a corpus from ``dlm-protein corpus``;
    ``init_from`` (a scorer folder, e.g. the shipped one) starts a new run from its weights and step."""
    config, shape = read_recipe(
        recipe,
        EsmShape,
        section="model",
        output_dir=str(out),
        dataset=str(data),
        max_steps=max_steps,
        max_minutes=max_minutes,
        init_from=None if init_from is None else str(init_from),
    )
    tokenizer = build_tokenizer()
    train = tokenize(load_split(config.dataset, config.train_split), tokenizer, config.text_field, config.seq_len)
    valid = tokenize(load_split(config.dataset, config.validation_split), tokenizer, config.text_field, config.seq_len)
    torch.manual_seed(config.seed)
    return ScorerTrainer(config, EsmForTraining(shape.num_layers, shape.embed_dim, shape.attention_heads), train, valid, tokenizer=None)

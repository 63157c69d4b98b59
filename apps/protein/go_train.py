"""Train a GO-conditioned generator: the protein generator with GO terms as fixed control tokens.

Each training example is laid out as ``[control slots] <cls> residues <eos>`` (``go.CONTROL_SLOTS`` slots).
The control slots hold some of the protein's GO terms (propagated to ancestors, within the vocabulary);
they are conditioning context, never masked, exactly like a motif. Term dropout: with probability
``p_uncond`` an example keeps no term (every slot empty, not attended: the unconditional input that
classifier-free guidance compares against), otherwise a random subset of 1 to ``slots`` of its terms,
drawn with weights ``count ** -term_weight_power`` so that specific terms ("zinc ion binding") are shown
as often as the generic ones every protein carries ("cellular process"). All choices come from the
core Trainer's per-micro-batch generator, so a stopped run resumes exactly.

The model is warm-started from a generator trained on the same sequences (``init``): its embedding and
tied output layer grow by one row per term (new rows at the mean of the old ones, as Hugging Face's
``resize_token_embeddings`` does), so before training the unconditional model is the initial generator.

``dlm-protein train-go --data data/protein --out runs/protein-go`` runs ``go_recipe.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import torch
import yaml
from torch import Tensor

from apps.protein.alphabet import PAD_ID, build_tokenizer
from apps.protein.go import (
    CONTROL_SLOTS,
    GoGraph,
    TermVocabulary,
    build_vocabulary,
    control_prefix,
    default_graph,
)
from shared_dlm import Denoiser, TrainConfig, Trainer, diffusion_loss, load_split

RECIPE = Path(__file__).with_name("go_recipe.yaml")
GO_KEYS = {"init": str, "min_count": int, "slots": int, "p_uncond": float, "term_weight_power": float}


def term_token(term_id: str) -> str:
    """The tokenizer's spelling of a control token."""
    return f"<{term_id}>"


def go_tokenizer(vocabulary: TermVocabulary):
    """The ESM-alphabet tokenizer with one added token per term, at ids ``first_token + i``."""
    tokenizer = build_tokenizer()
    tokenizer.add_tokens([term_token(t.id) for t in vocabulary.terms], special_tokens=True)
    for term in (vocabulary.terms[0], vocabulary.terms[-1]):
        if tokenizer.convert_tokens_to_ids(term_token(term.id)) != vocabulary.token(term.id):
            raise ValueError("the tokenizer did not place the GO tokens right after the ESM alphabet")
    return tokenizer


def encode(split: datasets.Dataset, vocabulary: TermVocabulary, graph: GoGraph) -> datasets.Dataset:
    """``input_ids`` (``<cls>`` residues ``<eos>``) and ``terms`` (vocabulary indices of the propagated GO terms)."""
    tokenizer = build_tokenizer()

    def rows(batch):
        ids = tokenizer(batch["sequence"])["input_ids"]
        terms = [sorted(vocabulary.index[t] for t in graph.propagate(go) if t in vocabulary.index) for go in batch["go"]]
        return {"input_ids": ids, "terms": terms}

    return split.map(rows, batched=True, remove_columns=split.column_names, desc="encoding with GO terms")


class GoTrainer(Trainer):
    """The core Trainer with GO control slots in front of every example (see the module docstring)."""

    def __init__(self, config: TrainConfig, model: Denoiser, train, valid, tokenizer, vocabulary: TermVocabulary,
                 p_uncond: float = 0.15, term_weight_power: float = 0.5):
        if not 0.0 <= p_uncond <= 1.0:
            raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond}")
        if config.seq_len <= vocabulary.slots + 2:
            raise ValueError(f"seq_len {config.seq_len} leaves no room for residues after {vocabulary.slots} control slots")
        super().__init__(config, model, train, valid, tokenizer=tokenizer)
        self.vocabulary = vocabulary
        self.p_uncond = p_uncond
        counts = torch.tensor([t.count for t in vocabulary.terms], dtype=torch.float64)
        self.term_weights = counts.pow(-term_weight_power)

    def choose_terms(self, terms: list[int], generator: torch.Generator) -> list[int]:
        """Term dropout: no term with probability p_uncond, else a weighted random subset of 1..slots terms."""
        drop = float(torch.rand((), generator=generator)) < self.p_uncond
        if not terms or drop:
            return []
        k = int(torch.randint(1, min(self.vocabulary.slots, len(terms)) + 1, (), generator=generator))
        picked = torch.multinomial(self.term_weights[terms], k, replacement=False, generator=generator)
        return sorted(terms[i] for i in picked.tolist())

    def collate(self, examples: list[dict], generator: torch.Generator) -> dict[str, Tensor]:
        slots, room = self.vocabulary.slots, self.config.seq_len - self.vocabulary.slots
        batch = len(examples)
        ids = torch.full((batch, self.config.seq_len), PAD_ID, dtype=torch.long)
        attention = torch.zeros_like(ids, dtype=torch.bool)
        maskable = torch.zeros_like(attention)
        for row, example in enumerate(examples):
            seq = example["input_ids"]
            if len(seq) > room:
                start = int(torch.randint(0, len(seq) - room + 1, (), generator=generator))
                seq = seq[start : start + room]
            chosen = self.choose_terms(list(example["terms"]), generator)
            prefix, attended = control_prefix([self.vocabulary.first_token + i for i in chosen], slots, PAD_ID)
            ids[row, :slots] = torch.tensor(prefix)
            attention[row, :slots] = torch.tensor(attended)
            ids[row, slots : slots + len(seq)] = torch.tensor(seq)
            attention[row, slots : slots + len(seq)] = True
            maskable[row, slots : slots + len(seq)] = True
        return {"input_ids": ids, "attention_mask": attention, "maskable": maskable}

    def loss(self, batch: dict[str, Tensor], generator: torch.Generator):
        """The core ELBO with the control tokens out of the output distribution: a residue position never
        holds a term, and the tied output rows of the new tokens would otherwise take probability mass."""
        first = self.vocabulary.first_token

        def residues_only(input_ids, t=None, attention_mask=None):
            logits = self.model(input_ids, t=t, attention_mask=attention_mask)
            logits[..., first:] = -1e4  # not -inf: the prefix holds these tokens, and 0 * -inf is nan
            return logits

        with self.accelerator.autocast():
            return diffusion_loss(
                residues_only, batch["input_ids"], self.schedule, self.mask_id, maskable=batch["maskable"],
                attention_mask=batch["attention_mask"], weighting=self.config.weighting,
                antithetic=self.config.antithetic, generator=generator,
            )

    def write_model(self, folder: Path, dtype: torch.dtype) -> None:
        super().write_model(folder, dtype)
        self.vocabulary.save(folder)


def read_recipe(path: Path = RECIPE, **overrides) -> tuple[TrainConfig, dict]:
    """TrainConfig settings and the ``go:`` section (init, min_count, slots, p_uncond, term_weight_power)."""
    values = yaml.safe_load(Path(path).read_text()) or {}
    go = dict(values.pop("go", None) or {})
    unknown = set(go) - set(GO_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown go settings {sorted(unknown)}; known: {sorted(GO_KEYS)}")
    go = {k: GO_KEYS[k](v) for k, v in go.items()}
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = TrainConfig(**values)
    config.validate()
    return config, go


def warm_start(init: str | Path, size: int, max_len: int) -> Denoiser:
    """The generator at ``init`` with its vocabulary grown to ``size`` (new rows at the old rows' mean) and its
    window to at least ``max_len`` (rotary positions have no table to grow)."""
    model = Denoiser.from_pretrained(str(init), local_files_only=True, torch_dtype=torch.float32)
    model.config.max_position_embeddings = max(model.config.max_position_embeddings, max_len)
    old = model.get_input_embeddings().weight.data
    mean = old.mean(0)
    model.resize_token_embeddings(size, mean_resizing=False)
    model.get_input_embeddings().weight.data[old.shape[0]:] = mean
    model.tie_weights()
    return model


def build_trainer(
    data: Path, out: Path, recipe: Path = RECIPE, max_steps: int | None = None, max_minutes: float | None = None,
    init: Path | None = None,
) -> GoTrainer:
    """The GO trainer on the ``train`` and ``validation`` splits of a corpus from ``dlm-protein corpus``. The
    vocabulary is built from the training split and kept in the run folder, so a resumed run reuses it."""
    config, go = read_recipe(recipe, output_dir=str(out), dataset=str(data), max_steps=max_steps, max_minutes=max_minutes)
    slots = go.get("slots", CONTROL_SLOTS)
    config.seq_len = max(config.seq_len, slots + 3)
    graph = default_graph()
    train_split = load_split(config.dataset, config.train_split)
    out.mkdir(parents=True, exist_ok=True)
    try:
        vocabulary = TermVocabulary.load(out)
    except FileNotFoundError:
        first = len(build_tokenizer())
        vocabulary = build_vocabulary(train_split["go"], graph, first, go.get("min_count", 500), source=str(data))
        vocabulary.slots = slots
        vocabulary.save(out)
    tokenizer = go_tokenizer(vocabulary)
    init = init or go.get("init")
    if not init:
        raise ValueError(f"{recipe}: no generator to start from: set go.init or pass --init")
    model = warm_start(init, len(tokenizer), config.seq_len)
    train = encode(train_split, vocabulary, graph)
    valid = encode(load_split(config.dataset, config.validation_split), vocabulary, graph)
    torch.manual_seed(config.seed)
    return GoTrainer(config, model, train, valid, tokenizer, vocabulary,
                     go.get("p_uncond", 0.15), go.get("term_weight_power", 0.5))

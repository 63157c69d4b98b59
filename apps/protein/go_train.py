"""Train a GO-conditioned generator: the protein generator with GO terms as fixed control tokens.

Each training example is laid out as ``[control slots] <cls> residues <eos>`` (``go.CONTROL_SLOTS`` slots).
The control slots hold some of the protein's GO terms (propagated to ancestors, within the vocabulary);
they are conditioning context, never masked, exactly like a motif. Term dropout: with probability
``p_uncond`` an example keeps no term (every slot empty, not attended: the unconditional input that
classifier-free guidance compares against), otherwise a random subset of its terms (``term_subset``:
``keep_rate``, each term kept at a rate drawn per example, so that every carrier of a term shows it half the
time, alone, among a few or among many; or ``weighted``, the first model's scheme, 1 to ``slots`` terms drawn
with weights ``count ** -term_weight_power``, which showed each of a protein's ~50 propagated terms rarely).
All choices come from the core Trainer's per-micro-batch generator, so a stopped run resumes exactly.

The model is warm-started from a generator trained on the same sequences (``init``): its embedding and
tied output layer grow by one row per term. ``control_init`` "mean" puts every new row at the old rows' mean
(as Hugging Face's resizing does; the shipped model): then the terms start alike, and Adam moves a row only
by about the learning rate each time its term is shown, so after 1,000 CPU steps the term rows of the
shipped model were still 7x closer together than the residue rows. "spread" draws them around that mean with
the residue rows' per-dimension spread, so that terms are told apart from the first step;
``control_lr_scale`` multiplies the learning rate of those rows alone (each optimizer step's change to them
is scaled). Empty slots are not attended, so before training the unconditional model is exactly the
initial generator either way.

``dlm-protein train-go --data data/protein --out runs/protein-go`` runs ``go_recipe.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
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
from shared_dlm import (
    Denoiser,
    TrainConfig,
    Trainer,
    diffusion_loss,
    load_split,
    read_recipe,
)

RECIPE = Path(__file__).with_name("go_recipe.yaml")
CONTROL_INITS = ("mean", "spread")


@dataclass(frozen=True)
class GoRecipe:
    """The ``go:`` section of a GO recipe: what the generator starts from and how terms are shown to it."""

    init: str | None = None  # the generator to warm-start from (``--init`` replaces it)
    min_count: int = 500  # training proteins a term needs to enter the vocabulary
    slots: int = CONTROL_SLOTS
    p_uncond: float = 0.15  # term dropout
    subset: str = "weighted"  # see ``term_subset``
    term_weight_power: float = 0.5
    control_lr_scale: float = 1.0
    control_init: str = "spread"  # see ``warm_start``


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


SUBSETS = ("weighted", "keep_rate")


def term_subset(
    terms: Sequence[int], weights: Tensor, slots: int, generator: torch.Generator, how: str = "keep_rate"
) -> list[int]:
    """A random non-empty subset of ``terms`` (vocabulary indices) of at most ``slots``, in vocabulary order.

    ``weighted``: 1..slots terms (uniform count), drawn without replacement with ``weights[term]``.
    ``keep_rate``: a rate r ~ U(0, 1), each term kept with probability r (at least one: else one at random),
    and when more than ``slots`` are kept, ``slots`` of them drawn with ``weights``. Every carrier of a term
    shows it half the time on average, alone or among few terms (as users give them) or among many;
    ``weighted`` shows a protein's ~50 propagated terms a few at a time, so each is rarely seen.
    """
    if how not in SUBSETS:
        raise ValueError(f"unknown term subset {how!r}; known: {', '.join(SUBSETS)}")
    terms = list(terms)
    if how == "weighted":
        k = int(torch.randint(1, min(slots, len(terms)) + 1, (), generator=generator))
        picked = torch.multinomial(weights[terms], k, replacement=False, generator=generator)
        return sorted(terms[i] for i in picked.tolist())
    rate = float(torch.rand((), generator=generator))
    kept = [t for t, u in zip(terms, torch.rand(len(terms), generator=generator).tolist()) if u < rate]
    if not kept:
        kept = [terms[int(torch.randint(0, len(terms), (), generator=generator))]]
    if len(kept) > slots:
        picked = torch.multinomial(weights[kept], slots, replacement=False, generator=generator)
        kept = [kept[i] for i in picked.tolist()]
    return sorted(kept)


def lay_out(rows: Sequence[tuple[Sequence[int], Sequence[int]]], vocabulary: TermVocabulary, seq_len: int) -> dict[str, Tensor]:
    """(token ids, chosen vocabulary indices) per example -> the batch: control slots, then the residues;
    empty slots and padding not attended; only the residues maskable."""
    slots = vocabulary.slots
    ids = torch.full((len(rows), seq_len), PAD_ID, dtype=torch.long)
    attention = torch.zeros_like(ids, dtype=torch.bool)
    maskable = torch.zeros_like(attention)
    for row, (seq, chosen) in enumerate(rows):
        if slots + len(seq) > seq_len:
            raise ValueError(f"{len(seq)} tokens and {slots} slots do not fit in {seq_len}")
        prefix, attended = control_prefix([vocabulary.first_token + i for i in chosen], slots, PAD_ID)
        ids[row, :slots] = torch.tensor(prefix)
        attention[row, :slots] = torch.tensor(attended)
        ids[row, slots : slots + len(seq)] = torch.tensor(list(seq))
        attention[row, slots : slots + len(seq)] = True
        maskable[row, slots : slots + len(seq)] = True
    return {"input_ids": ids, "attention_mask": attention, "maskable": maskable}


def residues_only(model, first_control: int):
    """``model`` with the control tokens out of its output distribution: a residue position never holds a
    term, and the tied output rows of the new tokens would otherwise take probability mass."""

    def forward(input_ids, t=None, attention_mask=None):
        logits = model(input_ids, t=t, attention_mask=attention_mask)
        logits[..., first_control:] = -1e4  # not -inf: the prefix holds these tokens, and 0 * -inf is nan
        return logits

    return forward


class GoTrainer(Trainer):
    """The core Trainer with GO control slots in front of every example (see the module docstring)."""

    def __init__(self, config: TrainConfig, model: Denoiser, train, valid, tokenizer, vocabulary: TermVocabulary,
                 p_uncond: float = 0.15, term_weight_power: float = 0.5, control_lr_scale: float = 1.0,
                 subset: str = "weighted"):
        if not 0.0 <= p_uncond <= 1.0:
            raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond}")
        if subset not in SUBSETS:
            raise ValueError(f"unknown term subset {subset!r}; known: {', '.join(SUBSETS)}")
        if not control_lr_scale > 0:
            raise ValueError(f"control_lr_scale must be positive, got {control_lr_scale}")
        if config.seq_len <= vocabulary.slots + 2:
            raise ValueError(f"seq_len {config.seq_len} leaves no room for residues after {vocabulary.slots} control slots")
        super().__init__(config, model, train, valid, tokenizer=tokenizer)
        self.vocabulary = vocabulary
        self.p_uncond = p_uncond
        counts = torch.tensor([t.count for t in vocabulary.terms], dtype=torch.float64)
        self.term_weights = counts.pow(-term_weight_power)
        self.subset = subset
        self.control_lr_scale = control_lr_scale
        if control_lr_scale != 1.0:
            self._scale_control_steps()

    def _scale_control_steps(self) -> None:
        """Scale each optimizer step's change to the control rows of the embedding by ``control_lr_scale``
        (AdamW's step is linear in the learning rate, so this is that rows' learning rate times the scale)."""
        weight = self.accelerator.unwrap_model(self.model).get_input_embeddings().weight
        first, before = self.vocabulary.first_token, {}
        optimizer = getattr(self.optimizer, "optimizer", self.optimizer)  # accelerate wraps the torch optimizer

        def keep(*_):
            before["rows"] = weight.data[first:].clone()

        def scale(*_):
            rows = weight.data[first:]
            rows.copy_(before["rows"] + self.control_lr_scale * (rows - before["rows"]))

        optimizer.register_step_pre_hook(keep)
        optimizer.register_step_post_hook(scale)

    def choose_terms(self, terms: list[int], generator: torch.Generator) -> list[int]:
        """Term dropout: no term with probability p_uncond, else a random subset (``term_subset``)."""
        drop = float(torch.rand((), generator=generator)) < self.p_uncond
        if not terms or drop:
            return []
        return term_subset(terms, self.term_weights, self.vocabulary.slots, generator, self.subset)

    def collate(self, examples: list[dict], generator: torch.Generator) -> dict[str, Tensor]:
        room = self.config.seq_len - self.vocabulary.slots
        rows = []
        for example in examples:
            seq = example["input_ids"]
            if len(seq) > room:
                start = int(torch.randint(0, len(seq) - room + 1, (), generator=generator))
                seq = seq[start : start + room]
            rows.append((seq, self.choose_terms(list(example["terms"]), generator)))
        return lay_out(rows, self.vocabulary, self.config.seq_len)

    def loss(self, batch: dict[str, Tensor], generator: torch.Generator):
        """The core ELBO with the control tokens out of the output distribution (see ``residues_only``)."""
        with self.accelerator.autocast():
            return diffusion_loss(
                residues_only(self.model, self.vocabulary.first_token), batch["input_ids"], self.schedule,
                self.mask_id, maskable=batch["maskable"], attention_mask=batch["attention_mask"],
                weighting=self.config.weighting, antithetic=self.config.antithetic, generator=generator,
            )  # fmt: skip

    def write_model(self, folder: Path, dtype: torch.dtype) -> None:
        super().write_model(folder, dtype)
        self.vocabulary.save(folder)


def warm_start(init: str | Path, size: int, max_len: int, seed: int = 0, control_init: str = "spread") -> Denoiser:
    """The generator at ``init`` with its vocabulary grown to ``size`` and its window to at least ``max_len``
    (rotary positions have no table to grow). ``control_init`` "spread": the new rows are drawn (from ``seed``)
    around the old rows' mean with their per-dimension standard deviation, apart from one another as much as
    the residues are; "mean": every new row at the old rows' mean (Hugging Face's resizing; the first model)."""
    if control_init not in CONTROL_INITS:
        raise ValueError(f"unknown control_init {control_init!r}; known: {', '.join(CONTROL_INITS)}")
    model = Denoiser.from_pretrained(str(init), local_files_only=True, torch_dtype=torch.float32)
    model.config.max_position_embeddings = max(model.config.max_position_embeddings, max_len)
    old = model.get_input_embeddings().weight.data.clone()
    model.resize_token_embeddings(size, mean_resizing=False)
    noise = torch.randn(size - old.shape[0], old.shape[1], generator=torch.Generator().manual_seed(seed))
    spread = old.std(0) if control_init == "spread" else torch.zeros(old.shape[1])
    model.get_input_embeddings().weight.data[old.shape[0]:] = old.mean(0) + noise * spread
    model.tie_weights()
    return model


def build_trainer(
    data: Path, out: Path, recipe: Path = RECIPE, max_steps: int | None = None, max_minutes: float | None = None,
    init: Path | None = None,
) -> GoTrainer:
    """The GO trainer on the ``train`` and ``validation`` splits of a corpus from ``dlm-protein corpus``. The
    vocabulary is built from the training split and kept in the run folder, so a resumed run reuses it."""
    config, go = read_recipe(
        recipe, GoRecipe, section="go", output_dir=str(out), dataset=str(data), max_steps=max_steps, max_minutes=max_minutes
    )
    slots = go.slots
    config.seq_len = max(config.seq_len, slots + 3)
    graph = default_graph()
    train_split = load_split(config.dataset, config.train_split)
    out.mkdir(parents=True, exist_ok=True)
    try:
        vocabulary = TermVocabulary.load(out)
    except FileNotFoundError:
        first = len(build_tokenizer())
        vocabulary = build_vocabulary(train_split["go"], graph, first, go.min_count, source=str(data))
        vocabulary.slots = slots
        vocabulary.save(out)
    tokenizer = go_tokenizer(vocabulary)
    init = init or go.init
    if not init:
        raise ValueError(f"{recipe}: no generator to start from: set go.init or pass --init")
    model = warm_start(init, len(tokenizer), config.seq_len, config.seed, go.control_init)
    train = encode(train_split, vocabulary, graph)
    valid = encode(load_split(config.dataset, config.validation_split), vocabulary, graph)
    torch.manual_seed(config.seed)
    return GoTrainer(config, model, train, valid, tokenizer, vocabulary,
                     go.p_uncond, go.term_weight_power, go.control_lr_scale, go.subset)

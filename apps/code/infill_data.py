"""Infilling training examples from the code corpus, fill-in-the-middle style for a diffusion model
(DiffuCoder, Gong et al. 2025; DreamOn, 2025).

Each example cuts one hole in a corpus file: most often a run of whole lines (its first and last lines not
blank, as in HumanEval infilling), sometimes a span inside one line. The example is the prefix tokens, then
S hole slots, then the suffix tokens, in a window of ``seq_len`` around the hole (``apps.code.fim``). S is
drawn log-uniformly between the middle's true length and ``max_slots``: the true middle fills the first
slots and ``<eoi>`` the rest, so the model learns to end a middle wherever it ends, and a hole of unknown
length can be given more slots than it needs. The ``fixed`` column marks the prefix and suffix: the
diffusion never masks them, it learns the middle given its context. With ``whole_window_rate`` a share of
the training examples leaves the context free too, so the diffusion masks the whole window and every
position teaches code (plain masked-diffusion pretraining, as DiffuCoder and DreamOn start from), not only
the hole's slots; validation examples always fix their context, so the held-out ELBO stays the hole's.

Examples are a pure function of (file, seed): a file's holes come from a generator seeded by its sha256,
so the datasets do not depend on the corpus order or on the number of worker processes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Sequence, Value
from transformers import PreTrainedTokenizerBase

from apps.code.corpus import is_held_out, load_corpus
from apps.code.fim import fit_context

FEATURES = Features({"input_ids": Sequence(Value("int32")), "fixed": Sequence(Value("bool"))})
TRIES = 8  # draws of a hole before a file's example is given up (every draw too long)


@dataclass(frozen=True)
class InfillDataConfig:
    """How holes are cut. ``seq_len`` must equal the trainer's."""

    seq_len: int = 512
    max_slots: int = 128  # most hole slots of an example (and at most half of seq_len)
    max_middle_tokens: int = 96  # longest true middle; longer draws lose lines from the end, or are redrawn
    max_lines: int = 12  # most lines in a hole of whole lines
    subline_rate: float = 0.25  # share of holes inside one line
    bytes_per_example: int = 2048  # a file yields one example per this many bytes...
    max_examples_per_file: int = 16  # ...up to this many
    held_out_fraction: float = 0.02  # the validation files (the tokenizer held out the same ones)
    whole_window_rate: float = 0.0  # share of examples whose context is not fixed: the whole window is denoised
    seed: int = 0

    def __post_init__(self):
        if self.seq_len < 8:
            raise ValueError(f"seq_len must be at least 8, got {self.seq_len}")
        for name in ("max_slots", "max_middle_tokens", "max_lines", "bytes_per_example", "max_examples_per_file"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("subline_rate", "whole_window_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.held_out_fraction < 1.0:
            raise ValueError(f"held_out_fraction must lie in [0, 1), got {self.held_out_fraction}")

    @property
    def slots_cap(self) -> int:
        return min(self.max_slots, self.seq_len // 2)


def _line_hole(lines: list[str], rng: random.Random, max_lines: int) -> list[tuple[int, int]]:
    """Runs of whole lines whose first and last lines are not blank, as character offsets (start, end): the
    drawn run first, then the same run shortened by one non-blank line at a time (for middles too long)."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not filled:
        return []
    k = rng.randrange(len(filled))
    span = min(int(math.exp(rng.uniform(0.0, math.log(max_lines + 1)))), max_lines)  # short runs most often
    lasts = [j for j in filled[k : k + span] if j - filled[k] < max_lines]
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    return [(offsets[filled[k]], offsets[last + 1]) for last in reversed(lasts)]


def _subline_hole(lines: list[str], rng: random.Random) -> tuple[int, int] | None:
    """Character offsets of a span inside one non-blank line, after its indentation, before its newline."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not filled:
        return None
    i = rng.choice(filled)
    line = lines[i].rstrip("\r\n")
    lo = len(line) - len(line.lstrip())
    hi = len(line.rstrip())
    start = rng.randrange(lo, hi)
    end = hi if rng.random() < 0.5 else rng.randint(start + 1, hi)  # half the time, the rest of the line
    base = sum(len(other) for other in lines[:i])
    return base + start, base + end


def _slots(middle: int, cap: int, rng: random.Random) -> int:
    """Hole slots for a middle of ``middle`` tokens: log-uniform between it and ``cap``."""
    return min(cap, max(middle, round(math.exp(rng.uniform(math.log(max(middle, 1)), math.log(cap))))))


def file_examples(
    text: str, sha256: str, tokenizer: PreTrainedTokenizerBase, config: InfillDataConfig
) -> list[dict[str, list]]:
    """The infilling examples of one file: ``input_ids`` and ``fixed`` (True on the prefix and suffix)."""
    count = min(config.max_examples_per_file, max(1, len(text.encode("utf-8")) // config.bytes_per_example))
    lines = text.splitlines(keepends=True)
    examples = []
    for index in range(count):
        rng = random.Random(f"{config.seed}:{sha256}:{index}")
        example = _example(text, lines, tokenizer, config, rng)
        if example is not None:
            examples.append(example)
    return examples


def _example(text, lines, tokenizer, config: InfillDataConfig, rng: random.Random) -> dict[str, list] | None:
    cap = min(config.slots_cap, config.max_middle_tokens)
    for _ in range(TRIES):
        subline = _subline_hole(lines, rng) if rng.random() < config.subline_rate else None
        for start, end in [subline] if subline else _line_hole(lines, rng, config.max_lines):
            middle = tokenizer(text[start:end], add_special_tokens=False)["input_ids"]
            if 0 < len(middle) <= cap:
                return _layout(text, start, end, middle, tokenizer, config, rng)
    return None


def _layout(text, start, end, middle, tokenizer, config: InfillDataConfig, rng: random.Random) -> dict[str, list]:
    slots = _slots(len(middle), config.slots_cap, rng)
    context = fit_context(tokenizer, text[:start], text[end:], config.seq_len - slots)
    hole = middle + [tokenizer.eoi_token_id] * (slots - len(middle))
    before, after = context.prefix, context.suffix
    # drawn only when asked for, so that the examples of a recipe without whole windows stay as they were
    whole = config.whole_window_rate > 0 and rng.random() < config.whole_window_rate
    return {
        "input_ids": before + hole + after,
        "fixed": [not whole] * len(before) + [False] * slots + [not whole] * len(after),
    }


def examples_dataset(
    files: Dataset, tokenizer: PreTrainedTokenizerBase, config: InfillDataConfig, num_proc: int | None = None
) -> Dataset:
    """Infilling examples of every file of a corpus dataset (columns ``text`` and ``sha256``), kept in memory."""

    def batch_examples(texts: list[str], shas: list[str]) -> dict[str, list]:
        rows = [ex for text, sha in zip(texts, shas) for ex in file_examples(text, sha, tokenizer, config)]
        return {"input_ids": [r["input_ids"] for r in rows], "fixed": [r["fixed"] for r in rows]}

    return files.map(
        batch_examples,
        input_columns=["text", "sha256"],
        batched=True,
        batch_size=64,
        remove_columns=files.column_names,
        features=FEATURES,
        num_proc=num_proc if num_proc and num_proc > 1 and len(files) >= num_proc else None,
        keep_in_memory=True,  # never write cache files into the corpus folder
        desc="cutting holes",
    )


def build_infill_datasets(
    corpus: str | Path, tokenizer: PreTrainedTokenizerBase, config: InfillDataConfig, num_proc: int | None = None
) -> DatasetDict:
    """Train and validation infilling examples from a corpus folder; validation comes from the held-out files."""
    if None in (getattr(tokenizer, "eoi_token_id", None), tokenizer.bos_token_id, tokenizer.eos_token_id):
        raise ValueError("the tokenizer lacks <eoi>, <bos> or <eos>: train it with `dlm-code tokenizer`")
    files = load_corpus(corpus).select_columns(["text", "sha256"])
    held = [is_held_out(sha, config.held_out_fraction) for sha in files["sha256"]]
    train_rows = [i for i, h in enumerate(held) if not h]
    valid_rows = [i for i, h in enumerate(held) if h]
    if not train_rows:
        raise ValueError(f"no training files left in {corpus} after holding out {config.held_out_fraction:.0%}")
    splits = {"train": examples_dataset(files.select(train_rows, keep_in_memory=True), tokenizer, config, num_proc)}
    if valid_rows:
        holes_only = replace(config, whole_window_rate=0.0)  # the held-out ELBO measures the hole, always
        splits["validation"] = examples_dataset(
            files.select(valid_rows, keep_in_memory=True), tokenizer, holes_only, num_proc
        )
    return DatasetDict(splits)

"""Training data through Hugging Face `datasets`: local text, JSON lines, FASTA or a saved dataset,
tokenised once (cached by `datasets`) and batched into fixed-length tensors.

An example may carry a `fixed` column (one flag per token): those positions are conditioning context
(a prompt, a motif, the code around a hole) and the diffusion never masks them in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import datasets
import torch
from torch import Tensor

FORMATS = {".txt": "text", ".jsonl": "json", ".json": "json", ".fasta": "fasta", ".fa": "fasta", ".faa": "fasta"}


def read_fasta(paths: list[str]) -> Iterator[dict[str, str]]:
    """Records of FASTA files as {'id', 'description', 'text'} (the sequence, on one line)."""
    for path in paths:
        header, chunks = None, []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                if line.startswith(">"):
                    if header is not None:
                        yield _fasta_record(header, chunks)
                    header, chunks = line[1:], []
                elif header is None:
                    raise ValueError(f"{path}:{number}: not FASTA: sequence data before the first '>' header")
                else:
                    chunks.append(line)
        if header is not None:
            yield _fasta_record(header, chunks)


def _fasta_record(header: str, chunks: list[str]) -> dict[str, str]:
    return {"id": header.split()[0] if header.split() else "", "description": header, "text": "".join(chunks)}


def format_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: cannot tell the format from {suffix!r}; expected one of {sorted(FORMATS)}")
    return FORMATS[suffix]


def load_files(paths: list[str], field: str = "text") -> datasets.Dataset:
    """One dataset from local files of one format (.txt: a line an example; .jsonl; .fasta)."""
    if not paths:
        raise ValueError("no data files given")
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"data files not found: {missing}")
    kinds = {format_of(p) for p in paths}
    if len(kinds) > 1:
        raise ValueError(f"data files mix formats {sorted(kinds)}: give one format at a time")
    kind = kinds.pop()
    if kind == "fasta":
        ds = datasets.Dataset.from_generator(read_fasta, gen_kwargs={"paths": [str(Path(p).resolve()) for p in paths]})
    else:
        ds = datasets.load_dataset(kind, data_files=[str(p) for p in paths], split="train")
    if field not in ds.column_names:
        raise ValueError(f"{paths[0]}: no column {field!r}; columns are {ds.column_names}")
    if len(ds) == 0:
        raise ValueError(f"{paths}: no examples")
    return ds


def load_split(dataset_dir: str, split: str) -> datasets.Dataset:
    """A split of a dataset written with `save_to_disk` (the corpus builders write these)."""
    loaded = datasets.load_from_disk(dataset_dir)
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ValueError(f"{dataset_dir}: no split {split!r}; it has {list(loaded)}")
        return loaded[split]
    return loaded


def tokenize(
    ds: datasets.Dataset, tokenizer, field: str = "text", seq_len: int = 256, packing: bool = False
) -> datasets.Dataset:
    """Add `input_ids`. With packing, documents are joined (with the tokenizer's eos between them) and cut
    into seq_len chunks, as for text corpora; otherwise each document stays an example (cropped later)."""

    def encode(batch):
        return {"input_ids": tokenizer(batch[field], add_special_tokens=not packing)["input_ids"]}

    keep = [c for c in ds.column_names if c == "fixed"]
    ids = ds.map(encode, batched=True, remove_columns=[c for c in ds.column_names if c not in keep], desc="tokenising")
    if not packing:
        return ids
    if keep:
        raise ValueError("packing joins documents and cannot keep per-token 'fixed' flags: turn packing off")
    sep = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id

    def pack(batch):
        flat: list[int] = []
        for seq in batch["input_ids"]:
            flat.extend(seq + ([sep] if sep is not None else []))
        usable = len(flat) // seq_len * seq_len
        return {"input_ids": [flat[i : i + seq_len] for i in range(0, usable, seq_len)]}

    return ids.map(pack, batched=True, batch_size=1000, desc="packing")


@dataclass
class Collator:
    """Crop (a random window, from the given generator) and pad examples into (B, seq_len) tensors."""

    seq_len: int
    pad_id: int
    fixed_key: str = "fixed"
    generator: torch.Generator | None = field(default=None, repr=False)

    def __call__(self, examples: list[dict]) -> dict[str, Tensor]:
        batch = len(examples)
        ids = torch.full((batch, self.seq_len), self.pad_id, dtype=torch.long)
        attention = torch.zeros((batch, self.seq_len), dtype=torch.bool)
        maskable = torch.zeros((batch, self.seq_len), dtype=torch.bool)
        for row, ex in enumerate(examples):
            seq = torch.as_tensor(ex["input_ids"], dtype=torch.long)
            fixed = torch.as_tensor(ex.get(self.fixed_key, [False] * len(seq)), dtype=torch.bool)
            start = 0
            if len(seq) > self.seq_len:
                start = int(torch.randint(0, len(seq) - self.seq_len + 1, (1,), generator=self.generator))
            seq, fixed = seq[start : start + self.seq_len], fixed[start : start + self.seq_len]
            ids[row, : len(seq)] = seq
            attention[row, : len(seq)] = True
            maskable[row, : len(seq)] = ~fixed
        return {"input_ids": ids, "attention_mask": attention, "maskable": maskable}

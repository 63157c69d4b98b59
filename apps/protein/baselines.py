"""Trivial baselines that the designs are measured beside: shuffled natural sequences and residue n-gram
models (order 1: i.i.d. residues from the training composition; order 3: a residue trigram model)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from apps.protein.alphabet import STANDARD_RESIDUES

NGRAM_ORDER = 3
NGRAM_FIT_SEQUENCES = 20_000  # training sequences the baselines are fit on (a seeded sample)
NGRAM_ADD_K = 1.0


def shuffled(sequence: str, seed: int) -> str:
    """The residues of ``sequence`` in a random order that depends only on ``seed`` and the sequence
    (``random`` seeds from a string with SHA-512), so a sequence shuffles alike wherever it is met."""
    residues = list(sequence)
    random.Random(f"{seed}:{sequence}").shuffle(residues)
    return "".join(residues)


class NGramModel:
    """P(residue | the previous order - 1 residues) with add-k smoothing (Chen and Goodman 1999, sec. 2.1),
    sampled left to right from a start context; order 1 is i.i.d. residues from the fitted composition."""

    START = len(STANDARD_RESIDUES)  # the context symbol before the first residue

    def __init__(self, order: int, probs: np.ndarray):
        assert probs.shape == ((len(STANDARD_RESIDUES) + 1) ** (order - 1), len(STANDARD_RESIDUES))
        self.order = order
        self.probs = probs  # (contexts, 20): a context's symbols in base 21, the latest the lowest digit

    @classmethod
    def fit(cls, sequences: Sequence[str], order: int = NGRAM_ORDER, add_k: float = NGRAM_ADD_K) -> NGramModel:
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if add_k <= 0:
            raise ValueError(f"add_k must be positive, got {add_k}")
        if not sequences:
            raise ValueError("cannot fit an n-gram model on no sequences")
        start = "^"  # stands for START in the text; the padding before each sequence keeps contexts apart
        text = "".join(start * (order - 1) + s for s in sequences)
        if set(text) - set(STANDARD_RESIDUES + start) or text.count(start) != (order - 1) * len(sequences):
            raise ValueError(f"n-gram sequences must hold only the standard residues {STANDARD_RESIDUES}")
        code = np.zeros(256, dtype=np.int64)
        code[list(STANDARD_RESIDUES.encode())] = range(len(STANDARD_RESIDUES))
        code[ord(start)] = cls.START
        symbols = code[np.frombuffer(text.encode(), dtype=np.uint8)]
        at = np.flatnonzero(symbols != cls.START)  # positions of residues
        context = np.zeros_like(at)
        for back in range(order - 1, 0, -1):
            context = context * (cls.START + 1) + symbols[at - back]
        rows, width = (cls.START + 1) ** (order - 1), len(STANDARD_RESIDUES)
        counts = np.bincount(context * width + symbols[at], minlength=rows * width).reshape(rows, width) + add_k
        return cls(order, counts / counts.sum(1, keepdims=True))

    def sample(self, lengths: Sequence[int], rng: np.random.Generator) -> list[str]:
        """One sequence of each length, all drawn together position by position (inverse-CDF)."""
        if not lengths:
            return []
        rows = len(self.probs)
        context = np.zeros(len(lengths), dtype=np.int64)
        for _ in range(self.order - 1):
            context = context * (self.START + 1) + self.START
        cdf = self.probs.cumsum(1)  # (contexts, 20)
        drawn = np.empty((len(lengths), max(lengths)), dtype=np.int64)  # (B, longest)
        for t in range(drawn.shape[1]):
            u = rng.random(len(lengths))
            residue = np.minimum((u[:, None] > cdf[context]).sum(1), len(STANDARD_RESIDUES) - 1)
            drawn[:, t] = residue
            context = (context * (self.START + 1) + residue) % rows
        return ["".join(STANDARD_RESIDUES[r] for r in row[:length]) for row, length in zip(drawn, lengths)]


def baseline_sets(training: Sequence[str], natural: Sequence[str], seed: int) -> tuple[dict[str, list[str]], int]:
    """The baseline sets of the natural sequences' lengths, all drawn from ``seed``: ``unigram`` and ``ngram``
    (fit on a sample of at most ``NGRAM_FIT_SEQUENCES`` training sequences), ``natural`` and ``shuffled``; and
    how many training sequences the n-gram models were fit on."""
    rng = np.random.default_rng(seed)
    lengths = [len(s) for s in natural]
    fit_on = [training[i] for i in rng.choice(len(training), min(NGRAM_FIT_SEQUENCES, len(training)), replace=False)]
    sets = {
        "unigram": NGramModel.fit(fit_on, order=1).sample(lengths, rng),
        "ngram": NGramModel.fit(fit_on, order=NGRAM_ORDER).sample(lengths, rng),
        "natural": list(natural),
        "shuffled": [shuffled(s, seed) for s in natural],
    }
    return sets, len(fit_on)

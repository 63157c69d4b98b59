"""The figures the protein evaluations report, each a function of sequences (or of rates): pseudo-perplexity
against shuffles, composition, diversity and novelty summaries, motif keeping, and hit-rate ratios.

Identity is ``properties.identity``'s: identical aligned residues over the shorter sequence's length.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Sequence

from apps.protein.properties import composition_kl, mean_pairwise_identity
from apps.protein.scoring import Scorer

DIVERSITY_SEQUENCES = 50  # all pairs of the first 50 of a set (1,225 alignments)


def shuffle_pairs_fraction(natural: Sequence[float], shuffled_: Sequence[float]) -> float:
    """Share of pairs whose natural sequence has the lower pseudo-perplexity than its shuffle."""
    if len(natural) != len(shuffled_) or not natural:
        raise ValueError(f"need one shuffled value for each of at least one natural, got {len(shuffled_)} for {len(natural)}")
    return sum(n < s for n, s in zip(natural, shuffled_)) / len(natural)


def kl_bits(sequences: Sequence[str], reference: Sequence[str]) -> float:
    """KL(set || reference) of the pooled residue compositions in bits, add-one smoothed (``composition_kl``)."""
    return composition_kl(sequences, reference) / math.log(2)


def diversity(sequences: Sequence[str]) -> float:
    """Mean identity over all pairs of the first ``DIVERSITY_SEQUENCES`` (lower is more diverse)."""
    first = sequences[:DIVERSITY_SEQUENCES]
    return mean_pairwise_identity(first, max_pairs=len(first) * (len(first) - 1) // 2)


class PseudoPerplexities:
    """The scorer's PPPL of sequences, each computed once however often it is asked for."""

    def __init__(self, scorer: Scorer):
        self.scorer = scorer
        self.known: dict[str, float] = {}

    def __call__(self, sequences: Sequence[str]) -> list[float]:
        new = list(dict.fromkeys(s for s in sequences if s not in self.known))
        for sequence, score in zip(new, self.scorer.score(new)):
            self.known[sequence] = score["pseudo_perplexity"]
        return [self.known[s] for s in sequences]


def set_summary(
    sequences: Sequence[str], pppl: Sequence[float], novelty: Sequence[tuple[float, bool]], reference: Sequence[str]
) -> dict:
    """The generation figures of one set; ``novelty``: each sequence's (highest identity to training, any hit),
    as ``TrainingSearch.novelty`` gives it; ``reference``: the natural sequences whose composition is the target."""
    return {
        "n": len(sequences),
        "median_length": statistics.median(len(s) for s in sequences),
        "median_pppl": statistics.median(pppl),
        "mean_pppl": statistics.fmean(pppl),
        "kl_bits": kl_bits(sequences, reference),
        "mean_pairwise_identity": diversity(sequences),
        "mean_max_train_identity": statistics.fmean(identity for identity, _ in novelty),
        "no_hit_fraction": sum(not hit for _, hit in novelty) / len(novelty),
    }


def rate(values: Iterable[bool]) -> float:
    """The share of true values (0.0 for none)."""
    values = list(values)
    return float(sum(values) / len(values)) if values else 0.0


def floored_ratio(conditioned: float, baseline: float, n: int) -> float:
    """conditioned / baseline, the baseline floored at one design in n (a rate of 0 is below 1/n, not 0)."""
    return conditioned / max(baseline, 1.0 / n)


def motif_kept(sequences: Sequence[str], spec: str) -> float:
    """Share of the sequences holding the motif (X: any residue) inside its window ("START-END:RESIDUES"), or
    at its position ("POS:RESIDUES"), read from the sequences themselves."""
    window, residues = spec.split(":")
    start, _, end = window.partition("-")
    lo = int(start)
    hi = int(end) if end else lo + len(residues) - 1
    pattern = re.compile("(?=" + residues.replace("X", ".") + ")")
    return rate(bool(pattern.search(s[lo - 1 : hi])) for s in sequences)

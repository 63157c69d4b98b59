"""Trivial baselines for redesigning CDRs or frameworks, which a model must beat: a profile of residue counts per
IMGT position and chain, fit on the evaluation set's reference split, either taking each position's most frequent
residue or drawing from its frequencies; with the recovery of native residues and a shuffled control (the
native residues of the redesigned positions in another order), against which pseudo-log-likelihoods are read.

Chains and domains are anything with ``sequence``, ``chain``, ``positions`` and ``regions`` as the numbering
module gives them: a ``Numbered`` chain or an evaluation-set ``Entry``.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

from apps.protein.antibody.evalset import Entry
from apps.protein.antibody.numbering import Numbered


class PositionProfile:
    """Residue counts per (chain, IMGT label), with the counts per (chain, region) and per chain as fallbacks for
    a label never seen (a rare insertion such as "111F") or a residue outside the domain."""

    def __init__(self, at_position: dict[tuple[str, str], Counter], in_region: dict[tuple[str, str], Counter],
                 on_chain: dict[str, Counter]) -> None:  # fmt: skip
        self.at_position, self.in_region, self.on_chain = at_position, in_region, on_chain

    @classmethod
    def fit(cls, domains: Iterable[Entry | Numbered]) -> PositionProfile:
        at_position: dict[tuple[str, str], Counter] = defaultdict(Counter)
        in_region: dict[tuple[str, str], Counter] = defaultdict(Counter)
        on_chain: dict[str, Counter] = defaultdict(Counter)
        for domain in domains:
            for residue, label, region in zip(domain.sequence, domain.positions, domain.regions, strict=True):
                if label is None:
                    continue
                at_position[domain.chain, label][residue] += 1
                in_region[domain.chain, region][residue] += 1
                on_chain[domain.chain][residue] += 1
        return cls(dict(at_position), dict(in_region), dict(on_chain))

    def counts(self, chain: str, label: str | None, region: str | None) -> Counter:
        """The counts a residue at ``label`` is drawn from: its position's, else its region's, else its chain's."""
        for counts in (self.at_position.get((chain, label)), self.in_region.get((chain, region))):
            if counts:
                return counts
        if chain not in self.on_chain:
            raise ValueError(f"the profile was fit on no chain {chain!r} (it has {sorted(self.on_chain)})")
        return self.on_chain[chain]

    def most_frequent(self, numbered: Numbered, indices: Sequence[int]) -> str:
        """``numbered``'s sequence with the residue at each of ``indices`` replaced by its position's most frequent
        residue (ties to the alphabetically first)."""
        return self._replace(numbered, indices, lambda counts: min(counts, key=lambda r: (-counts[r], r)))

    def sample(self, numbered: Numbered, indices: Sequence[int], generator: random.Random) -> str:
        """``numbered``'s sequence with the residue at each of ``indices`` drawn from its position's frequencies."""

        def draw(counts: Counter) -> str:
            residues = sorted(counts)  # a fixed order, so a seeded generator draws alike whatever the fitting order
            return generator.choices(residues, [counts[r] for r in residues])[0]

        return self._replace(numbered, indices, draw)

    def _replace(self, numbered: Numbered, indices: Sequence[int], choose: Callable[[Counter], str]) -> str:
        residues = list(numbered.sequence)
        for i in indices:
            residues[i] = choose(self.counts(numbered.chain, numbered.positions[i], numbered.regions[i]))
        return "".join(residues)


def recovery(designed: str, native: str, indices: Sequence[int]) -> float:
    """The fraction of ``indices`` where the design keeps the native residue (sequence recovery)."""
    if len(designed) != len(native):
        raise ValueError(f"recovery compares designs of the native's length: got {len(designed)} and {len(native)}")
    if not indices:
        raise ValueError("recovery needs at least one redesigned position")
    return sum(designed[i] == native[i] for i in indices) / len(indices)


def shuffled(sequence: str, indices: Sequence[int], rng: random.Random) -> str:
    """``sequence`` with its residues at ``indices`` permuted among those positions, the rest kept: the control a
    natural region's pseudo-log-likelihood is compared with."""
    residues = list(sequence)
    picked = [residues[i] for i in indices]
    rng.shuffle(picked)
    for i, residue in zip(indices, picked):
        residues[i] = residue
    return "".join(residues)

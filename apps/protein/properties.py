"""Sequence-level properties of designs and of sets of designs: Biopython ProtParam values,
residue composition against a reference, diversity within a set and novelty against a reference.

Identity, used throughout: the number of identical aligned residues divided by the length of the
shorter sequence. A design that is a fragment of a reference is then fully identical to it (it is not
novel), and the number does not shrink when one sequence is much longer. Alignments are global with
free end gaps (BLOSUM62, gap open -11, extend -1, BLAST's protein defaults).
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from Bio.Align import PairwiseAligner, substitution_matrices
from Bio.SeqUtils.ProtParam import ProteinAnalysis

from apps.protein.alphabet import STANDARD_RESIDUES, check_residues
from apps.protein.tools import run


@dataclass(frozen=True)
class Properties:
    """ProtParam values of one sequence (Gasteiger et al. 2005) and its residue composition."""

    length: int
    molecular_weight: float  # Da
    isoelectric_point: float
    gravy: float  # grand average of hydropathy (Kyte-Doolittle)
    instability_index: float  # above 40 predicts an unstable protein (Guruprasad et al. 1990)
    aromaticity: float  # fraction of F, W, Y
    composition: Mapping[str, float]  # fraction of each standard residue

    def as_dict(self) -> dict[str, float]:
        """Flat numbers for a table: the values, then ``composition_A`` ... ``composition_Y``."""
        values = asdict(self)
        composition = values.pop("composition")
        return {**{k: float(v) for k, v in values.items()}, **{f"composition_{r}": composition[r] for r in STANDARD_RESIDUES}}


def properties(sequence: str) -> Properties:
    """ProtParam properties of a sequence of standard residues (a ValueError names any other letter)."""
    if not sequence:
        raise ValueError("cannot compute the properties of an empty sequence")
    check_residues(sequence)
    analysis = ProteinAnalysis(sequence)
    return Properties(
        length=len(sequence),
        molecular_weight=analysis.molecular_weight(),
        isoelectric_point=analysis.isoelectric_point(),
        gravy=analysis.gravy(),
        instability_index=analysis.instability_index(),
        aromaticity=analysis.aromaticity(),
        composition=_composition(Counter(sequence), len(sequence)),
    )


def composition_kl(sequences: Sequence[str], reference: Sequence[str], pseudocount: float = 1.0) -> float:
    """KL(P || Q) in nats between the pooled residue frequencies of ``sequences`` (P) and of
    ``reference`` (Q), each count raised by ``pseudocount`` so that an absent residue stays finite."""
    if pseudocount <= 0:
        raise ValueError(f"pseudocount must be positive, got {pseudocount}")
    p, q = (_pooled(seqs, pseudocount) for seqs in (sequences, reference))
    return sum(p[r] * math.log(p[r] / q[r]) for r in STANDARD_RESIDUES)


def identity(a: str, b: str) -> float:
    """Identical aligned residues over the length of the shorter sequence (see the module docstring)."""
    if not a or not b:
        raise ValueError("identity of an empty sequence is undefined")
    alignment = _aligner().align(a, b)[0]
    return alignment.counts().identities / min(len(a), len(b))


def mean_pairwise_identity(sequences: Sequence[str], max_pairs: int = 1000, seed: int = 0) -> float:
    """Mean identity over pairs of distinct members of a set (lower is more diverse); above
    ``max_pairs`` pairs, over that many pairs drawn uniformly without replacement with ``seed``."""
    n = len(sequences)
    if n < 2:
        raise ValueError(f"mean pairwise identity needs at least 2 sequences, got {n}")
    total = n * (n - 1) // 2
    ranks = range(total) if total <= max_pairs else random.Random(seed).sample(range(total), max_pairs)
    pairs = [_unrank(k, n) for k in ranks]
    return sum(identity(sequences[i], sequences[j]) for i, j in pairs) / len(pairs)


def novelty(
    designs: Sequence[str],
    reference: Sequence[str],
    *,
    method: str = "auto",
    top_k: int = 20,
    threads: int = 1,
) -> list[float]:
    """For each design, its highest identity to any reference sequence (0.0 where nothing aligns).

    ``method="mmseqs"`` runs ``mmseqs easy-search`` (Debian ``mmseqs2``; sensitive and fast on large
    references; its local alignments are scored with our identity, so a design it finds no hit for
    gets 0.0). ``method="align"`` aligns each design with Biopython to the ``top_k`` references that
    share the most 3-mers with it. ``"auto"`` takes mmseqs when the ``mmseqs`` program is on PATH.
    """
    if method == "auto":
        method = "mmseqs" if shutil.which("mmseqs") else "align"
    if not reference:
        raise ValueError("novelty needs a non-empty reference set")
    for name, seqs in (("design", designs), ("reference", reference)):
        for index, sequence in enumerate(seqs):
            if not sequence:
                raise ValueError(f"{name} {index} is empty")
    if method == "mmseqs":
        return _novelty_mmseqs(designs, reference, threads)
    if method == "align":
        return _novelty_align(designs, reference, top_k)
    raise ValueError(f"method must be 'auto', 'mmseqs' or 'align', got {method!r}")


def _novelty_align(designs: Sequence[str], reference: Sequence[str], top_k: int, k: int = 3) -> list[float]:
    """Prefilter by shared k-mers (as BLAST and MMseqs2 do), then align the best candidates."""
    index: dict[str, list[int]] = defaultdict(list)  # k-mer -> references holding it
    for ref_id, sequence in enumerate(reference):
        for kmer in _kmers(sequence, k):
            index[kmer].append(ref_id)
    best = []
    for design in designs:
        shared = Counter(ref_id for kmer in _kmers(design, k) for ref_id in index.get(kmer, ()))
        ranked = sorted(range(len(reference)), key=lambda r: (-shared[r], r))[:top_k]
        best.append(max(identity(design, reference[r]) for r in ranked))
    return best


def _novelty_mmseqs(designs: Sequence[str], reference: Sequence[str], threads: int) -> list[float]:
    best = [0.0] * len(designs)
    with tempfile.TemporaryDirectory(prefix="novelty-") as tmp:
        work = Path(tmp)
        queries, targets, hits = work / "designs.fasta", work / "reference.fasta", work / "hits.m8"
        _write_fasta(designs, queries)
        _write_fasta(reference, targets)
        run(
            ["mmseqs", "easy-search", str(queries), str(targets), str(hits), str(work / "tmp"),
             "--format-output", "query,target,qaln,taln", "-e", "inf", "--threads", str(threads), "-v", "1"]
        )  # fmt: skip
        # identities counted from the aligned strings: mmseqs 14's `nident` column reads 0
        for line in hits.read_text().splitlines():
            query, target, qaln, taln = line.split("\t")
            q, t = int(query), int(target)
            same = sum(a == b != "-" for a, b in zip(qaln, taln))
            best[q] = max(best[q], same / min(len(designs[q]), len(reference[t])))
    return best


def _write_fasta(sequences: Sequence[str], path: Path) -> None:
    path.write_text("".join(f">{i}\n{s}\n" for i, s in enumerate(sequences)))


def _kmers(sequence: str, k: int) -> set[str]:
    return {sequence[i : i + k] for i in range(len(sequence) - k + 1)}


def _unrank(k: int, n: int) -> tuple[int, int]:
    """The k-th pair (i, j), i < j, of n items in row order (0,1), (0,2), ..., (1,2), ..."""

    def before(i: int) -> int:  # pairs whose first item is below i
        return i * (2 * n - i - 1) // 2

    i = bisect.bisect_right(range(n), k, key=before) - 1
    return i, i + 1 + k - before(i)


@functools.cache
def _aligner() -> PairwiseAligner:
    aligner = PairwiseAligner(mode="global", substitution_matrix=substitution_matrices.load("BLOSUM62"))
    aligner.open_gap_score, aligner.extend_gap_score = -11, -1
    aligner.end_gap_score = 0
    return aligner


def _composition(counts: Mapping[str, float], total: float) -> dict[str, float]:
    return {r: counts.get(r, 0) / total for r in STANDARD_RESIDUES}


def _pooled(sequences: Sequence[str], pseudocount: float) -> dict[str, float]:
    if not sequences:
        raise ValueError("residue composition of an empty set of sequences is undefined")
    counts = Counter()
    for sequence in sequences:
        counts.update(check_residues(sequence))
    smoothed = {r: counts[r] + pseudocount for r in STANDARD_RESIDUES}
    return _composition(smoothed, sum(smoothed.values()))

"""Sequence-identity clustering and relative search with MMseqs2 (Steinegger and Söding 2017).

Both take sequences by id and return ids, so callers never see MMseqs2's files. A pair
counts as related at ``identity`` when its alignment covers ``coverage`` of both
sequences (``--cov-mode 0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from apps.protein.tools import run


def options(identity: float, coverage: float, threads: int) -> list[str]:
    return [
        "--min-seq-id", str(identity), "-c", str(coverage), "--cov-mode", "0", "--threads", str(threads), "-v", "1",
    ]  # fmt: skip


def cluster(sequences: Mapping[str, str], identity: float, coverage: float, threads: int, workdir: Path) -> dict[str, str]:
    """Id -> id of its cluster's representative, from ``mmseqs easy-cluster`` (cascaded
    prefilter and alignment; ``easy-linclust`` is faster but, at 30% identity, leaves most
    held-out sequences with a relative in training)."""
    fasta = _write_fasta(sequences, workdir / "cluster_input.fasta")
    prefix = workdir / "clusters"
    run(["mmseqs", "easy-cluster", str(fasta), str(prefix), str(workdir / "tmp"), *options(identity, coverage, threads)])
    representative: dict[str, str] = {}
    with Path(f"{prefix}_cluster.tsv").open() as tsv:
        for line in tsv:
            rep, member = line.split()
            representative[member] = rep
    missing = sequences.keys() - representative.keys()
    assert not missing, f"mmseqs left {len(missing)} sequences unclustered, e.g. {sorted(missing)[:3]}"
    return representative


def relatives(
    queries: Mapping[str, str], targets: Mapping[str, str], identity: float, coverage: float, threads: int, workdir: Path
) -> set[str]:
    """Ids of the queries with at least one related target, from ``mmseqs easy-search``
    (more sensitive than clustering, so it finds relatives that fell in other clusters)."""
    query_fasta = _write_fasta(queries, workdir / "queries.fasta")
    target_fasta = _write_fasta(targets, workdir / "targets.fasta")
    hits = workdir / "hits.m8"
    run(
        ["mmseqs", "easy-search", str(query_fasta), str(target_fasta), str(hits), str(workdir / "tmp"),
         *options(identity, coverage, threads), "--format-output", "query"]
    )  # fmt: skip
    with hits.open() as lines:
        return {line.strip() for line in lines if line.strip()}


def _write_fasta(sequences: Mapping[str, str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for name, sequence in sequences.items():
            out.write(f">{name}\n{sequence}\n")
    return path

"""Sequence-identity clustering and homology search with MMseqs2 (Steinegger and Söding 2017).

Callers pass sequences by id and get ids back, never MMseqs2's files. A pair counts as related at
``identity`` when its alignment covers ``coverage`` of both sequences (``--cov-mode 0``). ``search`` is the
one ``mmseqs easy-search`` call: ``relatives`` runs it against a set of targets, ``TrainingSearch`` against
a training split's database, built once in a work folder and cached there across runs when the folder is kept.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from apps.protein.tools import run

NOVELTY_EVALUE = 1e-3  # a training hit below this E-value counts as a hit (mmseqs's default threshold)


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


def search(queries: Mapping[str, str], target: Path, fields: str, flags: Sequence[str], workdir: Path) -> list[list[str]]:
    """The hits of ``mmseqs easy-search`` of the queries against ``target`` (a FASTA file or an MMseqs2
    database) with ``flags``, each as the values of the comma-separated ``fields`` (``--format-output``)."""
    query_fasta = _write_fasta(queries, workdir / "queries.fasta")
    hits = workdir / "hits.m8"
    run(
        ["mmseqs", "easy-search", str(query_fasta), str(target), str(hits), str(workdir / "tmp"), *flags,
         "--format-output", fields]
    )  # fmt: skip
    return [line.rstrip("\n").split("\t") for line in hits.read_text().splitlines() if line.strip()]


def relatives(
    queries: Mapping[str, str], targets: Mapping[str, str], identity: float, coverage: float, threads: int, workdir: Path
) -> set[str]:
    """Ids of the queries with at least one related target (more sensitive than clustering, so it finds
    relatives that fell in other clusters)."""
    target_fasta = _write_fasta(targets, workdir / "targets.fasta")
    return {query for (query,) in search(queries, target_fasta, "query", options(identity, coverage, threads), workdir)}


@dataclass(frozen=True)
class Hit:
    """One alignment of a query to a training sequence, both by index."""

    query: int
    target: int
    identity: float  # identical aligned residues over the shorter sequence's length
    evalue: float


class TrainingSearch:
    """Searches of query sequences against a training split, through a FASTA file and a database written once
    under ``workdir`` (named by a hash of the sequences, so a changed corpus gets its own)."""

    def __init__(self, training: Sequence[str], workdir: Path, threads: int = 2):
        digest = hashlib.sha256()
        for sequence in training:
            digest.update(sequence.encode() + b"\n")
        self.folder = Path(workdir) / f"train-{digest.hexdigest()[:16]}"
        self.database = self.folder / "train.db"
        self.threads = threads
        if not self.folder.is_dir():
            self._build(training)

    def _build(self, training: Sequence[str]) -> None:
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.building-", dir=self.folder.parent))
        try:
            _write_fasta(_by_index(training), building / "train.fasta")
            run(["mmseqs", "createdb", str(building / "train.fasta"), str(building / "train.db"), "-v", "1"])
            building.rename(self.folder)  # whole or not at all
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def relatives(self, queries: Sequence[str], identity: float, coverage: float) -> set[int]:
        """Indices of the queries with a training relative at ``identity`` over ``coverage`` of both."""
        return {int(query) for (query,) in self._search(queries, "query", options(identity, coverage, self.threads))}

    def hits(self, queries: Sequence[str]) -> list[Hit]:
        """Every alignment MMseqs2 reports for the queries at any E-value (``-e inf``). MMseqs2 masks
        low-complexity regions, so a repeat such as LLLL... finds nothing."""
        found = []
        fields = "query,target,qaln,taln,qlen,tlen,evalue"
        for query, target, qaln, taln, qlen, tlen, evalue in self._search(
            queries, fields, ["-e", "inf", "--threads", str(self.threads), "-v", "1"]
        ):
            # counted from the aligned strings, as properties.novelty does: mmseqs 14's `nident` reads 0
            same = sum(a == b != "-" for a, b in zip(qaln, taln)) / min(int(qlen), int(tlen))
            found.append(Hit(int(query), int(target), same, float(evalue)))
        return found

    def novelty(self, queries: Sequence[str]) -> list[tuple[float, bool]]:
        """Per query: its highest identity to a training sequence over every hit (0.0 where none), and whether
        any hit has an E-value below ``NOVELTY_EVALUE``. Read novelty beside diversity (see ``hits``)."""
        best = [(0.0, False)] * len(queries)
        for hit in self.hits(queries):
            identity, found = best[hit.query]
            best[hit.query] = (max(identity, hit.identity), found or hit.evalue < NOVELTY_EVALUE)
        return best

    def _search(self, queries: Sequence[str], fields: str, flags: list[str]) -> list[list[str]]:
        if not queries:
            return []
        with tempfile.TemporaryDirectory(prefix="search-", dir=self.folder) as tmp:
            return search(_by_index(queries), self.database, fields, flags, Path(tmp))


def _by_index(sequences: Sequence[str]) -> dict[str, str]:
    return {str(index): sequence for index, sequence in enumerate(sequences)}


def _write_fasta(sequences: Mapping[str, str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for name, sequence in sequences.items():
            out.write(f">{name}\n{sequence}\n")
    return path

"""An offline antibody evaluation set: the complete antibody variable domains of Swiss-Prot (January 2014, the
Debian package metastudent-data that the protein corpus reads), numbered (IMGT) and split into ``reference`` and
``test`` so that no test domain is near a reference one.

The rule, one record at a time (a distinct sequence, smallest accession kept):
  - only the 20 standard residues, length 70-260 (cheap filters before numbering);
  - anarcism numbers exactly one variable domain (IMGT), of an antibody chain type (H, K or L);
  - the domain is complete: its first numbered residue is at IMGT position <= 5, its last at >= 120 (so all of
    CDR3 and FR4 up to 120), and every residue between them is numbered;
  - the entry is that span of residues, with its IMGT labels and regions.
Identity between two domains of one chain (H or L) is counted by IMGT label, so no alignment is needed:
identical residues at the same label over the shorter domain's length. Domains at >= 90% identity are linked, and
a cluster is a connected group (single linkage), so no two domains in different clusters are that close; whole
clusters go to ``test`` (about 20%) or ``reference`` by a hash of the cluster's smallest accession.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import anarcism
import numpy as np

from apps.protein.antibody.numbering import CHAIN_OF, Numbered
from apps.protein.corpus import DEFAULT_SOURCE, ONTOLOGIES, deduplicate, merge_ontologies, only_standard_residues
from apps.protein.tools import TOOLS
from shared_dlm import check_output

MIN_LENGTH, MAX_LENGTH = 70, 260  # a V domain is ~105-130 residues; a light chain with its constant region ~215
FIRST_POSITION, LAST_POSITION = 5, 120  # a complete domain is numbered from IMGT <= 5 through >= 120
IDENTITY = 0.9  # domains this close are in one cluster
TEST_FRACTION = 0.2  # of clusters
SPLITS = ("reference", "test")
RULE = (
    "distinct Swiss-Prot sequences of 70-260 standard residues that anarcism numbers (IMGT) as exactly one antibody"
    " variable domain (chain type H, K or L) with numbered residues from IMGT position <= 5 through >= 120 and every"
    " residue between them numbered; the entry is that span. Clusters: single linkage of domains of one chain at"
    " >= 90% identity (identical residues at the same IMGT label over the shorter domain); whole clusters go to test"
    " when sha256 of the cluster's smallest accession, as a fraction of 2**64 over its first 8 bytes, is below 0.2."
)
LICENCE = (
    "Swiss-Prot data by the UniProt Consortium (CC BY 4.0 since 2018; the 2014 release was issued under CC BY-ND 3.0,"
    " and the Debian package labels its files GPL-2+). Built on the machine from the installed package; not committed."
)


class EvalSetError(Exception):
    """A problem the person building or loading the evaluation set can fix; the message says how."""


@dataclass(frozen=True)
class Entry:
    """One complete variable domain. ``positions[i]`` is the IMGT label of ``sequence[i]`` ("111A"), ``regions[i]``
    its region ("CDR3"); ``cluster`` the smallest accession of its identity cluster."""

    accession: str
    sequence: str
    chain: str  # "H" or "L"
    chain_type: str  # anarcism's: "H", "K" or "L"
    species: str  # of anarcism's best-fitting profile
    positions: tuple[str, ...]
    regions: tuple[str, ...]
    cluster: str

    def numbered(self) -> Numbered:
        """The domain as the numbering module gives chains (for region indices and the baselines)."""
        return Numbered(self.sequence, self.chain, self.chain_type, self.species, self.positions, self.regions)


@dataclass(frozen=True)
class EvalSet:
    reference: list[Entry]
    test: list[Entry]
    origin: dict


def complete_domain(accession: str, sequence: str, result: anarcism.SequenceResult) -> Entry | str:
    """The entry of one numbered sequence, or why it is not one ("no domain", "2 domains", "chain type A",
    "incomplete", "gap"). Its cluster is itself until ``clusters`` says otherwise."""
    if not result.domains:
        return "no domain"
    if len(result.domains) > 1:
        return f"{len(result.domains)} domains"
    domain = result.domains[0]
    if domain.chain_type not in CHAIN_OF:
        return f"chain type {domain.chain_type}"
    numbering = sorted(domain.numbering, key=lambda r: r.sequence_index)
    first, last = numbering[0], numbering[-1]
    if first.position > FIRST_POSITION or last.position < LAST_POSITION:
        return "incomplete"
    if last.sequence_index - first.sequence_index + 1 != len(numbering):
        return "gap"
    return Entry(
        accession=accession,
        sequence=sequence[first.sequence_index : last.sequence_index + 1],
        chain=CHAIN_OF[domain.chain_type],
        chain_type=domain.chain_type,
        species=domain.species,
        positions=tuple(f"{r.position}{r.insertion_code}" for r in numbering),
        regions=tuple(r.region for r in numbering),
        cluster=accession,
    )


def identities(domains: Sequence[Entry]) -> np.ndarray:
    """(N, N) identity of domains of one chain: identical residues at the same IMGT label over the shorter domain."""
    column = {label: i for i, label in enumerate(sorted({p for d in domains for p in d.positions}))}
    codes = np.zeros((len(domains), len(column)), dtype=np.uint8)  # (N, labels); 0 where a domain has no residue
    for row, d in enumerate(domains):
        codes[row, [column[p] for p in d.positions]] = np.frombuffer(d.sequence.encode(), dtype=np.uint8)
    lengths = (codes > 0).sum(axis=1)
    same = np.stack([((codes == codes[row]) & (codes > 0)).sum(axis=1) for row in range(len(domains))])
    return same / np.minimum(lengths[:, None], lengths[None, :])


def clusters(entries: Sequence[Entry], identity: float = IDENTITY) -> dict[str, str]:
    """Accession -> the smallest accession of its cluster: connected groups of one chain at >= ``identity``."""
    parent = {e.accession: e.accession for e in entries}

    def root(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for chain in sorted({e.chain for e in entries}):
        domains = [e for e in entries if e.chain == chain]
        for i, j in zip(*np.nonzero(np.triu(identities(domains) >= identity, k=1))):
            a, b = root(domains[i].accession), root(domains[j].accession)
            parent[max(a, b)] = min(a, b)  # the root stays the smallest accession
    return {a: root(a) for a in parent}


def split_of(representative: str) -> str:
    """A whole cluster's split, from a hash of its representative: deterministic and independent of the others."""
    u = int.from_bytes(hashlib.sha256(representative.encode()).digest()[:8], "big") / 2**64
    return "test" if u < TEST_FRACTION else "reference"


def build_evalset(source: Path, out: Path, workers: int | None = None, overwrite: bool = False) -> dict:
    """Build the set into the folder ``out`` (atomically: built beside it, then renamed) and return the summary
    also written to ``out/origin.json``. ``workers`` numbering processes (default: every CPU)."""
    source, out = Path(source), check_output(out, "folder").resolve()
    if out.exists() and not overwrite:
        raise EvalSetError(f"{out} already exists: remove it, choose another --out, or pass --overwrite")
    TOOLS["blastdbcmd"].require()
    started, counts, seconds = time.monotonic(), {}, {}
    proteins = deduplicate(merge_ontologies(source, counts).values())
    counts["distinct_sequences"] = len(proteins)
    candidates = [p for p in proteins if MIN_LENGTH <= len(p.sequence) <= MAX_LENGTH and only_standard_residues(p.sequence)]
    counts["standard_and_70_to_260"] = len(candidates)
    seconds["read"] = time.monotonic() - started

    results = anarcism.number_sequences([(p.accession, p.sequence) for p in candidates], workers=workers or os.cpu_count())
    found = [complete_domain(p.accession, p.sequence, r) for p, r in zip(candidates, results, strict=True)]
    counts["rejected"] = dict(sorted(Counter(f for f in found if isinstance(f, str)).items()))
    entries = [f for f in found if isinstance(f, Entry)]
    seconds["number"] = time.monotonic() - started - seconds["read"]
    if not entries:
        raise EvalSetError(f"no complete antibody variable domain in {source} ({counts})")

    representative = clusters(entries)
    entries = sorted((_with_cluster(e, representative[e.accession]) for e in entries), key=lambda e: e.accession)
    seconds["cluster"] = time.monotonic() - started - seconds["read"] - seconds["number"]
    split = {e.accession: split_of(e.cluster) for e in entries}
    summary = _summary(source, counts, entries, split, seconds)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        folder = work / "evalset"
        folder.mkdir()
        with (folder / "entries.jsonl").open("w") as handle:
            handle.writelines(json.dumps({"split": split[e.accession], **asdict(e)}) + "\n" for e in entries)
        (folder / "origin.json").write_text(json.dumps(summary, indent=2) + "\n")
        if out.exists():
            out.rename(work / "previous")  # deleted with the rest of work
        folder.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def load_evalset(folder: Path) -> EvalSet:
    """The set ``build_evalset`` wrote into ``folder``."""
    folder = Path(folder)
    if not (folder / "entries.jsonl").is_file() or not (folder / "origin.json").is_file():
        raise EvalSetError(f"{folder} is not an antibody evaluation set (expected entries.jsonl and origin.json):"
                           " build one with `dlm-protein antibody evalset`")  # fmt: skip
    splits: dict[str, list[Entry]] = {name: [] for name in SPLITS}
    with (folder / "entries.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            split = row.pop("split")
            splits[split].append(Entry(**{**row, "positions": tuple(row["positions"]), "regions": tuple(row["regions"])}))
    return EvalSet(splits["reference"], splits["test"], json.loads((folder / "origin.json").read_text()))


def _with_cluster(entry: Entry, cluster: str) -> Entry:
    return Entry(**{**asdict(entry), "cluster": cluster})


def _tally(entries: Iterable[Entry]) -> dict:
    entries = list(entries)
    return {
        "entries": len(entries),
        "clusters": len({e.cluster for e in entries}),
        "by_chain_type": dict(sorted(Counter(e.chain_type for e in entries).items())),
        "by_species": dict(Counter(e.species for e in entries).most_common()),
    }


def _summary(source: Path, counts: dict, entries: list[Entry], split: dict[str, str], seconds: dict) -> dict:
    installed = source.resolve().is_relative_to(DEFAULT_SOURCE.parent)
    return {
        "source": {
            "description": "UniProtKB/Swiss-Prot of January 2014 with GO annotations (union of the three databases)",
            "package": f"metastudent-data {_package_version('metastudent-data')}" if installed else None,
            "files": [str(source / ontology / "goasp.fasta") for ontology in ONTOLOGIES],
        },
        "licence": LICENCE,
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "rule": RULE,
        "tools": {"anarcism": anarcism.__version__, "blastdbcmd": TOOLS["blastdbcmd"].version()},
        "counts": counts,
        "all": _tally(entries),
        **{name: _tally(e for e in entries if split[e.accession] == name) for name in SPLITS},
        "seconds": {step: round(s, 1) for step, s in seconds.items()},
    }


def _package_version(package: str) -> str:
    if shutil.which("dpkg-query") is None:
        return "unknown"
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"

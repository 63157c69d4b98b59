"""The protein training corpus: Swiss-Prot (January 2014, as shipped in Debian
``metastudent-data``) with GO terms, filtered, deduplicated and split by
sequence-identity cluster, so that no validation or test sequence has a relative
(>= ``identity`` over ``coverage`` of both, as MMseqs2 finds them) in training.

``build_corpus`` writes a ``datasets.DatasetDict`` (train / validation / test) with
``SOURCE.json`` and ``README.md`` beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, List, Value

from apps.protein import homology
from apps.protein.alphabet import STANDARD_RESIDUES
from apps.protein.tools import TOOLS, stream

DEFAULT_SOURCE = Path("/usr/share/metastudent-data/dataset_201401")
ONTOLOGIES = ("BPO", "MFO", "CCO")  # biological process, molecular function, cellular component
SPLITS = ("train", "validation", "test")

FEATURES = Features(
    {
        "accession": Value("string"),
        "sequence": Value("string"),
        "go": List(Value("string")),
        "length": Value("int32"),
        "cluster": Value("string"),
    }
)


class CorpusError(Exception):
    """A problem the person building the corpus can fix; the message says how."""


@dataclass
class CorpusConfig:
    """How the corpus is filtered, clustered and split. The defaults build the real one."""

    source: Path = DEFAULT_SOURCE
    min_len: int = 30
    max_len: int = 1022  # ESM-2 reads 1024 tokens: <cls>, 1022 residues, <eos>
    identity: float = 0.3  # mmseqs --min-seq-id
    coverage: float = 0.8  # mmseqs -c, of both sequences (--cov-mode 0)
    validation_fraction: float = 0.01  # of clusters
    test_fraction: float = 0.01  # of clusters
    seed: int = 0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)

    def __post_init__(self) -> None:
        self.source = Path(self.source)
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len} and {self.max_len}")
        for name in ("identity", "coverage"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        held_out = self.validation_fraction + self.test_fraction
        if min(self.validation_fraction, self.test_fraction) < 0 or held_out >= 1:
            raise ValueError(
                f"validation_fraction and test_fraction must be >= 0 and sum below 1,"
                f" got {self.validation_fraction} and {self.test_fraction}"
            )
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


@dataclass
class Protein:
    accession: str
    sequence: str
    go: set[str]


def read_blast_db(db: Path) -> Iterator[Protein]:
    """Every record of one metastudent BLAST database; titles read ``ACCESSION|GO:1,GO:2``."""
    for line in stream(["blastdbcmd", "-db", str(db), "-entry", "all", "-outfmt", "%t %s"]):
        title, _, sequence = line.rstrip("\n").rpartition(" ")
        accession, _, terms = title.partition("|")
        if not accession or not sequence or (terms and not terms.startswith("GO:")):
            raise CorpusError(f"{db}: expected 'ACCESSION|GO:...,GO:... SEQUENCE', got {line[:120]!r}")
        yield Protein(accession, sequence, set(terms.split(",")) if terms else set())


def merge_ontologies(source: Path, counts: dict[str, int]) -> dict[str, Protein]:
    """One Protein per accession over the three databases, with the union of their GO terms."""
    merged: dict[str, Protein] = {}
    for ontology in ONTOLOGIES:
        db = source / ontology / "goasp.fasta"
        if not Path(f"{db}.pin").is_file():
            raise CorpusError(
                f"no BLAST database at {db} (looked for {db}.pin): install the Debian package"
                " metastudent-data, or pass --source with the folder holding BPO/, MFO/ and CCO/"
            )
        records = 0
        for protein in read_blast_db(db):
            records += 1
            seen = merged.setdefault(protein.accession, protein)
            if seen is protein:
                continue
            if seen.sequence != protein.sequence:
                raise CorpusError(f"{protein.accession} has different sequences in {ontology} and an earlier database")
            seen.go |= protein.go
        counts[f"records_{ontology}"] = records
    counts["accessions"] = len(merged)
    return merged


def deduplicate(proteins: Iterable[Protein]) -> list[Protein]:
    """One Protein per distinct sequence: the smallest accession, with the GO terms of all."""
    by_sequence: dict[str, Protein] = {}
    for protein in sorted(proteins, key=lambda p: p.accession):
        kept = by_sequence.setdefault(protein.sequence, protein)
        if kept is not protein:
            kept.go |= protein.go
    return list(by_sequence.values())


_STANDARD = frozenset(STANDARD_RESIDUES)


def only_standard_residues(sequence: str) -> bool:
    """Whether every letter is one of the 20 standard residues. Sequences with X, B, Z, U or O
    (about 0.5% of Swiss-Prot) are dropped whole: a generator should never learn to write them,
    and cutting them out would join residues that are not neighbours."""
    return set(sequence) <= _STANDARD


def split_of(representative: str, config: CorpusConfig) -> str:
    """The split of a whole cluster, from a seeded hash of its representative: deterministic,
    and independent of every other cluster."""
    digest = hashlib.sha256(f"{config.seed}:{representative}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < config.test_fraction:
        return "test"
    if u < config.test_fraction + config.validation_fraction:
        return "validation"
    return "train"


def split_by_cluster(
    proteins: list[Protein], config: CorpusConfig, counts: dict[str, int], workdir: Path
) -> tuple[dict[str, list[Protein]], dict[str, str]]:
    """Proteins per split, and each accession's cluster representative. Whole clusters go to
    one split; then held-out sequences with a relative in train are dropped, since greedy
    clusters are not closed under similarity (a member may be related to another cluster's)."""
    representative = homology.cluster(
        {p.accession: p.sequence for p in proteins}, config.identity, config.coverage, config.threads, workdir / "cluster"
    )
    counts["clusters"] = len(set(representative.values()))
    rows: dict[str, list[Protein]] = {split: [] for split in SPLITS}
    for protein in proteins:
        rows[split_of(representative[protein.accession], config)].append(protein)
    _require_all_splits(rows, f"{counts['clusters']} clusters are too few for", config)
    related = homology.relatives(
        {p.accession: p.sequence for split in SPLITS[1:] for p in rows[split]},
        {p.accession: p.sequence for p in rows["train"]},
        config.identity, config.coverage, config.threads, workdir / "search",
    )  # fmt: skip
    counts["held_out_with_relative_in_train"] = len(related)
    for split in SPLITS[1:]:
        rows[split] = [p for p in rows[split] if p.accession not in related]
    _require_all_splits(rows, "after dropping relatives of train, too little is left for", config)
    return rows, representative


def build_corpus(out: Path, config: CorpusConfig, command: str = "", overwrite: bool = False) -> dict:
    """Build the corpus into ``out`` (atomically: in a temporary folder beside it, then
    renamed) and return the summary also written to ``out/SOURCE.json``."""
    out = Path(out).resolve()
    if out.exists() and not overwrite:
        raise CorpusError(f"{out} already exists: remove it, choose another --out, or pass --overwrite")
    for tool in ("blastdbcmd", "mmseqs"):
        TOOLS[tool].require()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        counts: dict[str, int] = {}
        proteins = deduplicate(merge_ontologies(config.source, counts).values())
        counts["distinct_sequences"] = len(proteins)
        proteins = [p for p in proteins if only_standard_residues(p.sequence)]
        counts["standard_residues_only"] = len(proteins)
        proteins = [p for p in proteins if config.min_len <= len(p.sequence) <= config.max_len]
        counts["length_in_range"] = len(proteins)
        if not proteins:
            raise CorpusError(f"no sequence of {config.source} passed the filters ({counts})")
        rows, representative = split_by_cluster(proteins, config, counts, work)
        corpus = DatasetDict({split: _dataset(rows[split], representative) for split in SPLITS})
        summary = _summary(config, command, counts, rows, representative)
        corpus.save_to_disk(str(work / "corpus"))
        (work / "corpus" / "SOURCE.json").write_text(json.dumps(summary, indent=2) + "\n")
        (work / "corpus" / "README.md").write_text(_readme(summary))
        if out.exists():
            out.rename(work / "previous")  # deleted with the rest of work
        (work / "corpus").rename(out)
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _require_all_splits(rows: dict[str, list[Protein]], reason: str, config: CorpusConfig) -> None:
    empty = [split for split in SPLITS if not rows[split]]
    if empty:
        raise CorpusError(
            f"split {empty[0]!r} would be empty: {reason} validation_fraction={config.validation_fraction}"
            f" and test_fraction={config.test_fraction}"
        )


def _dataset(proteins: list[Protein], representative: dict[str, str]) -> Dataset:
    proteins = sorted(proteins, key=lambda p: p.accession)
    return Dataset.from_dict(
        {
            "accession": [p.accession for p in proteins],
            "sequence": [p.sequence for p in proteins],
            "go": [sorted(p.go) for p in proteins],
            "length": [len(p.sequence) for p in proteins],
            "cluster": [representative[p.accession] for p in proteins],
        },
        features=FEATURES,
    )


def _summary(
    config: CorpusConfig,
    command: str,
    counts: dict[str, int],
    rows: dict[str, list[Protein]],
    representative: dict[str, str],
) -> dict:
    mmseqs_options = homology.options(config.identity, config.coverage, config.threads)
    return {
        "source": (
            "UniProtKB/Swiss-Prot release of January 2014 with GO annotations, as shipped in the"
            " Debian package metastudent-data 2.0.1 (dataset_201401/{BPO,MFO,CCO}/goasp.fasta)"
        ),
        "licence": (
            "UniProt data, CC BY 4.0 (UniProt's licence since 2018; the 2014 release was issued under"
            " CC BY-ND 3.0, and the Debian package labels its files GPL-2+). Cite The UniProt Consortium."
        ),
        "command": command,
        "config": {**asdict(config), "source": str(config.source)},
        "mmseqs": {
            "clusters": "mmseqs easy-cluster " + " ".join(mmseqs_options),
            "held-out relatives of train, dropped": "mmseqs easy-search " + " ".join(mmseqs_options),
        },
        "tool_versions": {name: TOOLS[name].version() for name in ("blastdbcmd", "mmseqs")},
        "counts": counts,
        "splits": {
            split: {
                "sequences": len(proteins),
                "residues": sum(len(p.sequence) for p in proteins),
                "clusters": len({representative[p.accession] for p in proteins}),
            }
            for split, proteins in rows.items()
        },
    }


def _readme(summary: dict) -> str:
    splits = "\n".join(
        f"| {name} | {s['sequences']:,} | {s['residues']:,} | {s['clusters']:,} |"
        for name, s in summary["splits"].items()
    )
    return f"""# Protein corpus

{summary['source']}.

Licence: {summary['licence']}

Built with `{summary['command']}`. Clustered with `{summary['mmseqs']['clusters']}`;
clusters, not sequences, are assigned to splits by a seeded hash of their representative;
then validation and test sequences with a relative in train (found with `mmseqs easy-search`,
same options) are dropped.
Load with `datasets.load_from_disk(this_folder)`. Columns: accession, sequence, go (GO terms
as annotated, not propagated to ancestors), length, cluster (representative accession).
Only the 20 standard residues; identical sequences kept once (smallest accession, GO terms of all).

| split | sequences | residues | clusters |
|---|---|---|---|
{splits}

Counts at each step: {json.dumps(summary['counts'])}
"""

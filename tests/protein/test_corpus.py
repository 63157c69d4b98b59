"""The corpus builder end to end on three tiny BLAST databases made like metastudent-data's:
``makeblastdb -dbtype prot -blastdb_version 4`` without ``-parse_seqids``, so that
``blastdbcmd`` prints the whole FASTA header ``ACCESSION|GO:...`` as the title."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from datasets import load_from_disk

from apps.protein.cli import main
from apps.protein.corpus import CorpusConfig, CorpusError, build_corpus, split_of
from apps.protein.external import external_test_set
from apps.protein.tools import ToolError
from tests.conftest import requires_tool

needs_tools = requires_tool("makeblastdb", "blastdbcmd", "mmseqs")

STANDARD = "ACDEFGHIKLMNPQRSTVWY"


def random_protein(rng: random.Random, length: int) -> str:
    return "M" + "".join(rng.choice(STANDARD) for _ in range(length - 1))


def mutate(sequence: str, positions: list[int]) -> str:
    letters = list(sequence)
    for i in positions:
        letters[i] = "W" if letters[i] != "W" else "C"
    return "".join(letters)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Three ontology databases; returns their folder and the sequence of each accession."""
    rng = random.Random(0)
    seq = {f"R{i:05d}": random_protein(rng, rng.randint(120, 200)) for i in range(12)}
    seq["SHARED"] = random_protein(rng, 150)  # in BPO and MFO with different GO terms
    seq["NEAR1"] = random_protein(rng, 180)
    seq["NEAR2"] = mutate(seq["NEAR1"], [40, 90])  # 99% identical to NEAR1
    seq["TWIN1"] = random_protein(rng, 140)
    seq["TWIN2"] = seq["TWIN1"]  # same sequence, another accession
    seq["WITHX"] = random_protein(rng, 100)[:50] + "X" + random_protein(rng, 60)
    seq["SHORT"] = random_protein(rng, 20)
    entries = {
        "BPO": [("SHARED", "GO:0000001,GO:0000001"), ("NEAR1", "GO:0000003"), ("TWIN1", "GO:0000004"),
                ("WITHX", "GO:0000005"), *[(f"R{i:05d}", "GO:0000009") for i in range(6)]],
        "MFO": [("SHARED", "GO:0000002"), ("NEAR2", "GO:0000003"), ("TWIN2", "GO:0000006"),
                *[(f"R{i:05d}", "GO:0000010") for i in range(6, 12)]],
        "CCO": [("SHORT", "GO:0000007"), ("R00000", "GO:0000011")],
    }  # fmt: skip
    root = tmp_path_factory.mktemp("metastudent")
    for ontology, records in entries.items():
        (root / ontology).mkdir()
        fasta = root / ontology / "goasp.fasta.in"
        fasta.write_text("".join(f">{acc}|{go}\n{seq[acc]}\n" for acc, go in records))
        subprocess.run(
            ["makeblastdb", "-in", str(fasta), "-dbtype", "prot", "-blastdb_version", "4",
             "-out", str(root / ontology / "goasp.fasta")],
            check=True, capture_output=True,
        )  # fmt: skip
    return root, seq


@pytest.fixture(scope="module")
def built(source, tmp_path_factory):
    """One build through the CLI, shared by the tests below (mmseqs easy-cluster takes seconds)."""
    out = tmp_path_factory.mktemp("build") / "protein"
    argv = ["corpus", "--out", str(out), "--source", str(source[0]),
            "--validation-fraction", "0.3", "--test-fraction", "0.3", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    return out, argv


@needs_tools
def test_corpus_has_the_expected_rows_and_columns(built, source):
    out, _ = built
    _, seq = source
    corpus = load_from_disk(str(out))
    assert set(corpus) == {"train", "validation", "test"}
    rows = {row["accession"]: row for split in corpus.values() for row in split}
    # WITHX (bad letter) and SHORT (20 residues) filtered; TWIN2 is TWIN1's sequence again.
    expected = {f"R{i:05d}" for i in range(12)} | {"SHARED", "NEAR1", "NEAR2", "TWIN1"}
    assert set(rows) == expected
    for accession, row in rows.items():
        assert row["sequence"] == seq[accession]
        assert row["length"] == len(seq[accession])
    assert rows["SHARED"]["go"] == ["GO:0000001", "GO:0000002"]  # merged over BPO and MFO, no repeats
    assert rows["TWIN1"]["go"] == ["GO:0000004", "GO:0000006"]  # GO terms of both accessions
    assert rows["R00000"]["go"] == ["GO:0000009", "GO:0000011"]  # merged over BPO and CCO


@needs_tools
def test_clusters_never_straddle_splits(built):
    out, _ = built
    corpus = load_from_disk(str(out))
    split_of_row = {row["accession"]: (name, row["cluster"]) for name, split in corpus.items() for row in split}
    assert split_of_row["NEAR1"] == split_of_row["NEAR2"]  # one cluster, so one split
    split_of_cluster: dict[str, set[str]] = {}
    for name, cluster in split_of_row.values():
        split_of_cluster.setdefault(cluster, set()).add(name)
    assert all(len(names) == 1 for names in split_of_cluster.values())
    assert len(split_of_cluster) == len(split_of_row) - 1  # only the near-identical pair merged


@needs_tools
def test_summary_records_origin_command_and_counts(built):
    out, argv = built
    written = json.loads((out / "SOURCE.json").read_text())
    assert written["command"] == "dlm-protein " + " ".join(argv)
    assert written["config"]["validation_fraction"] == 0.3
    assert "Swiss-Prot" in written["source"] and "metastudent-data" in written["source"]
    assert "CC BY 4.0" in written["licence"]
    assert all("--min-seq-id 0.3 -c 0.8" in command for command in written["mmseqs"].values())
    counts = written["counts"]
    assert (counts["records_BPO"], counts["records_MFO"], counts["records_CCO"]) == (10, 9, 2)
    assert counts["accessions"] == 19
    assert counts["distinct_sequences"] == 18
    assert counts["standard_residues_only"] == 17
    assert counts["length_in_range"] == 16
    assert counts["clusters"] == 15
    assert counts["held_out_with_relative_in_train"] == 0  # only the near-identical pair is related
    assert sum(s["sequences"] for s in written["splits"].values()) == 16
    assert (out / "README.md").is_file()
    assert not list(out.parent.glob(".protein.building-*"))  # temporary folder removed


@needs_tools
def test_existing_output_is_kept_unless_overwrite(built, source):
    out, _ = built
    with pytest.raises(CorpusError, match="already exists"):
        build_corpus(out, CorpusConfig(source=source[0]))


@needs_tools
@pytest.mark.slow
def test_too_few_clusters_for_the_held_out_splits(source, tmp_path, capsys):
    assert main(["corpus", "--out", str(tmp_path / "corpus"), "--source", str(source[0]), "--threads", "1"]) == 1
    assert "would be empty" in capsys.readouterr().err
    assert not (tmp_path / "corpus").exists() and not list(tmp_path.iterdir())


def test_split_is_a_deterministic_function_of_the_cluster():
    config = CorpusConfig(validation_fraction=0.1, test_fraction=0.1, seed=3)
    splits = [split_of(f"P{i:05d}", config) for i in range(2000)]
    assert splits == [split_of(f"P{i:05d}", config) for i in range(2000)]
    assert 150 < splits.count("test") < 250 and 150 < splits.count("validation") < 250
    assert splits != [split_of(f"P{i:05d}", CorpusConfig(validation_fraction=0.1, test_fraction=0.1, seed=4)) for i in range(2000)]


def test_missing_database_folder_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")  # tools present or not: same message
    status = main(["corpus", "--out", str(tmp_path / "out"), "--source", str(tmp_path / "nowhere")])
    assert status == 1
    error = capsys.readouterr().err
    assert "nowhere" in error and "metastudent-data" in error
    assert not (tmp_path / "out").exists()


def test_missing_tool_names_its_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="blastdbcmd.*apt-get install ncbi-blast\\+"):
        build_corpus(tmp_path / "out", CorpusConfig(source=tmp_path))


def test_bad_lengths_are_reported(tmp_path, capsys):
    assert main(["corpus", "--out", str(tmp_path / "out"), "--min-len", "50", "--max-len", "10"]) == 1
    assert "min_len <= max_len" in capsys.readouterr().err


def test_external_test_set_applies_the_same_filters(tmp_path):
    rng = random.Random(1)
    kept, other = random_protein(rng, 80), random_protein(rng, 90)
    fasta = tmp_path / "DB.fasta.gz"
    with gzip.open(fasta, "wt") as out:
        out.write(f">tr|A0A001|A0A001_HUMAN Some protein OS=Homo sapiens\n{kept[:40]}\n{kept[40:]}\n")
        out.write(f">sp|P12345|NAME_YEAST Other protein\n{other}\n")
        out.write(f">tr|A0A002|A0A002_HUMAN Same as the first\n{kept}\n")
        out.write(f">tr|A0A003|A0A003_HUMAN Has an X\n{kept[:30]}X{kept[30:]}\n")
        out.write(f">tr|A0A004|A0A004_HUMAN Too short\n{kept[:20]}\n")
    dataset = external_test_set(fasta)
    assert dataset["accession"] == ["A0A001", "P12345"]
    assert dataset["sequence"] == [kept, other]
    assert dataset["length"] == [80, 90]
    assert dataset["reviewed"] == [False, True]
    assert external_test_set(fasta, exclude={other})["accession"] == ["A0A001"]


def test_external_test_set_missing_file_names_the_package(tmp_path):
    with pytest.raises(CorpusError, match="mmseqs2-examples"):
        external_test_set(tmp_path / "DB.fasta.gz")

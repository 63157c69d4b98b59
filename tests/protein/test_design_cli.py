from __future__ import annotations

import importlib
import json
import os

import pytest

from apps.protein.cli import main
from apps.protein.fasta import read_fasta
from tests.protein.conftest import MAX_RESIDUES

pytestmark = pytest.mark.usefixtures("one_thread")

REFERENCE = ">ref1\nMKTAYIAKQRQISFVKSHFSRQ\n>ref2\nGSHMLEDPVAGHEFGHALGLSH\n"


@pytest.fixture
def models(generator_dir, scorer_dir) -> list[str]:
    return ["--model", str(generator_dir), "--scorer", str(scorer_dir)]


def test_design_writes_ranked_fasta_with_scores_in_the_headers(tmp_path, models):
    out = tmp_path / "designs.fasta"
    reference = tmp_path / "reference.fasta"
    reference.write_text(REFERENCE)
    argv = ["design", "--length", "30", "--motif", "5:HEXXH", "--motif", "12-30:GGSGGS", "--num", "4", "--out", str(out)]
    assert main([*argv, *models, "--reference", str(reference), "--forbid", "C", "--seed", "3"]) == 0
    records = read_fasta(out)
    assert [r.id for r in records] == ["design_1", "design_2", "design_3", "design_4"]
    for rank, record in enumerate(records, start=1):
        fields = dict(f.split("=", 1) for f in record.description.split()[1:])
        assert fields["rank"] == str(rank) and fields["seed"] == "3"
        assert {"pseudo_perplexity", "mean_log_prob", "embedding_similarity", "motif_recovery", "motifs"} <= set(fields)
        floating_start = int(fields["motifs"].split(",")[1].split("@")[1])
        assert len(record.sequence) == 30 and record.sequence[4] + record.sequence[8] == "HH"
        assert record.sequence[floating_start - 1 : floating_start + 5] == "GGSGGS"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["designs.fasta", "reference.fasta"]


def test_design_json_lists_every_design(capsys, models):
    assert main(["design", "--length", "20", "--motif", "3:WXW", "--num", "3", "--json", *models]) == 0
    designs = json.loads(capsys.readouterr().out)
    assert [d["rank"] for d in designs] == [1, 2, 3]
    for d in designs:
        assert set(d) == {"rank", "sample", "sequence", "motifs", "scores", "properties", "confidence", "esm_log_probs",
                          "go", "guidance"}
        assert d["motifs"] == [{"spec": "3:WXW", "residues": "WXW", "start": 3, "end": 5}]
        assert len(d["confidence"]) == len(d["esm_log_probs"]) == 20
        assert {"pseudo_perplexity", "mean_log_prob", "motif_recovery"} <= set(d["scores"])
        assert {"molecular_weight", "isoelectric_point", "gravy"} <= set(d["properties"])


def test_design_cache_flag_reaches_the_sampler(capsys, models, monkeypatch):
    import apps.protein.cli as cli

    seen = []
    real = cli.design
    monkeypatch.setattr(cli, "design", lambda *a, **k: seen.append(a[2].cache) or real(*a, **k))
    for flag in ([], ["--cache"]):
        assert main(["design", "--length", "20", "--num", "2", "--steps", "5", "--json", *models, *flag]) == 0
        assert len(json.loads(capsys.readouterr().out)) == 2
    assert seen == [False, True]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--length", "10", "--motif", "8:HEXXH"], "motif 8:HEXXH: ends at position 12, past the end"),
        (["--length", "10", "--motif", "3:HEZXH"], "residue 'Z' at motif position 3"),
        (["--length", "0"], "length must be at least 1"),
        (["--length", str(MAX_RESIDUES + 1)], f"between 1 and {MAX_RESIDUES} residues"),
        (["--length", "10", "--device", "banana"], "unknown device 'banana'"),
    ],
)
def test_design_errors_leave_no_file(tmp_path, capsys, generator_dir, argv, message):
    out = tmp_path / "designs.fasta"
    assert main(["design", *argv, "--out", str(out), "--model", str(generator_dir), "--scorer", "none"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dlm-protein design: error:") and message in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def nothing_designed(monkeypatch):
    """design() and load_generator() fail if called: an output refused must be refused before any work."""
    import apps.protein.cli as cli

    def no_work(*args, **kwargs):
        raise AssertionError("a model was loaded or a design made before the output was checked")

    monkeypatch.setattr(cli, "design", no_work)
    monkeypatch.setattr(importlib.import_module("apps.protein.design"), "load_generator", no_work)


@pytest.mark.parametrize(
    "out, message",
    [
        ("designs.txt", "--out {tmp}/designs.txt: neither a FASTA file nor a folder of shards: use a name ending in "
         ".fasta, .fa, .faa for one file, or a name without a suffix for a folder of shards"),
        ("designs.fasta.gz", "--out {tmp}/designs.fasta.gz: neither a FASTA file nor a folder of shards"),
        ("missing/designs.fasta", "{tmp}/missing/designs.fasta: the folder {tmp}/missing does not exist"),
        ("a_file/designs.fasta", "{tmp}/a_file/designs.fasta: {tmp}/a_file is a file, not a folder"),
        ("a_folder.fa", "{tmp}/a_folder.fa is a folder: expected a file to write"),
        ("a_file/run", "{tmp}/a_file/run: {tmp}/a_file is a file, not a folder"),
        ("a_file/deeper/run", "{tmp}/a_file/deeper/run: {tmp}/a_file is a file, not a folder"),
        ("run", "{tmp}/run exists and is not a folder"),
        ("/proc/designs.fasta", "/proc/designs.fasta: cannot write in /proc ("),
        ("/proc/run", "/proc/run: cannot write in /proc ("),
    ],
)
def test_design_refuses_an_output_it_cannot_write_before_any_design(tmp_path, capsys, nothing_designed, out, message):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder.fa").mkdir()
    (tmp_path / "run").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    assert main(["design", "--length", "10", "--num", "2", "--out", str(tmp_path / out), "--scorer", "none"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dlm-protein design: error: {message.format(tmp=tmp_path)}") and err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
@pytest.mark.parametrize("out", ["designs.fasta", "run"])
def test_design_refuses_a_read_only_folder_before_any_design(tmp_path, capsys, nothing_designed, out):
    tmp_path.chmod(0o500)
    try:
        assert main(["design", "--length", "10", "--out", str(tmp_path / out), "--scorer", "none"]) == 1
    finally:
        tmp_path.chmod(0o700)
    assert f"cannot write in {tmp_path} (Permission denied)" in capsys.readouterr().err


def test_design_writes_a_shard_folder_whose_parents_do_not_exist_yet(tmp_path, capsys, generator_dir):
    out = tmp_path / "new" / "run"
    argv = ["design", "--length", "10", "--num", "3", "--shard-size", "2", "--out", str(out), "--model", str(generator_dir)]
    assert main([*argv, "--scorer", "none", "--steps", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["run.json", *(f"shard-0000{i}.{s}" for i in (0, 1) for s in ("fasta", "jsonl"))]


def test_design_without_a_shipped_model_says_what_to_pass(capsys, monkeypatch):
    monkeypatch.setattr(importlib.import_module("apps.protein.design"), "registered_names", lambda: [])  # a checkout without the shipped models
    assert main(["design", "--length", "10"]) == 1
    assert "no default protein model ('protein-default') is shipped yet" in capsys.readouterr().err


def test_score_json_has_scores_and_properties(tmp_path, capsys, scorer_dir):
    sequences, reference = tmp_path / "seqs.fasta", tmp_path / "reference.fasta"
    sequences.write_text(">a first\nMKTAYIAKQR\n>b\nGSHMLEDPVAGHEF\n")
    reference.write_text(REFERENCE)
    argv = ["score", str(sequences), "--scorer", str(scorer_dir), "--reference", str(reference), "--json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["a", "b"]
    for row in rows:
        assert {"pseudo_perplexity", "mean_log_prob", "embedding_similarity", "length", "molecular_weight", "gravy"} <= set(row)
        assert row["pseudo_perplexity"] > 1.0 and row["mean_log_prob"] < 0.0
    assert main(argv[:-1]) == 0  # the table
    assert capsys.readouterr().out.splitlines()[0].split("\t") == [
        "id", "length", "pseudo_perplexity", "mean_log_prob", "embedding_similarity"
    ]  # fmt: skip
    # windows (their arithmetic: tests/protein/test_scoring.py): 0 is the whole sequence
    whole = ["score", str(sequences), "--scorer", str(scorer_dir), "--json"]
    for window in ("0", "12"):
        assert main([*whole, "--window", window]) == 0
        assert len(json.loads(capsys.readouterr().out)) == 2
    assert main([*whole, "--window", "2"]) == 1
    assert "window must be" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no FASTA records (the file is empty)"),
        ("this is not fasta\n", "not FASTA: expected a '>' header line"),
        (">good\nMKT\n>bad_one\nMKTAYJAK\n", "sequence 'bad_one': residue 'J' at position 6"),
    ],
)
def test_score_bad_input(tmp_path, capsys, scorer_dir, text, message):
    path = tmp_path / "x.fasta"
    path.write_text(text)
    assert main(["score", str(path), "--scorer", str(scorer_dir), "--json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dlm-protein score: error:") and message in err


def test_demo_needs_a_model_where_none_is_shipped(capsys, monkeypatch):
    monkeypatch.setattr(importlib.import_module("apps.protein.design"), "registered_names", lambda: [])
    assert main(["demo"]) == 1
    assert "no default protein model" in capsys.readouterr().err


def test_demo_prints_a_table_of_the_bundled_example(capsys, models):
    assert main(["demo", *models, "--num", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["rank", "ppl", "sim"] and len(lines) == 3
    sequence = lines[1].split()[-1]
    assert len(sequence) == 120 and "".join(sequence[i] for i in (49, 50, 53, 56, 59)) == "hehgh"  # 50:HEXXHXXGXXH
    assert "ggsggs" in sequence  # the floating linker, in lower case like every motif residue


@pytest.mark.parametrize(
    "argv",
    [
        ["corpus", "--out", "{blocked}/corpus"],
        ["train-scorer", "--data", "{tmp}", "--out", "{blocked}/run"],
        ["train-go", "--data", "{tmp}", "--out", "{blocked}/run"],
        ["eval", "go", "--save-probes", "{blocked}/probes.json"],
    ],
)
def test_every_output_is_checked_before_any_work(tmp_path, capsys, argv):
    """A file where a folder must be: refused in one line before any corpus, training or evaluation starts."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder\n")
    args = [a.format(blocked=blocked, tmp=tmp_path) for a in argv]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{blocked} is a file, not a folder" in err

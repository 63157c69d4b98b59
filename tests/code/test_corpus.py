import hashlib
import json
from pathlib import Path

import pytest

from apps.code.corpus import STEPS, CorpusConfig, build_corpus, is_held_out, load_corpus


def _build(tmp_path, sources, humaneval_file, out="corpus"):
    config = CorpusConfig(out=tmp_path / out, jobs=1, humaneval_path=humaneval_file)
    return build_corpus(config, sources, command="test"), tmp_path / out


def _reasons(out: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]
    return {row["path"]: row["reason"] for row in rows}


def test_keeps_only_clean_unique_permissive_code(tmp_path, sources, humaneval_file):
    report, out = _build(tmp_path, sources, humaneval_file)

    kept = sorted(load_corpus(out)["path"])
    assert kept == ["alpha.py", "beta.py", "good_pkg/core.py"]
    assert _reasons(out) == {
        "alpha_copy.py": "exact_duplicate",
        "pkg/beta_fork.py": "near_duplicate",
        "generated_pb2.py": "generated",
        "minified.py": "long_lines",
        "broken.py": "syntax_error",
        "latin1.py": "not_utf8",
        "empty.py": "empty",
        "leaky.py": "humaneval_held_out",
        "good_pkg/__init__.py": "empty",
        "gpl_pkg/mod.py": "excluded_licence",
    }
    counts = report.counts
    assert list(counts) == list(STEPS)
    assert counts["files_seen"] == 13 and counts["kept"] == 3
    assert counts["files_seen"] == sum(n for step, n in counts.items() if step != "files_seen")


def test_records_provenance_of_every_kept_file(tmp_path, sources, humaneval_file):
    _, out = _build(tmp_path, sources, humaneval_file)
    row = next(r for r in load_corpus(out) if r["path"] == "good_pkg/core.py")
    data = (tmp_path / "site" / "good_pkg" / "core.py").read_bytes()
    assert row["text"] == data.decode()
    assert (row["language"], row["distribution"], row["version"], row["licence"]) == (
        "python",
        "good-pkg",
        "1.0",
        "MIT",
    )
    assert row["sha256"] == hashlib.sha256(data).hexdigest()


def test_humaneval_copy_is_held_out_and_named(tmp_path, sources, humaneval_file):
    report, out = _build(tmp_path, sources, humaneval_file)
    (entry,) = report.humaneval_held_out
    assert (entry["path"], entry["task_id"]) == ("leaky.py", "HumanEval/0")
    source = json.loads((out / "SOURCE.json").read_text())
    assert source["humaneval_held_out"][0]["task_id"] == "HumanEval/0"
    assert source["command"] == "test"
    gpl = next(s for s in source["sources"] if s["name"] == "gpl-pkg")
    assert gpl["permissive"] is False and gpl["kept"] == 0


def test_rebuild_replaces_output_atomically(tmp_path, sources, humaneval_file):
    _build(tmp_path, sources, humaneval_file, out="data/code")
    (tmp_path / "data" / "code" / "stale.txt").write_text("from the last build")
    _build(tmp_path, sources, humaneval_file, out="data/code")
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["code"]  # no staging or old folders left
    assert not (tmp_path / "data" / "code" / "stale.txt").exists()


def test_refuses_to_replace_a_folder_that_is_not_a_corpus(tmp_path, sources, humaneval_file):
    (tmp_path / "work" / "notes.txt").parent.mkdir()
    (tmp_path / "work" / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a code corpus"):
        _build(tmp_path, sources, humaneval_file, out="work")
    assert (tmp_path / "work" / "notes.txt").read_text() == "precious"


def test_parallel_build_matches_serial(tmp_path, sources, humaneval_file):
    serial, _ = _build(tmp_path, sources, humaneval_file, out="a")
    config = CorpusConfig(out=tmp_path / "b", jobs=2, humaneval_path=humaneval_file)
    parallel = build_corpus(config, sources)
    assert parallel.counts == serial.counts
    assert list(load_corpus(tmp_path / "b")["path"]) == list(load_corpus(tmp_path / "a")["path"])


def test_held_out_slice_is_fixed_by_hash():
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]
    share = sum(is_held_out(d, 0.1) for d in digests) / len(digests)
    assert 0.07 < share < 0.13
    assert [is_held_out(d, 0.1) for d in digests] == [is_held_out(d, 0.1) for d in digests]

"""docs/results.md is generated from the figure JSONs by `dlm-bench results`, and every figure says where it came from."""

import json
import shutil

import pytest

from bench.cli import main
from bench.results import FIGURES, RESULTS, render

PROVENANCE = {"command", "commit", "date", "device", "models"}


def test_results_md_is_up_to_date():
    assert RESULTS.read_text() == render(), "docs/results.md is out of date: run `dlm-bench results`"


def test_every_figure_records_command_commit_date_device_and_model_hashes():
    for path in sorted(FIGURES.glob("*.json")):
        block = json.loads(path.read_text())["provenance"]
        assert PROVENANCE <= set(block), path.name
        assert block["command"].startswith("dlm-") and len(block["commit"]) == 40 and block["device"], path.name
        assert block["models"] and all(len(m["sha256"]) == 64 for m in block["models"].values()), path.name


def test_check_fails_on_a_stale_file_and_write_makes_it_current(tmp_path, monkeypatch, capsys):
    import bench.results

    figures = tmp_path / "figures"
    shutil.copytree(FIGURES, figures)
    out = tmp_path / "results.md"
    monkeypatch.setattr(bench.results, "FIGURES", figures)
    monkeypatch.setattr(bench.results, "RESULTS", out)
    out.write_text("stale\n")
    with pytest.raises(SystemExit) as stopped:
        main(["results", "--check"])
    assert stopped.value.code == 1 and "out of date: run `dlm-bench results`" in capsys.readouterr().out
    main(["results"])
    main(["results", "--check"])
    assert out.read_text() == render(figures)


def test_a_figure_without_provenance_or_of_an_unknown_kind_is_named(tmp_path):
    (tmp_path / "bare.json").write_text(json.dumps({"gain_bits": 0.1}))
    with pytest.raises(ValueError, match="bare.json has no provenance block"):
        render(tmp_path)
    (tmp_path / "bare.json").unlink()
    (tmp_path / "odd.json").write_text(json.dumps({"provenance": {}, "what": 1}))
    with pytest.raises(ValueError, match="odd.json: not a figure kind"):
        render(tmp_path)

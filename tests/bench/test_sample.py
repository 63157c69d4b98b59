"""`dlm-bench sample` end to end on tiny random models built here: the report's shape and counts, never timings."""

import json
import math

import pytest

from apps.protein.alphabet import build_tokenizer
from apps.protein.design import ORDER_NOISE
from apps.protein.scoring import save_esm2
from bench.cli import main
from shared_dlm import weights_sha256
from tests.code.infill_helpers import tiny_model_folder, tiny_tokenizer
from tests.protein.conftest import tiny_esm2, tiny_generator

MODES = {"one_per_step", "parallel", "parallel_cache"}


def check_report(report: dict, task: str) -> None:
    assert report["task"] == task and report["device"].startswith("cpu")
    assert set(report["modes"]) == MODES
    for mode in report["modes"].values():
        assert mode["tokens_per_s"] > 0 and mode["forwards_per_token"] > 0 and mode["steps"] >= 1
    base = report["modes"]["one_per_step"]["tokens_per_s"]
    assert report["speedup"] == report["modes"]["parallel_cache"]["tokens_per_s"] / base
    assert report["modes"]["one_per_step"]["cached_steps"] == report["modes"]["parallel"]["cached_steps"] == 0
    assert report["modes"]["parallel_cache"]["cached_steps"] > 0
    block = report["provenance"]
    assert block["command"].startswith(f"dlm-bench sample --task {task} ") and block["device"] == report["device"]
    assert block["models"]["model"]["sha256"] == weights_sha256(block["models"]["model"]["path"])


def test_code_benchmark_reports_every_mode_with_parse_rate_and_remasker_share(tmp_path, capsys, one_thread):
    folder = tiny_model_folder(tmp_path / "model", tiny_tokenizer())
    main(["sample", "--task", "code", "--device", "cpu", "--model", str(folder), "--num-inputs", "2", "--num", "1",
          "--threshold", "0.2", "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    check_report(report, "code")
    settings = report["settings"]
    assert settings["num_inputs"] == 2 and settings["rows_per_input"] == 4 and settings["hole_lengths"] == [8, 16, 32, 64]
    assert settings["order_noise"] == 0.0  # code ranks by confidence alone
    for mode in report["modes"].values():
        assert set(mode["quality"]) == {"parse_rate", "exact_match", "empty_rate"}
        assert 0 <= mode["quality"]["parse_rate"] <= 1 and 0 < mode["remask_share"] < 1
        assert mode["tokens"] == 2 * (8 + 16 + 32 + 64)
    assert report["modes"]["one_per_step"]["forwards_per_token"] >= 1.0  # remasked tokens cost more forwards


def test_protein_benchmark_reports_pseudo_perplexity_and_motif_recovery(tmp_path, capsys, one_thread):
    generator = tmp_path / "generator"
    tiny_generator().save_pretrained(generator)
    build_tokenizer().save_pretrained(generator)
    scorer = save_esm2(tiny_esm2(), tmp_path / "scorer")
    main(["sample", "--task", "protein", "--device", "cpu", "--model", str(generator), "--scorer", str(scorer),
          "--num-inputs", "2", "--num", "2", "--threshold", "0.1", "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    check_report(report, "protein")
    assert set(report["provenance"]["models"]) == {"model", "scorer"}
    for mode in report["modes"].values():
        assert mode["quality"]["motif_recovery"] == 1.0 and mode["quality"]["pseudo_perplexity"] > 1.0
        assert 0 < mode["quality"]["most_common_residue_share"] <= 1
        assert "remask_share" not in mode
    assert report["modes"]["one_per_step"]["forwards_per_token"] == 1.0  # one token a step in every row
    assert report["modes"]["parallel"]["forwards_per_token"] <= 1.0
    assert report["settings"]["motif"] == "50:HEXXHXXGXXH" and report["settings"]["length"] == 120
    assert report["settings"]["order_noise"] == ORDER_NOISE  # the protein app's own, unless told otherwise


def test_protein_benchmark_with_k_tokens_a_step_commits_k_in_every_row(tmp_path, capsys, one_thread):
    generator = tmp_path / "generator"
    tiny_generator().save_pretrained(generator)
    build_tokenizer().save_pretrained(generator)
    main(["sample", "--task", "protein", "--device", "cpu", "--model", str(generator), "--scorer", "none",
          "--num-inputs", "1", "--num", "2", "--tokens-per-step", "4", "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    free = report["modes"]["one_per_step"]["tokens"] // 2  # positions to fill in each of the 2 rows
    assert report["modes"]["one_per_step"]["forwards_per_token"] == 1.0
    assert report["modes"]["one_per_step"]["steps"] == free  # one token a step in both rows at once
    for mode in ("parallel", "parallel_cache"):
        assert report["modes"][mode]["steps"] == math.ceil(free / 4)
        assert report["modes"][mode]["forwards_per_token"] == math.ceil(free / 4) / free  # ceil(free/4) forwards a row
        assert report["modes"][mode]["quality"]["motif_recovery"] == 1.0
    assert report["settings"]["tokens_per_step"] == 4


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(SystemExit, match="dlm-bench sample: .*nowhere"):
        main(["sample", "--task", "code", "--device", "cpu", "--model", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="--num-inputs must be at least 1, got 0"):
        main(["sample", "--task", "protein", "--device", "cpu", "--num-inputs", "0"])
    with pytest.raises(SystemExit, match="--tokens-per-step must be at least 1, got 0"):
        main(["sample", "--task", "protein", "--device", "cpu", "--tokens-per-step", "0"])
    with pytest.raises(SystemExit, match="--order-noise must be a finite number >= 0, got -1.0"):
        main(["sample", "--task", "protein", "--device", "cpu", "--order-noise", "-1"])

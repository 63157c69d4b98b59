import json

import pytest

from bench.cli import main


def test_forward_benchmark_reports_throughput_for_each_batch(capsys):
    main(["forward", "--device", "cpu", "--dtype", "fp32", "--batch", "1", "2", "--length", "16", "--hidden", "32",
          "--layers", "1", "--heads", "2", "--vocab", "64", "--seconds", "0.2", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert [r["batch"] for r in report["results"]] == [1, 2]
    assert report["provenance"]["command"].startswith("dlm-bench forward --device cpu") and report["provenance"]["models"] == {}
    for r in report["results"]:
        assert r["tokens_per_s"] > 0 and r["length"] == 16
        # 2 x (4d^2 + 3d x 4d + d x vocab) + 4 x layers x L x d = 2 x 18,432 + 2,048 flops a token, exactly
        assert r["flops_per_s"] == r["tokens_per_s"] * 38_912
        assert r["mfu"] is None  # no known bf16 peak for a CPU


def test_forward_peers_reports_each_model_and_ratios_to_the_peers(capsys):
    main(["forward", "--peers", "--masked", "4", "--threads", "1", "--device", "cpu", "--dtype", "fp32", "--batch", "2",
          "--length", "16", "--hidden", "32", "--layers", "1", "--heads", "2", "--vocab", "64", "--seconds", "0.1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["benchmark"] == "forward-peers" and report["provenance"]["command"].startswith("dlm-bench forward --peers")
    (r,) = report["results"]
    assert (r["batch"], r["length"], r["masked"], r["threads"]) == (2, 16, 4, 1)
    speeds = r["tokens_per_s"]
    assert set(speeds) == {"denoiser", "denoiser-sparse", "modernbert", "bert"} and min(speeds.values()) > 0
    assert set(r["ratios"]) == {f"{a}/{b}" for a in ("denoiser", "denoiser-sparse") for b in ("modernbert", "bert")}
    assert r["ratios"]["denoiser-sparse/bert"] == speeds["denoiser-sparse"] / speeds["bert"]


def test_forward_peers_rejects_more_masked_positions_than_the_length():
    with pytest.raises(SystemExit, match="--masked must lie in"):
        main(["forward", "--peers", "--masked", "17", "--device", "cpu", "--length", "16"])

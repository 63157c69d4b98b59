"""`dlm-protein eval antibody` on a small set of real chains written as the evaluation set's folder: every figure
beside its baselines, the CDRs kept by humanization, and a bad set refused; `dlm-bench antibody`'s rows."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from apps.protein.antibody.evalset import load_evalset
from apps.protein.antibody.evaluate import evaluate_antibodies, one_shot
from apps.protein.antibody.numbering import number
from apps.protein.cli import main
from tests.protein.test_antibody_evalset import OKT3_VH, OKT3_VL, VH, VL, entries


@pytest.fixture(scope="module")
def evalset_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("antibody")
    named = {"P1": VH, "P2": VL, "P6": OKT3_VH, "P7": OKT3_VL}
    with (folder / "entries.jsonl").open("w") as handle:
        for i, entry in enumerate(entries(named)):
            handle.write(json.dumps({"split": "test" if i % 3 == 0 else "reference", **asdict(entry)}) + "\n")
    (folder / "origin.json").write_text(json.dumps({"source": "written by the test", "all": {"entries": len(named)}}))
    return folder


def test_one_shot_changes_only_the_masked_positions():
    cdr = number(VH).indices("CDR3")
    filled = one_shot(VH, cdr)
    assert len(filled) == len(VH) and all(filled[i] == VH[i] for i in range(len(VH)) if i not in cdr)


def test_every_figure_stands_beside_its_baselines(evalset_folder):
    report = evaluate_antibodies(load_evalset(evalset_folder), num=1, models=["sapiens"], tasks=["cdr3"], max_steps=8)
    evalset = load_evalset(evalset_folder)
    assert report["chains"] == 4
    cdr3 = report["redesign_recovery"]["cdr3"]
    methods = {"sapiens", "antiberty_one_shot", "most_frequent", "profile_sample"}
    assert set(cdr3) == {"chains", "by_chain", *methods}
    assert all(0.0 <= cdr3[m]["mean"] <= 1.0 for m in methods)
    assert {c: cdr3["by_chain"][c]["chains"] for c in ("H", "L")} == {"H": 2, "L": 2}
    pll = report["cdr3_antiberty_log_prob"]
    assert pll["native"] > pll["shuffled"]  # AntiBERTy reads a native CDR3 as more likely than its shuffle
    humanized = report["humanization"]
    non_human = [e for e in evalset.reference + evalset.test if e.species != "human"]
    assert humanized["chains"] == len(non_human) and {e.accession for e in non_human} >= {"P6", "P7"}  # OKT3: mouse
    for method in ("humanize", "humanize_threshold_1", "humanize_threshold_0.3", "humanize_vernier", "cdr_graft"):
        assert humanized[method]["cdrs_kept"] == 1.0 and humanized[method]["mutations"] > 0
        assert humanized[method]["human_v_identity"] > humanized["parent"]["human_v_identity"]
        assert humanized[method]["humanness"] > humanized["parent"]["humanness"]
    assert humanized["parent"]["mutations"] == 0


def test_eval_cli_prints_one_json_object_with_provenance(evalset_folder, capsys):
    args = ["eval", "antibody", "--evalset", str(evalset_folder), "--sample", "2", "--num", "1", "--models", "sapiens",
            "--tasks", "cdr3", "--no-humanize", "--json"]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["chains"] == 2 and report["humanization"] is None
    assert report["provenance"]["command"].startswith("dlm-protein eval antibody")
    assert set(report["provenance"]["models"]) == {"antiberty", "sapiens-vh", "sapiens-vl"}
    assert all(m["sha256"] for m in report["provenance"]["models"].values())


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--models", "esm"], "--models esm"), (["--tasks", "cdr9"], "--tasks cdr9"), ([], "not an antibody evaluation set")],
)
def test_eval_cli_refuses_bad_settings(tmp_path, evalset_folder, capsys, args, message):
    folder = evalset_folder if args else tmp_path
    assert main(["eval", "antibody", "--evalset", str(folder), *args]) == 1
    assert message in capsys.readouterr().err


def test_bench_antibody_gives_ratios_to_the_protein_generator():
    from bench.antibody import run

    report = run(num=1, repeats=1)
    rows = report["cdrh3_redesign"]
    assert set(rows) == {"protein-default", "antiberty", "sapiens-vh"}
    assert rows["protein-default"]["ratio_to_protein_generator"] == 1.0
    assert all(r["seconds"] > 0 and r["designs_per_s"] > 0 for r in rows.values())
    assert set(report["humanize_okt3_pair_seconds"]) == {"masked", "diffusion"}

"""On a machine without the Debian tools (a new user's, before `.ci/run` installs them), every test that drives
one skips with its reason instead of failing: the tool-driven tests run here in a pytest whose PATH holds only
the Python interpreter's folder. (The browser test looks for Chromium at a fixed path, not on PATH: its skip is
the same `requires_tool` marker, not exercised here.)"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# One test or more of every kind that runs mmseqs, makeblastdb, blastdbcmd or hmmscan.
TOOL_DRIVEN = [
    "tests/protein/test_homology.py",
    "tests/protein/test_corpus.py::test_corpus_has_the_expected_rows_and_columns",
    "tests/protein/test_corpus.py::test_too_few_clusters_for_the_held_out_splits",
    "tests/protein/test_properties.py::test_novelty_finds_the_closest_reference[mmseqs]",
    "tests/protein/test_homology.py::test_training_search_finds_relatives_and_novelty_and_caches_its_database",
    "tests/protein/test_evaluate.py::test_evaluate_reports_every_set_with_its_baselines",
    "tests/protein/test_evaluate.py::test_eval_cli_prints_one_json_object",
    "tests/protein/test_go_design.py::test_eval_go_reports_every_term_under_both_annotators",
    "tests/protein/test_antibody_design.py::test_the_vernier_table_is_anarcis_kabat_positions_in_imgt",
    "tests/protein/test_antibody_evalset.py::test_the_builder_writes_every_complete_domain_once_with_its_origin",
    "tests/protein/test_antibody_evalset.py::test_the_packaged_swiss_prot_gives_both_chains_and_no_test_domain_near_a_reference_one",
]


@pytest.mark.slow
def test_tool_driven_tests_skip_with_their_reason_when_no_tool_is_on_path(tmp_path):
    report = tmp_path / "report.xml"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *TOOL_DRIVEN],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    cases = list(ET.parse(report).iter("testcase"))
    assert len(cases) >= len(TOOL_DRIVEN), run.stdout[-3000:]
    for case in cases:
        name = f"{case.get('classname')}::{case.get('name')}"
        skipped = case.find("skipped")
        assert skipped is not None, f"{name} did not skip without the tools on PATH"
        assert "needs " in skipped.get("message", "") and "apt-get install" in skipped.get("message", ""), name

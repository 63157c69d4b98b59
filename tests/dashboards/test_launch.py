"""`dlm-code dashboard` and `dlm-protein dashboard`: the `streamlit run` command they become."""

from __future__ import annotations

import sys
from pathlib import Path

from apps.code.cli import build_parser as code_parser
from apps.protein.cli import build_parser as protein_parser
from dashboards.launch import command


def test_command_runs_the_app_file_with_this_python():
    line = command("protein_app.py", port=8600, headless=True)
    assert line[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(line[4]).is_file() and Path(line[4]).name == "protein_app.py"
    assert " ".join(line[5:]) == "--browser.gatherUsageStats false --server.port 8600 --server.headless true"
    assert command("code_app.py")[5:] == ["--browser.gatherUsageStats", "false"]


def test_both_clis_have_a_dashboard_subcommand():
    code = code_parser().parse_args(["dashboard", "--port", "8600", "--headless"])
    assert (code.port, code.headless, code.run.__name__) == (8600, True, "dashboard")
    protein = protein_parser().parse_args(["dashboard"])
    assert (protein.port, protein.headless, protein.run.__name__) == (None, False, "run_dashboard")

"""`dlm-code dashboard` and `dlm-protein dashboard`: the `streamlit run` command they become, on the page's file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import shared_dlm
from apps.code.cli import main as code_main
from apps.protein.cli import main as protein_main
from shared_dlm import streamlit_command


def test_command_runs_the_page_file_with_this_python():
    line = streamlit_command("/some/protein_app.py", port=8600, headless=True)
    assert line[:5] == [sys.executable, "-m", "streamlit", "run", "/some/protein_app.py"]
    assert " ".join(line[5:]) == (
        "--browser.gatherUsageStats false --server.address 127.0.0.1 --server.port 8600 --server.headless true"
    )
    assert streamlit_command("code_app.py")[5:] == ["--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1"]
    assert streamlit_command("code_app.py", host="0.0.0.0")[-1] == "0.0.0.0"


@pytest.mark.parametrize(
    "main, page, argv, settings",
    [
        (code_main, "code_app.py", ["dashboard", "--port", "8600", "--headless"], (8600, True, "127.0.0.1")),
        (protein_main, "protein_app.py", ["dashboard"], (None, False, "127.0.0.1")),
        (protein_main, "protein_app.py", ["dashboard", "--host", "0.0.0.0"], (None, False, "0.0.0.0")),
        (protein_main, "antibody_app.py", ["antibody", "dashboard", "--port", "8601", "--headless"], (8601, True, "127.0.0.1")),
    ],
)
def test_both_clis_start_their_page_by_its_file(monkeypatch, main, page, argv, settings):
    started = []
    monkeypatch.setattr(shared_dlm, "run_streamlit", lambda *args: started.append(args))
    assert main(argv) == 0
    (path, *rest), = started
    assert Path(path).is_file() and Path(path).name == page and Path(path).parent.name == "dashboards"
    assert tuple(rest) == settings


def test_a_missing_page_is_a_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dashboard page at"):
        shared_dlm.run_streamlit(tmp_path / "gone.py")

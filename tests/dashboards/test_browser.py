"""End to end: each dashboard served by its launcher on a loopback port, opened in headless Chromium (Debian's,
through Playwright), generation pressed and a screenshot saved: what `python -m dashboards.screenshots` does."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace

import pytest

from apps.protein.cli import main as protein_main
from dashboards.screenshots import CHROMIUM, VIEWPORT, pages, take
from tests.conftest import requires_tool

pytestmark = [
    pytest.mark.slow,
    requires_tool(str(CHROMIUM)),  # Debian's chromium, driven by Playwright
]


def check_grown(shot) -> None:
    from PIL import Image

    width, height = Image.open(shot).size
    assert width == VIEWPORT["width"]
    assert height > VIEWPORT["height"]  # the results below the form made the page grow


def launches(main, argv: list[str]) -> bool:
    """Whether a CLI has the subcommand ``argv`` (its --help exits 0)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main([*argv, "--help"])
        except SystemExit as exit:
            return exit.code == 0
    return True


def test_both_design_pages_generate_in_a_real_browser(code_model, protein_model, protein_scorer, tmp_path):
    code, protein, _ = pages(str(code_model), str(protein_model), str(protein_scorer))
    shots = take([code, protein], tmp_path)
    assert [p.name for p in shots] == ["code_app.png", "protein_app.png"]
    for shot in shots:
        check_grown(shot)


@pytest.mark.skipif(
    not launches(protein_main, ["antibody", "dashboard"]), reason="dlm-protein has no `antibody dashboard` yet"
)
def test_the_antibody_page_redesigns_in_a_real_browser(tmp_path):
    *_, antibody = pages()
    (shot,) = take([replace(antibody, fields={"Designs": "2"})], tmp_path)  # the shipped models, two designs
    assert shot.name == "antibody_app.png"
    check_grown(shot)

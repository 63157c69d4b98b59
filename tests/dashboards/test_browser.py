"""End to end: each dashboard served by its launcher on a loopback port, opened in headless Chromium (Debian's,
through Playwright), generation pressed and a screenshot saved: what `python -m dashboards.screenshots` does."""

from __future__ import annotations

import pytest

from dashboards.screenshots import CHROMIUM, VIEWPORT, pages, take
from tests.conftest import requires_tool

pytestmark = [
    pytest.mark.slow,
    requires_tool(str(CHROMIUM)),  # Debian's chromium, driven by Playwright
]


def test_both_pages_generate_in_a_real_browser(code_model, protein_model, protein_scorer, tmp_path):
    from PIL import Image

    shots = take(pages(str(code_model), str(protein_model), str(protein_scorer)), tmp_path)
    assert [p.name for p in shots] == ["code_app.png", "protein_app.png"]
    for shot in shots:
        width, height = Image.open(shot).size
        assert width == VIEWPORT["width"]
        assert height > VIEWPORT["height"]  # the results below the form made the page grow

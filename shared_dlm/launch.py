"""Start a Streamlit page with this Python: what ``dlm-code dashboard`` and ``dlm-protein dashboard`` become.

The page is given by its file path, so that starting it imports nothing of the package that holds it."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def streamlit_command(page: str | Path, port: int | None = None, headless: bool = False) -> list[str]:
    """The ``streamlit run`` command line for the page file ``page``; usage statistics are never sent."""
    line = [sys.executable, "-m", "streamlit", "run", str(page), "--browser.gatherUsageStats", "false"]
    if port is not None:
        line += ["--server.port", str(port)]
    if headless:
        line += ["--server.headless", "true"]
    return line


def run_streamlit(page: str | Path, port: int | None = None, headless: bool = False) -> None:
    """Become the Streamlit server of ``page`` (exec: stopping this process stops the server)."""
    if not Path(page).is_file():
        raise FileNotFoundError(f"no dashboard page at {page}: is the dashboards package installed beside the apps?")
    line = streamlit_command(page, port, headless)
    os.execv(line[0], line)

"""Start a Streamlit page with this Python: what ``dlm-code dashboard`` and ``dlm-protein dashboard`` become.

The page is given by its file path, so that starting it imports nothing of the package that holds it."""

from __future__ import annotations

import os
import sys
from pathlib import Path


LOOPBACK = "127.0.0.1"


def streamlit_command(page: str | Path, port: int | None = None, headless: bool = False, host: str = LOOPBACK) -> list[str]:
    """The ``streamlit run`` command line for the page file ``page``, bound to ``host`` (this machine only,
    unless told otherwise: Streamlit's own default is every interface); usage statistics are never sent."""
    line = [sys.executable, "-m", "streamlit", "run", str(page), "--browser.gatherUsageStats", "false"]
    line += ["--server.address", host]
    if port is not None:
        line += ["--server.port", str(port)]
    if headless:
        line += ["--server.headless", "true"]
    return line


def run_streamlit(page: str | Path, port: int | None = None, headless: bool = False, host: str = LOOPBACK) -> None:
    """Become the Streamlit server of ``page`` (exec: stopping this process stops the server)."""
    if not Path(page).is_file():
        raise FileNotFoundError(f"no dashboard page at {page}: is the dashboards package installed beside the apps?")
    line = streamlit_command(page, port, headless, host)
    os.execv(line[0], line)

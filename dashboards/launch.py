"""Start a dashboard: ``streamlit run`` on its file with this Python (``dlm-code dashboard``, ``dlm-protein dashboard``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def command(app: str, port: int | None = None, headless: bool = False) -> list[str]:
    """The ``streamlit run`` command line for ``app``, a file of this folder; usage statistics are never sent."""
    line = [sys.executable, "-m", "streamlit", "run", str(Path(__file__).with_name(app))]
    line += ["--browser.gatherUsageStats", "false"]
    if port is not None:
        line += ["--server.port", str(port)]
    if headless:
        line += ["--server.headless", "true"]
    return line


def launch(app: str, port: int | None = None, headless: bool = False) -> None:
    """Become the Streamlit server (exec: stopping this process stops the server)."""
    line = command(app, port, headless)
    os.execv(line[0], line)

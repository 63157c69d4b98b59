"""Screenshots of the dashboards, as a person sees them: start each with its launcher (``dlm-code dashboard``,
``dlm-protein dashboard``, ``dlm-protein antibody dashboard``) on a loopback port, open it in headless Chromium (Debian's ``chromium``, driven by
Playwright; Playwright's own browser download is never used), press its button, wait for the results and save
a full-page PNG.

    python -m dashboards.screenshots --out docs                     # the shipped models
    python -m dashboards.screenshots --out /tmp/shots --code-model runs/code/model \\
        --protein-model runs/protein/model --protein-scorer runs/scorer/model
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = "127.0.0.1"
VIEWPORT = {"width": 1400, "height": 1000}
MAX_HEIGHT = 8000  # pixels: a screenshot taller than this is cut


@dataclass(frozen=True)
class Page:
    cli: str  # the module whose `dashboard` subcommand serves the page
    button: str  # what starts the generation
    file: str  # the PNG written
    fields: dict[str, str] = field(default_factory=dict)  # label of a text input -> what to type there
    command: tuple[str, ...] = ("dashboard",)  # the subcommand of `cli` that serves the page


class PageError(RuntimeError):
    """The page showed an error or an exception instead of results; the message is the page's."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@contextmanager
def serve(cli: str, log: Path, timeout: float = 120.0, command: tuple[str, ...] = ("dashboard",)) -> Iterator[str]:
    """Run ``python -m CLI COMMAND`` (``dashboard``) on a free loopback port until the block ends; yields the
    page's URL."""
    port = free_port()
    env = {**os.environ, "STREAMLIT_SERVER_ADDRESS": LOOPBACK, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    line = [sys.executable, "-m", cli, *command, "--port", str(port), "--headless"]
    with open(log, "w") as out:
        server = subprocess.Popen(line, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"{' '.join(line)} exited with {server.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the dashboard of {cli} did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def shoot(browser, url: str, page: Page, out: Path, timeout: float = 600.0) -> Path:
    """Open ``url``, fill the page's fields, press its button, wait for the results and save the screenshot."""
    tab = browser.new_page(viewport=VIEWPORT)
    try:
        tab.goto(url)
        button = tab.get_by_role("button", name=page.button, exact=True)
        button.wait_for(timeout=60_000)
        for label, value in page.fields.items():
            tab.get_by_label(label, exact=True).fill(value)
        button.click()
        success = tab.locator('[data-testid="stAlertContentSuccess"]')
        failure = tab.locator('[data-testid="stAlertContentError"], [data-testid="stException"]')
        success.or_(failure).first.wait_for(timeout=timeout * 1000)
        if failure.count():
            raise PageError(failure.first.inner_text())
        tab.locator('[data-testid="stVegaLiteChart"], [data-testid="stHtml"]').first.wait_for(timeout=60_000)
        # Streamlit scrolls its main section, not the document: grow the window to the page's height instead
        height = tab.locator('[data-testid="stMainBlockContainer"]').evaluate("block => block.scrollHeight")
        tab.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height) + 120, MAX_HEIGHT)})
        tab.wait_for_timeout(2000)  # charts draw (and redraw to the new width) after their element appears
        out.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(out), full_page=True)
        return out
    finally:
        tab.close()


def take(pages: list[Page], out: Path, chromium: Path = CHROMIUM) -> list[Path]:
    """A screenshot of every page into ``out``."""
    from playwright.sync_api import sync_playwright

    if not chromium.is_file():
        raise FileNotFoundError(f"no Chromium at {chromium}: install Debian's package (apt-get install chromium)")
    written = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as logs:
        # --no-sandbox: Chromium's sandbox refuses to run as root, as CI does
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=["--no-sandbox"])
        try:
            for page in pages:
                with serve(page.cli, Path(logs) / f"{page.file}.log", command=page.command) as url:
                    written.append(shoot(browser, url, page, out / page.file))
        finally:
            browser.close()
    return written


def pages(
    code_model: str | None = None, protein_model: str | None = None, protein_scorer: str | None = None
) -> list[Page]:
    """Every dashboard; a model not given stays the page's default (the shipped one). The antibody page runs
    the shipped AntiBERTy and Sapiens on the OKT3 pair it opens with."""
    code = {"Model": code_model} if code_model else {}
    protein = {"Generator": protein_model} if protein_model else {}
    if protein_scorer:
        protein["ESM-2 scorer"] = protein_scorer
    return [
        Page("apps.code.cli", "Generate", "code_app.png", code),
        Page("apps.protein.cli", "Design", "protein_app.png", protein),
        Page("apps.protein.cli", "Run", "antibody_app.png", command=("antibody", "dashboard")),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for the PNGs, one a page")
    parser.add_argument("--code-model", help="code model folder (default: the page's, the shipped model)")
    parser.add_argument("--protein-model", help="protein generator folder (default: the shipped model)")
    parser.add_argument("--protein-scorer", help="ESM-2 scorer folder, or 'none' (default: the shipped scorer)")
    args = parser.parse_args(argv)
    try:
        for path in take(pages(args.code_model, args.protein_model, args.protein_scorer), args.out):
            print(path)
    except (PageError, FileNotFoundError, TimeoutError, RuntimeError) as error:
        print(f"screenshots: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

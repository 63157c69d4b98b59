"""The command-line parser every entry point builds on: a usage error is one line, not argparse's usage block."""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose usage errors (a bad flag value, a missing argument) print one line,
    ``prog: error: message``, and exit with status 2, as argparse's do; ``--help`` still shows the usage.
    Subcommands inherit it (``add_subparsers`` builds them with the parser's own class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")

"""The external programs the protein app runs (NCBI BLAST+, MMseqs2), each named with
the Debian package that installs it, so a missing one is reported in a way people can fix."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass


class ToolError(Exception):
    """An external program is missing or failed; the message says which and what to do."""


@dataclass(frozen=True)
class Tool:
    name: str
    package: str  # Debian package
    version_args: tuple[str, ...]

    def require(self) -> str:
        """The program's path; a ToolError naming the package to install if it is not on PATH."""
        path = shutil.which(self.name)
        if path is None:
            raise ToolError(f"{self.name} not found on PATH: install it with `apt-get install {self.package}`")
        return path

    def version(self) -> str:
        output = subprocess.run([self.require(), *self.version_args], capture_output=True, text=True)
        return output.stdout.strip().splitlines()[0] if output.stdout.strip() else "unknown"


TOOLS = {
    tool.name: tool
    for tool in (
        Tool("blastdbcmd", "ncbi-blast+", ("-version",)),
        Tool("makeblastdb", "ncbi-blast+", ("-version",)),
        Tool("mmseqs", "mmseqs2", ("version",)),
    )
}


def run(args: list[str]) -> None:
    """Run a program to completion; a ToolError with the end of its stderr if it fails."""
    TOOLS[args[0]].require()
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise ToolError(_failure(args, done.returncode, done.stderr or done.stdout))


def stream(args: list[str]) -> Iterator[str]:
    """The lines a program prints, read as it prints them (stderr kept in a file so that
    neither pipe can fill and block); a ToolError after the last line if it failed."""
    TOOLS[args[0]].require()
    with tempfile.TemporaryFile("w+") as stderr:
        with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True) as process:
            assert process.stdout is not None
            yield from process.stdout
        if process.returncode != 0:
            stderr.seek(0)
            raise ToolError(_failure(args, process.returncode, stderr.read()))


def _failure(args: list[str], returncode: int, message: str) -> str:
    tail = "\n".join(message.strip().splitlines()[-10:])
    return f"`{' '.join(args)}` failed with exit status {returncode}:\n{tail}"

"""An output path checked before any work: what every entry point calls on its ``--out``, so that a path that cannot
be written fails in a line at the start, not in a traceback after hours of designing or training."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

KINDS = ("file", "folder")


class OutputError(ValueError):
    """An output path that cannot be written, or that is not the kind (file or folder) the command writes."""


def check_output(path: str | Path, kind: Literal["file", "folder"]) -> Path:
    """``path`` if a command can write its output there, else an OutputError naming the path and what is wrong.

    A ``file`` is written beside itself and renamed over (atomically): its folder must exist and be writable, and
    the path must not be a folder. A ``folder`` may exist (a folder, writable) or not: then it is created with its
    missing parents, so the nearest folder above it that exists must be writable and nothing above it a file.
    Writable means a file could be created there just now (permissions, read-only mounts, and root alike)."""
    assert kind in KINDS, kind
    path = Path(path)
    if kind == "file":
        if path.is_dir():
            raise OutputError(f"{path} is a folder: expected a file to write")
        parent = path.parent
        if not parent.exists():
            raise OutputError(f"{path}: the folder {parent} does not exist")
        if not parent.is_dir():
            raise OutputError(f"{path}: {parent} is a file, not a folder")
        _check_writable(parent, path)
        return path
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a folder: expected a folder to write into")
    existing = next(p for p in (path, *path.parents) if p.exists())  # an empty relative path's last parent is '.'
    if not existing.is_dir():
        raise OutputError(f"{path}: {existing} is a file, not a folder")
    _check_writable(existing, path)
    return path


def _check_writable(folder: Path, path: Path) -> None:
    """Create and remove a file in ``folder``: the one test that answers for read-only mounts, ACLs and root."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise OutputError(f"{path}: cannot write in {folder} ({error.strerror or error})") from None

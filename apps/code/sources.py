"""Where corpus files come from: bodies of code with one licence each, found offline.

A ``Source`` is a root folder, a name, a version, a licence verdict and the relative
paths of its files. Two kinds exist now: the CPython standard library (a folder walk)
and each installed distribution (the files its ``RECORD`` lists). Another language
adds a constructor here (e.g. the Go standard library from Debian ``golang-1.19-src``).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from apps.code.licences import Licence, classify

STDLIB_LICENCE = Licence("PSF-2.0", True, "CPython standard library")
# Folders of the stdlib tree that are not the stdlib, or hold no source.
STDLIB_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})


@dataclass(frozen=True)
class Source:
    """One body of code under one licence."""

    name: str
    version: str
    licence: Licence
    root: Path
    relpaths: tuple[str, ...]  # sorted, relative to root

    def files(self) -> Iterator[tuple[str, Path]]:
        """(relative path, absolute path) of every file, in a stable order."""
        for relpath in self.relpaths:
            yield relpath, self.root / relpath


def _has_extension(path: str, extensions: Iterable[str]) -> bool:
    return path.endswith(tuple(extensions))


def directory_source(
    name: str, version: str, licence: Licence, root: Path, extensions: Iterable[str], skip_dirs: Iterable[str] = ()
) -> Source:
    """Every file with one of ``extensions`` under ``root``, minus folders named in ``skip_dirs``."""
    skip = set(skip_dirs)
    relpaths = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for filename in filenames:
            path = Path(folder) / filename
            if _has_extension(filename, extensions) and path.is_file() and not path.is_symlink():
                relpaths.append(path.relative_to(root).as_posix())
    return Source(name, version, licence, Path(root), tuple(sorted(relpaths)))


def stdlib_source(extensions: Iterable[str], root: Path | None = None) -> Source:
    """The CPython standard library of this interpreter (PSF licence), without site-packages.

    Its test suites are kept: they are real code, and the quality filters drop the
    deliberately broken files among them.
    """
    root = Path(root or sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise FileNotFoundError(f"standard library folder not found: {root}")
    return directory_source(
        "cpython-stdlib", platform.python_version(), STDLIB_LICENCE, root, extensions, STDLIB_SKIP_DIRS
    )


def distribution_sources(extensions: Iterable[str], paths: list[str] | None = None) -> list[Source]:
    """Each installed distribution found on ``paths`` (default: ``sys.path``), with its own licence.

    Files come from the distribution's file list (``RECORD``); entries outside its
    install folder (scripts in ``bin/``) and distributions without a file list are left out.
    """
    extensions = tuple(extensions)
    seen: set[str] = set()
    sources = []
    found = importlib.metadata.distributions(path=paths) if paths is not None else importlib.metadata.distributions()
    for dist in found:
        name = dist.metadata["Name"]
        if not name or name.lower() in seen:  # a stale second copy on the path is shadowed, as at import
            continue
        seen.add(name.lower())
        root = Path(dist.locate_file("")).resolve()
        relpaths = sorted(
            {
                Path(str(file)).as_posix()
                for file in dist.files or []
                if _has_extension(str(file), extensions) and ".." not in Path(str(file)).parts
            }
        )
        relpaths = [p for p in relpaths if (root / p).is_file()]
        sources.append(Source(name, dist.version, classify(dist.metadata), root, tuple(relpaths)))
    return sorted(sources, key=lambda s: s.name.lower())

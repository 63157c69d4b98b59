"""Where a figure came from: the command, the commit, the date, the device and the sha256 of each model it used,
recorded in every figure JSON (`docs/figures/`) so that anyone can tell what to rerun and with which weights."""

from __future__ import annotations

import hashlib
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch

from shared_dlm.loading import resolve

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
REPO = Path(__file__).resolve().parents[1]


def weights_sha256(path: str | Path) -> str:
    """sha256 of a weights file, or of a model folder's weights files read one after another in name order
    (for a folder with one ``model.safetensors``: what ``sha256sum model.safetensors`` prints)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no weights file ({', '.join(WEIGHT_SUFFIXES)}) in {path}")
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def git_commit(repo: Path = REPO) -> dict | None:
    """``{"commit": HEAD, "dirty": uncommitted changes}`` of the checkout, None where git or the repository is missing
    (an installed copy of the package)."""
    if not (repo / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def provenance(
    models: Mapping[str, str | Path], device: str | torch.device, command: str | Sequence[str] | None = None
) -> dict:
    """The provenance block of a figure JSON. ``models``: role -> model folder (or weights file), e.g.
    ``{"generator": path, "scorer": "protein-scorer-default"}`` (a registered name is resolved); ``command``: the command line as run (default: this process's argv)."""
    if command is None:
        command = [Path(sys.argv[0]).name, *sys.argv[1:]]
    git = git_commit()
    return {
        "command": command if isinstance(command, str) else shlex.join(command),
        "commit": None if git is None else git["commit"],
        "dirty": None if git is None else git["dirty"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "models": {role: _model(path) for role, path in models.items()},
    }


def _model(name_or_path: str | Path) -> dict:
    """A model's path and weights hash; a name no local file or folder answers to (a fair-esm hub name in
    torch's cache) is recorded as given, with no hash."""
    try:
        path = Path(name_or_path) if Path(name_or_path).is_file() else resolve(name_or_path)
    except FileNotFoundError:
        return {"path": str(name_or_path), "sha256": None}
    return {"path": str(path), "sha256": weights_sha256(path)}

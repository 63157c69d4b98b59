"""HumanEval infilling (``apps.code.tasks``) scored for a model and for two trivial baselines, measured alike.

For each task the model's top candidate (an ``apps.code.infill.Infiller``) is spliced into the hole and the problem's
tests run in the sandbox (``apps.code.sandbox``). Reported: pass@1 (the top candidate passes), exact match
(the candidate equals the reference middle once trailing whitespace is stripped from every line and trailing
blank lines dropped), parse rate (the spliced function parses: ``grammars.parses``, tree-sitter and this
interpreter's ``ast`` both accept it), the tree-sitter parse rate beside it (``parse_rate_tree_sitter``:
tree-sitter-python accepts indentation Python rejects, so it flatters; figures before it report only that one,
as ``parse_rate``) and blank rate (the middle is empty or whitespace: it fills nothing, and parses wherever the
rest of the function does). The baselines need no model:
``pass`` (the statement ``pass`` at the indentation of the reference's first line) and
``copy_previous_line`` (the line just before the hole, repeated); they show how much a task gives away.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from apps.code.grammars import parses, tree_sitter_parses
from apps.code.infill import DEFAULT_MODEL, InfillConfig, Infiller, resolve_model
from apps.code.sandbox import pass_at_1
from apps.code.tasks import InfillTask, after_indent, infill_tasks
from shared_dlm import Loaded

LANGUAGE = "python"


@dataclass(frozen=True)
class Scores:
    """What a list of middles, one a task, scores."""

    pass_at_1: float
    exact_match: float
    parse_rate: float
    parse_rate_tree_sitter: float
    blank_rate: float

    def as_dict(self) -> dict[str, float]:
        return {
            "pass@1": self.pass_at_1,
            "exact_match": self.exact_match,
            "parse_rate": self.parse_rate,
            "parse_rate_tree_sitter": self.parse_rate_tree_sitter,
            "blank_rate": self.blank_rate,
        }


def normalise(text: str) -> list[str]:
    """The lines of a middle with trailing whitespace stripped, trailing blank lines dropped."""
    return [line.rstrip() for line in text.rstrip().splitlines()]


def score_middles(tasks: list[InfillTask], middles: list[str], workers: int = 2) -> Scores:
    """pass@1, exact match, parse rates (Python's and tree-sitter's) and blank rate of one middle a task."""
    if len(tasks) != len(middles) or not tasks:
        raise ValueError(f"need one middle for each of at least one task, got {len(middles)} for {len(tasks)} tasks")
    passed = pass_at_1(zip(tasks, middles), workers=workers).score
    exact = sum(normalise(m) == normalise(t.middle) for t, m in zip(tasks, middles)) / len(tasks)
    spliced = [t.prefix + m + t.suffix for t, m in zip(tasks, middles)]
    parsed = sum(parses(text, LANGUAGE) for text in spliced) / len(tasks)
    lenient = sum(tree_sitter_parses(text, LANGUAGE) for text in spliced) / len(tasks)
    blank = sum(not m.strip() for m in middles) / len(tasks)
    return Scores(passed, exact, parsed, lenient, blank)


def pass_baseline(task: InfillTask) -> str:
    """``pass`` at the indentation of the reference's first line."""
    first = task.middle.splitlines()[0]
    return first[: len(first) - len(first.lstrip())] + "pass\n"


def copy_previous_line(task: InfillTask) -> str:
    """The line before the hole, repeated (after the cursor's indentation, if the hole starts there)."""
    lines = task.prefix.splitlines(keepends=True)
    if len(lines) > 1 and not lines[-1].strip(" \t"):  # the prefix ends in the hole's line's indentation
        return lines[-2].lstrip(" \t")
    return lines[-1]


BASELINES = {"pass": pass_baseline, "copy_previous_line": copy_previous_line}


def evaluate_humaneval(
    mode: str,
    config: InfillConfig = InfillConfig(),
    *,
    model: Loaded | str | Path = DEFAULT_MODEL,
    device: str = "cpu",
    limit: int | None = None,
    sample: int | None = None,
    workers: int = 2,
    cursor_after_indent: bool = False,
) -> dict:
    """The model's scores on the first ``limit`` tasks of a mode (or on ``sample`` tasks drawn across all
    problems with ``config.seed``, kept in the fixed order), with the baselines' on the same tasks; each hole
    is filled with ``config``. ``cursor_after_indent``: each hole starts after its first line's indentation
    (``tasks.after_indent``)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if sample is not None and sample < 1:
        raise ValueError(f"sample must be at least 1, got {sample}")
    if limit is not None and sample is not None:
        raise ValueError("give limit or sample, not both")
    seed = config.seed
    tasks = infill_tasks(mode)
    if sample is not None and sample < len(tasks):
        chosen = sorted(random.Random(seed).sample(range(len(tasks)), sample))
        tasks = [tasks[i] for i in chosen]
    tasks = tasks[:limit]
    if cursor_after_indent:
        tasks = [after_indent(task) for task in tasks]
    started = time.monotonic()
    infiller = Infiller(resolve_model(model, device), config)
    middles = []
    for task in tasks:
        candidates = infiller.fill(task.prefix, task.suffix, LANGUAGE)
        middles.append(candidates[0].text if candidates else "")
    scores = score_middles(tasks, middles, workers)
    seconds = time.monotonic() - started
    baselines = {
        name: score_middles(tasks, [make(t) for t in tasks], workers).as_dict() for name, make in BASELINES.items()
    }
    return {
        "mode": mode,
        "model": str(infiller.loaded.path),
        "tasks": len(tasks),
        "hole_starts": "after the indentation" if cursor_after_indent else "at the line",
        "selection": f"a sample of {len(tasks)} (seed {seed})" if sample is not None else f"the first {len(tasks)}",
        **scores.as_dict(),
        "seconds": round(seconds, 1),
        "baselines": baselines,
    }

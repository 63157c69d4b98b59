"""Hold out any corpus file that contains HumanEval text, so the benchmark stays clean.

Each problem's prompt followed by its canonical solution is cut into lines and every
line stripped of all whitespace (so indentation, spacing and blank lines do not
matter). Every run of consecutive lines holding at least ``min_chars`` characters is a
fingerprint; a file matches when the same run of lines appears in it. A signature with
its docstring, a docstring alone, or a solution alone each yield fingerprints, so a
copy of any of them is caught wherever it sits in a file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from apps.code.humaneval import Problem

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Match:
    """Where a file repeats a problem's text: which problem, which part, from which line."""

    task_id: str
    part: str  # "prompt", "solution" or "prompt+solution"
    line: int  # 1-based line of the file where the match starts
    snippet: str  # the file's own lines that matched


def normalised_lines(text: str) -> list[tuple[int, str]]:
    """(0-based line number, line without whitespace) for every line that is not blank."""
    lines = ((i, _WHITESPACE.sub("", line)) for i, line in enumerate(text.splitlines()))
    return [(i, line) for i, line in lines if line]


@dataclass(frozen=True)
class _Fingerprint:
    lines: tuple[str, ...]
    task_id: str
    part: str


class ContaminationIndex:
    """Fingerprints of a set of problems, indexed by their first line for a fast scan."""

    def __init__(self, problems: Iterable[Problem], min_chars: int = 50):
        self.min_chars = min_chars
        self.by_first_line: dict[str, list[_Fingerprint]] = defaultdict(list)
        self.num_problems = 0
        for problem in problems:
            self.num_problems += 1
            for fingerprint in self._fingerprints(problem):
                self.by_first_line[fingerprint.lines[0]].append(fingerprint)

    def _fingerprints(self, problem: Problem) -> list[_Fingerprint]:
        tagged = [(line, "prompt") for _, line in normalised_lines(problem.prompt)]
        tagged += [(line, "solution") for _, line in normalised_lines(problem.canonical_solution)]
        prints = []
        for start in range(len(tagged)):
            end, chars = start, 0
            while end < len(tagged) and chars < self.min_chars:
                chars += len(tagged[end][0])
                end += 1
            if chars < self.min_chars:
                break  # every later start is shorter still
            parts = sorted({part for _, part in tagged[start:end]})
            lines = tuple(line for line, _ in tagged[start:end])
            prints.append(_Fingerprint(lines, problem.task_id, "+".join(parts)))
        return prints

    def find(self, text: str) -> list[Match]:
        """The first match of each problem found in ``text`` (empty when the file is clean)."""
        numbered = normalised_lines(text)
        lines = [line for _, line in numbered]
        original = text.splitlines()
        found: dict[str, Match] = {}
        for k, line in enumerate(lines):
            for fingerprint in self.by_first_line.get(line, ()):
                n = len(fingerprint.lines)
                if fingerprint.task_id in found or tuple(lines[k : k + n]) != fingerprint.lines:
                    continue
                first, last = numbered[k][0], numbered[k + n - 1][0]
                snippet = "\n".join(original[first : last + 1])
                found[fingerprint.task_id] = Match(fingerprint.task_id, fingerprint.part, first + 1, snippet)
        return list(found.values())

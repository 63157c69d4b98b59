import textwrap

import pytest

from apps.code.contamination import ContaminationIndex
from apps.code.humaneval import Problem, load_problems

from .conftest import PROMPT, SOLUTION

PROBLEM = Problem("HumanEval/0", PROMPT, SOLUTION, "has_close_elements", "")


@pytest.fixture
def index():
    return ContaminationIndex([PROBLEM])


def test_copy_with_other_indentation_and_spacing_is_found(index):
    copy = "import os\n\nclass A:\n" + textwrap.indent(SOLUTION.replace(" != ", "!=").replace("\n\n", "\n"), "        ")
    (match,) = index.find(copy)
    assert (match.task_id, match.part, match.line) == ("HumanEval/0", "solution", 4)
    assert "enumerate(numbers)" in match.snippet


def test_prompt_alone_is_found(index):
    (match,) = index.find("# a note\n" + PROMPT + "    pass\n")
    assert match.part == "prompt"


def test_unrelated_code_and_short_generic_lines_are_not_flagged(index):
    code = textwrap.dedent("""\
        def close(numbers, threshold):
            for x in numbers:
                if x < threshold:
                    return True
            return False
        """)
    assert index.find(code) == []


def test_installed_humaneval_solutions_are_all_caught():
    problems = load_problems()
    assert len(problems) == 164
    index = ContaminationIndex(problems)
    missed = [
        p.task_id for p in problems if p.task_id not in {m.task_id for m in index.find(p.prompt + p.canonical_solution)}
    ]
    assert missed == []

"""HumanEval infilling tasks: the public benchmark's counts, exact holes, a fixed order, and clear errors."""

import pytest

from apps.code.humaneval import load_problems
from apps.code.tasks import after_indent, infill_tasks, solution_lines


@pytest.fixture(scope="module")
def problems():
    return load_problems()


@pytest.fixture(scope="module")
def single(problems):
    return infill_tasks("single-line", problems)


@pytest.fixture(scope="module")
def multi(problems):
    return infill_tasks("multi-line", problems)


def test_counts_match_the_public_benchmark(single, multi):
    assert (len(single), len(multi)) == (1033, 5815)
    assert len({task.task_id for task in single}) == 1033
    assert len({task.task_id for task in multi}) == 5815


def test_first_single_line_task_masks_the_first_line_of_humaneval_0(single, problems):
    task = single[0]
    assert task.task_id == "HumanEval/0/single-line/0" and task.problem_id == "HumanEval/0"
    assert task.prefix == problems[0].prompt and task.prefix.endswith('    True\n    """\n')
    assert task.middle == "    for idx, elem in enumerate(numbers):\n"
    assert task.suffix.startswith("        for idx2, elem2 in enumerate(numbers):\n")
    assert task.suffix.endswith("\n    return False\n")
    assert (task.entry_point, task.first_line, task.last_line) == ("has_close_elements", 0, 0)
    assert "def check(candidate):" in task.test


def test_blank_lines_are_never_masked_but_keep_their_numbers(single, multi):
    # HumanEval/0's solution has a blank line 6 before "    return False".
    ids = [task.task_id.split("/")[-1] for task in single if task.problem_id == "HumanEval/0"]
    assert ids == ["0", "1", "2", "3", "4", "5", "7"]
    last = next(task for task in single if task.task_id == "HumanEval/0/single-line/7")
    assert last.middle == "    return False\n" and last.suffix == "" and last.prefix.endswith("return True\n\n")
    spans = [task.task_id.split("/")[-1] for task in multi if task.problem_id == "HumanEval/0"]
    assert len(spans) == 7 * 8 // 2 and "5-6" not in spans and "6-7" not in spans
    assert spans[:7] == ["0-0", "0-1", "0-2", "0-3", "0-4", "0-5", "0-7"]


def test_a_solution_that_starts_with_blank_lines(single):
    task = next(task for task in single if task.problem_id == "HumanEval/81")
    assert task.task_id == "HumanEval/81/single-line/2"
    assert task.prefix.endswith('"""\n\n   \n') and task.middle == "    letter_grade = []\n"


def test_whole_solution_hole(multi, problems):
    task = next(task for task in multi if task.task_id == "HumanEval/0/multi-line/0-7")
    assert task.prefix == problems[0].prompt and task.suffix == ""
    assert task.middle == problems[0].canonical_solution.rstrip() + "\n"


def test_every_hole_splices_back_to_the_canonical_program(single, multi, problems):
    programs = {problem.task_id: problem.prompt + "".join(solution_lines(problem)) for problem in problems}
    for task in single + multi:
        assert task.prefix + task.middle + task.suffix == programs[task.problem_id], task.task_id
        masked = task.middle.splitlines()
        assert masked[0].strip() and masked[-1].strip() and task.middle.endswith("\n"), task.task_id
        assert len(masked) == task.last_line - task.first_line + 1, task.task_id
    assert all(len(task.middle.splitlines()) == 1 for task in single)


def test_order_is_problems_then_lines(single, multi, problems):
    rank = {problem.task_id: i for i, problem in enumerate(problems)}
    for tasks in (single, multi):
        keys = [(rank[task.problem_id], task.first_line, task.last_line) for task in tasks]
        assert keys == sorted(keys)
    assert [task.task_id for task in infill_tasks("single-line", problems)[:3]] == [
        "HumanEval/0/single-line/0",
        "HumanEval/0/single-line/1",
        "HumanEval/0/single-line/2",
    ]


def test_tasks_from_a_file(humaneval_file):
    assert len(infill_tasks("single-line", path=humaneval_file)) == 7
    assert len(infill_tasks("multi-line", path=humaneval_file)) == 28


def test_unknown_mode_names_the_choices():
    with pytest.raises(ValueError, match=r"'random-span'.*single-line, multi-line"):
        infill_tasks("random-span", problems=[])


def test_after_indent_moves_the_indentation_to_the_prefix_and_keeps_the_program(single, multi):
    for task in single[:40] + multi[:40]:
        moved = after_indent(task)
        assert moved.prefix + moved.middle + moved.suffix == task.prefix + task.middle + task.suffix
        indent = moved.prefix.splitlines(keepends=True)[-1]
        assert indent.strip(" \t") == "" and indent and task.middle.startswith(indent)
        assert moved.middle[:1].strip() and moved.task_id == task.task_id

"""The sandbox: canonical programs pass, wrong ones fail, and hangs, crashes, memory hogs, shell calls, sockets and
stray files stay inside the child without hurting the harness."""

import time
from pathlib import Path

import pytest

from apps.code import sandbox
from apps.code.sandbox import SandboxConfig, pass_at_1, run_candidate, run_program
from apps.code.tasks import infill_tasks

FAST = SandboxConfig(timeout_s=1.0)


@pytest.fixture(scope="module")
def single():
    return {task.task_id: task for task in infill_tasks("single-line")}


@pytest.fixture(scope="module")
def last_line(single):
    """HumanEval/0 with its final "    return False" masked: any one statement at that indent fits the hole."""
    return single["HumanEval/0/single-line/7"]


@pytest.mark.parametrize(
    "task_id", ["HumanEval/0/single-line/0", "HumanEval/81/single-line/2", "HumanEval/162/single-line/0"]
)
def test_canonical_middles_pass(single, task_id):
    task = single[task_id]
    result = run_candidate(task, task.middle)
    assert result.passed and result.status == "passed", result.stderr_tail
    assert 0 < result.seconds < 5


def test_a_wrong_middle_fails_with_its_traceback(last_line):
    result = run_candidate(last_line, "    return True\n")
    assert not result.passed and result.status == "failed"
    assert "AssertionError" in result.stderr_tail


def test_a_syntax_error_fails(last_line):
    result = run_candidate(last_line, "    return (\n")
    assert result.status == "failed" and "SyntaxError" in result.stderr_tail


def test_an_infinite_loop_is_killed_at_the_timeout(last_line):
    start = time.monotonic()
    result = run_candidate(last_line, "    while True:\n        pass\n", FAST)
    assert result.status == "timeout" and not result.passed
    assert result.seconds < 2 and time.monotonic() - start < 3


def test_shell_commands_are_refused(last_line, tmp_path):
    target = tmp_path / "pwned_xyz"
    refusals = {
        f"    import os; os.system('touch {target}')\n": "os.system is disabled",
        f"    import subprocess; subprocess.run(['touch', '{target}'])\n": "import of _posixsubprocess halted",
        "    import os; os.fork()\n": "os.fork is disabled",
    }
    for middle, message in refusals.items():
        result = run_candidate(last_line, middle, FAST)
        assert result.status == "failed" and message in result.stderr_tail, middle
    assert not target.exists()


def test_sockets_cannot_be_opened(last_line):
    result = run_candidate(last_line, "    import socket; socket.socket().connect(('127.0.0.1', 9))\n", FAST)
    assert result.status == "failed" and "socket" in result.stderr_tail


def test_a_memory_hog_fails_and_the_harness_goes_on(last_line):
    for middle in (
        "    x = bytearray(1 << 40)\n",
        "    x = [0] * (1 << 33)\n",
        "    x = [bytes(1 << 20) for _ in range(1 << 20)]\n",
    ):
        result = run_candidate(last_line, middle, FAST)
        assert result.status == "failed" and "MemoryError" in result.stderr_tail, middle
    assert run_candidate(last_line, last_line.middle).passed


def test_files_are_written_only_inside_a_temporary_directory_that_is_removed(last_line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    middle = "    import os; open('probe.txt', 'w').write('x'); raise RuntimeError('cwd=' + os.getcwd())\n"
    result = run_candidate(last_line, middle, FAST)
    assert result.status == "failed"
    cwd = Path(result.stderr_tail.rsplit("cwd=", 1)[1].strip())
    assert cwd.name == "work" and cwd.parent.name.startswith("dlm-sandbox-")
    assert not cwd.parent.exists()
    assert not (tmp_path / "probe.txt").exists()


def test_huge_files_are_refused():
    result = run_program("open('big', 'w').write('x' * (1 << 20))\n", SandboxConfig(timeout_s=1.0, file_bytes=1 << 16))
    assert result.status == "failed" and "File too large" in result.stderr_tail


def test_leaving_early_is_not_passing(last_line):
    for middle in ("    raise SystemExit(0)\n", "    import os; os._exit(0)\n", "    import sys; sys.exit()\n"):
        assert run_candidate(last_line, middle, FAST).status == "failed", middle


def test_a_missing_interpreter_is_a_harness_error(monkeypatch):
    monkeypatch.setattr(sandbox, "PYTHON", "/nonexistent/python3")
    result = run_program("pass\n")
    assert result.status == "error" and not result.passed
    assert "/nonexistent/python3" in result.stderr_tail


def test_bad_limits_are_rejected():
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        SandboxConfig(timeout_s=0)


def test_pass_at_1_averages_over_tasks_and_keeps_the_order(single, last_line):
    first = single["HumanEval/0/single-line/0"]
    pairs = [(last_line, last_line.middle), (last_line, "    return True\n"), (first, first.middle)]
    report = pass_at_1(pairs, FAST, workers=2)
    assert [result.status for result in report.results] == ["passed", "failed", "passed"]
    assert report.tasks == 2 and report.score == pytest.approx((0.5 + 1.0) / 2)
    assert report.counts() == {"passed": 2, "failed": 1, "timeout": 0, "error": 0}
    with pytest.raises(ValueError, match="at least one"):
        pass_at_1([])


def test_every_canonical_single_line_middle_passes(single):
    """All 1,033 single-line holes filled with their reference middles: about 25 s on 2 cores."""
    tasks = list(single.values())
    report = pass_at_1([(task, task.middle) for task in tasks])
    failures = [(task.task_id, result.stderr_tail) for task, result in zip(tasks, report.results) if not result.passed]
    assert not failures and report.score == 1.0

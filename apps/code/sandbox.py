"""Run a completed HumanEval program (prefix + candidate middle + suffix, the tests, ``check(entry_point)``) in a
child Python with limits, and score pass@1 over many candidates.

Each run gets a fresh temporary directory (removed afterwards) as its working directory and home, an
isolated interpreter (``-I``: no environment variables, no user site; ``-S``: no site-packages, as HumanEval
needs only the standard library, and it starts in 7 ms instead of 50), a nearly empty environment, no stdin,
a wall-clock timeout after which its whole process group is killed, and resource limits on address space,
CPU time, file size and core dumps. The limits are set by the child's first statements, before the program
is read, rather than in a ``preexec_fn``, which Python documents as unsafe with threads (pass@1 runs in
threads). RLIMIT_NPROC is not used: it counts every process of the user, not the child's.

Before the program runs, a guard in the style of OpenAI human-eval's ``reliability_guard`` replaces
process, signal and file-removal functions of ``os`` with ones that raise ``PermissionError``, and makes the
socket, subprocess and ctypes modules fail to import. It stops model code from doing damage by accident
(``os.system``, ``shutil.rmtree``, opening a socket); it is NOT a security boundary: code written to escape
will escape. Run untrusted code inside a container or VM without network as well.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from apps.code.tasks import InfillTask

Status = Literal["passed", "failed", "timeout", "error"]

PYTHON = sys.executable
STDERR_TAIL_CHARS = 2000
HARNESS_ERROR_EXIT = 70  # the child's own set-up failed (EX_SOFTWARE); the program never ran

# os functions the guard replaces (shutil.rmtree and shutil.move go through os.unlink, os.rmdir, os.rename).
DENIED_OS = (
    "system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp",
    "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
    "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
    "kill", "killpg", "_exit", "putenv", "unsetenv", "setuid", "setgid", "chroot", "chdir", "fchdir",
    "remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace", "link", "symlink",
    "truncate", "chmod", "fchmod", "lchmod", "chown", "fchown", "lchown",
)  # fmt: skip
# Modules that fail to import (socket: no network; _posixsubprocess: no subprocess; resource: no raised limits).
BLOCKED_MODULES = ("socket", "_socket", "_posixsubprocess", "ctypes", "_ctypes", "resource", "tkinter")

# What runs in the child, after three lines that define LIMITS, DENIED_OS and BLOCKED_MODULES.
_RUNNER = r"""
import sys


def _deny(name):
    def denied(*args, **kwargs):
        raise PermissionError(name + " is disabled in the sandbox")
    return denied


def _main():
    exit_now, stderr, path = None, sys.stderr, sys.argv[1]
    try:
        import os, posix, resource
        exit_now = os._exit
        for name, (soft, hard) in LIMITS.items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        for module in (os, posix):
            for name in DENIED_OS:
                if hasattr(module, name):
                    setattr(module, name, _deny("os." + name))
        for name in BLOCKED_MODULES:
            sys.modules[name] = None
    except BaseException:
        import traceback
        traceback.print_exc()
        stderr.flush()
        (exit_now or sys.exit)(HARNESS_ERROR_EXIT)
    try:
        exec(compile(source, path, "exec"), {"__name__": "__main__"})
        code = 0
    except BaseException:  # SystemExit too: a program that exits early has not passed its tests
        import traceback
        traceback.print_exc()
        code = 1
    stderr.flush()
    exit_now(code)  # skips atexit handlers and waits on threads the program left running


_main()
"""


@dataclass(frozen=True)
class SandboxConfig:
    """Limits of one run. The defaults suit HumanEval, whose slowest canonical solution takes about a second."""

    timeout_s: float = 5.0  # wall clock; the CPU limit is this, rounded up, plus a second
    memory_bytes: int = 1 << 30  # address space (RLIMIT_AS)
    file_bytes: int = 16 << 20  # largest file the program may write (RLIMIT_FSIZE)

    def __post_init__(self):
        for name in ("timeout_s", "memory_bytes", "file_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SandboxConfig.{name} must be positive, got {getattr(self, name)!r}")

    def rlimits(self) -> dict[str, tuple[int, int]]:
        cpu = math.ceil(self.timeout_s) + 1
        return {
            "RLIMIT_AS": (self.memory_bytes, self.memory_bytes),
            "RLIMIT_CPU": (cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL at the hard one
            "RLIMIT_FSIZE": (self.file_bytes, self.file_bytes),
            "RLIMIT_CORE": (0, 0),
        }


@dataclass(frozen=True)
class RunResult:
    """How one program ended. ``failed`` and ``timeout`` are the program's doing; ``error`` is the harness's."""

    passed: bool
    status: Status
    seconds: float  # wall clock, start of the child to its end
    stderr_tail: str  # the last STDERR_TAIL_CHARS characters the child wrote to stderr (a traceback, usually)


def completed_program(task: InfillTask, middle: str) -> str:
    """The program a candidate middle is judged by: the filled-in function, its tests, and the call to them.

    The middle is spliced in as given: like the reference, it should end with a newline."""
    return f"{task.prefix}{middle}{task.suffix}\n{task.test}\ncheck({task.entry_point})\n"


def run_candidate(task: InfillTask, middle: str, config: SandboxConfig = SandboxConfig()) -> RunResult:
    """Run ``task``'s tests on the program with ``middle`` in its hole."""
    return run_program(completed_program(task, middle), config)


def run_program(source: str, config: SandboxConfig = SandboxConfig()) -> RunResult:
    """Run Python ``source`` in a sandboxed child; it passes if it ends without an exception in time."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dlm-sandbox-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        work = root / "work"
        work.mkdir()
        program, log = root / "program.py", root / "stderr.txt"
        program.write_text(source, encoding="utf-8")
        header = f"LIMITS = {config.rlimits()!r}\nDENIED_OS = {DENIED_OS!r}\nBLOCKED_MODULES = {BLOCKED_MODULES!r}\n"
        header += f"HARNESS_ERROR_EXIT = {HARNESS_ERROR_EXIT}\n"
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LC_ALL": "C.UTF-8"}
        try:
            with open(log, "wb") as stderr:
                child = subprocess.Popen(
                    [PYTHON, "-I", "-S", "-X", "utf8", "-c", header + _RUNNER, str(program)],
                    cwd=work,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,  # its own process group, killed as a whole below
                )
        except OSError as error:
            return RunResult(False, "error", time.monotonic() - start, f"could not start {PYTHON}: {error}")
        timed_out = False
        try:
            code = child.wait(timeout=config.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(child.pid)  # also whatever the program left behind
            code = child.wait()
        seconds = time.monotonic() - start
        tail = _tail(log)
    if timed_out or code == -signal.SIGXCPU:
        status: Status = "timeout"
    elif code == 0:
        status = "passed"
    elif code == HARNESS_ERROR_EXIT:
        status = "error"
    else:
        status = "failed"
    return RunResult(status == "passed", status, seconds, tail)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:  # the group has already gone
        pass


def _tail(path: Path) -> str:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 4 * STDERR_TAIL_CHARS))
        return handle.read().decode("utf-8", errors="replace")[-STDERR_TAIL_CHARS:]


@dataclass(frozen=True)
class PassAt1:
    """pass@1 of candidates for infilling tasks: for each task the fraction of its candidates that pass, averaged
    over tasks (the unbiased estimator of Chen et al. 2021, eq. 1, at k = 1)."""

    score: float
    tasks: int  # distinct task ids
    results: list[RunResult] = field(repr=False)  # one per (task, candidate) pair, in the order given

    def counts(self) -> dict[str, int]:
        """How many runs ended in each status."""
        counts = dict.fromkeys(("passed", "failed", "timeout", "error"), 0)
        for result in self.results:
            counts[result.status] += 1
        return counts


def pass_at_1(
    pairs: Iterable[tuple[InfillTask, str]], config: SandboxConfig = SandboxConfig(), workers: int = 2
) -> PassAt1:
    """Run every (task, candidate middle) pair, ``workers`` at a time, and score them."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pass_at_1 needs at least one (task, candidate) pair")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda pair: run_candidate(pair[0], pair[1], config), pairs))
    by_task: dict[str, list[bool]] = defaultdict(list)
    for (task, _), result in zip(pairs, results):
        by_task[task.task_id].append(result.passed)
    score = sum(sum(passed) / len(passed) for passed in by_task.values()) / len(by_task)
    return PassAt1(score=score, tasks=len(by_task), results=results)

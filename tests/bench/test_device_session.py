"""The device call's script, run here with the benches off and no payload: its plumbing, not the GPU work."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_session(tmp_path, budget):
    env = {**os.environ, "REHEARSAL": "1", "BENCHES": "0", "PAYLOAD": str(tmp_path / "none"), "BUDGET": str(budget),
           "OUT": str(tmp_path / "out"), "WORK": str(tmp_path / "work")}  # fmt: skip
    done = subprocess.run(["bash", "bench/device/session.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return done, (tmp_path / "out" / "log.txt").read_text()


def test_the_session_logs_each_step_and_ends_inside_its_budget(tmp_path):
    done, log = run_session(tmp_path, 120)
    assert done.returncode == 0, done.stderr
    assert "== device session, budget 120 s, device cpu" in log
    assert "== imports: exit 0" in log and "missing" not in log  # every module the call needs imports here
    assert "== benches: skipped (BENCHES=0)" in log and "go-warm" not in log  # no payload: no GO training
    assert "== done after" in log and log == done.stdout


def test_a_step_that_the_budget_cannot_hold_is_skipped_not_started(tmp_path):
    done, log = run_session(tmp_path, 30)  # the imports step needs at least 20 s inside the budget less 15
    assert done.returncode == 0
    assert "== imports: skipped" in log and "== imports: at most" not in log

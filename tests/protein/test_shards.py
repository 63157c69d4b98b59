"""Large design runs in shards: every design once, complete shards only, resume after a kill, the same
request or a clear refusal, and the shards split between processes (also under `accelerate launch`)."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.protein.design import DesignConfig, DesignError, design
from apps.protein.fasta import read_fasta
from apps.protein.shards import (
    Process,
    complete_shards,
    read_run,
    run_shards,
    shard_seed,
)

pytestmark = pytest.mark.usefixtures("one_thread")
REQUEST = {"length": 30, "motifs": ["3:CXXC"]}


def config(num: int, seed: int) -> DesignConfig:
    return DesignConfig(num=num, steps=4, seed=seed)


def maker(generator_dir, calls: list | None = None, fail_after: int | None = None):
    def make(shard: DesignConfig):
        if fail_after is not None and calls is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt("killed")
        if calls is not None:
            calls.append(shard.seed)
        return design(30, ["3:CXXC"], shard, generator=generator_dir, scorer=None)

    return make


def check_complete(folder: Path, num: int) -> list[dict]:
    rows = read_run(folder)
    assert [r["index"] for r in rows] == list(range(num))  # every design once
    fasta = [r for shard in sorted(complete_shards(folder)) for r in read_fasta(folder / f"shard-{shard:05d}.fasta")]
    assert sorted(int(r.id.split("_")[1]) for r in fasta) == list(range(num))
    assert all(r["sequence"][2] == "C" and r["sequence"][5] == "C" for r in rows)
    assert not list(folder.glob(".*tmp"))
    return rows


def test_a_run_writes_every_design_once_in_complete_shards(tmp_path, generator_dir):
    summary = run_shards(tmp_path / "run", config(25, 7), 10, REQUEST, maker(generator_dir), Process())
    assert summary["shards"] == 3 and summary["made"] == 3
    rows = check_complete(tmp_path / "run", 25)
    assert {r["seed"] for r in rows} == {shard_seed(7, s) for s in range(3)}
    # each FASTA header records what its design was conditioned on and the shard's seed that reproduces it
    first = read_fasta(tmp_path / "run" / "shard-00001.fasta")[0]
    fields = dict(f.split("=", 1) for f in first.description.split()[1:])
    assert first.id == "design_10" and fields["shard"] == "1" and fields["seed"] == str(shard_seed(7, 1))
    assert fields["motifs"] == "3:CXXC@3" and fields["steps"] == "4" and fields["sampler"] == "ancestral"
    again = run_shards(tmp_path / "run", config(25, 7), 10, REQUEST, maker(generator_dir), Process())
    assert again["made"] == 0 and again["skipped_complete"] == 3


def test_a_killed_run_resumes_without_remaking_complete_shards(tmp_path, generator_dir):
    folder, calls = tmp_path / "run", []
    with pytest.raises(KeyboardInterrupt):
        run_shards(folder, config(25, 0), 10, REQUEST, maker(generator_dir, calls, fail_after=1), Process())
    assert complete_shards(folder) == {0}
    # a kill while shard 1 was being written leaves a stray temporary file and its JSON lines, never its FASTA
    (folder / ".shard-00001.fasta.999.tmp").write_text(">half\nMK")
    (folder / "shard-00001.jsonl").write_text('{"index": 10}\n')
    resumed: list = []
    run_shards(folder, config(25, 0), 10, REQUEST, maker(generator_dir, resumed), Process())
    assert resumed == [shard_seed(0, 1), shard_seed(0, 2)]  # shard 0 was not made again
    check_complete(folder, 25)


def _empty(path: Path) -> None:
    path.write_text("")


def _half_the_lines(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]))


def _cut_the_last_sequence(path: Path) -> None:  # every record still parses: only the JSON lines tell
    path.write_text(path.read_text()[:-5] + "\n")


def _swap_two_records(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[2:4] + lines[:2] + lines[4:]))


def _disagree(path: Path) -> None:
    rows = path.read_text().splitlines(keepends=True)
    path.write_text("".join(rows[:-1] + [rows[-1].replace('"sequence": "', '"sequence": "W')]))


def _truncate_json(path: Path) -> None:
    path.write_text(path.read_text()[:-20])


@pytest.mark.parametrize(
    "suffix, damage, reason",
    [
        ("fasta", _empty, "no FASTA records (the file is empty)"),
        ("fasta", _half_the_lines, "shard-00001.fasta holds 5 designs, the run asks 10 of it"),
        ("fasta", _cut_the_last_sequence, "shard-00001.jsonl does not hold the designs of shard-00001.fasta"),
        ("fasta", _swap_two_records, "shard-00001.fasta does not hold designs 10 to 19"),
        ("fasta", lambda p: p.write_text(">design_10\nMK!T\n"), "residue '!' at position 3"),
        ("jsonl", os.remove, "shard-00001.jsonl is missing"),
        ("jsonl", _empty, "shard-00001.jsonl does not hold the designs of shard-00001.fasta"),
        ("jsonl", _disagree, "shard-00001.jsonl does not hold the designs of shard-00001.fasta"),
        ("jsonl", _truncate_json, "shard-00001.jsonl cannot be read"),
        ("jsonl", lambda p: p.write_text("[1, 2]\n" * 10), "shard-00001.jsonl does not hold the designs"),
    ],
)
def test_a_damaged_shard_is_made_again_and_the_run_says_so(tmp_path, generator_dir, suffix, damage, reason):
    folder = tmp_path / "run"
    run_shards(folder, config(25, 5), 10, REQUEST, maker(generator_dir), Process())
    before = read_run(folder)
    damage(folder / f"shard-00001.{suffix}")
    assert complete_shards(folder) == {0, 2}
    calls, said = [], []
    summary = run_shards(folder, config(25, 5), 10, REQUEST, maker(generator_dir, calls), Process(), log=said.append)
    assert calls == [shard_seed(5, 1)] and (summary["made"], summary["redone"], summary["skipped_complete"]) == (1, 1, 2)
    assert said[0].startswith("process 0/1: shard-00001 is damaged (") and reason in said[0]
    assert said[0].endswith("): making it again") and "\n" not in said[0]
    assert check_complete(folder, 25) == before  # the same designs as the first time


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"run.json cannot be read \(Expecting value"),
        ('{"length": 30, "motifs"', "run.json cannot be read"),
        ("[1, 2]", "run.json is not a design run's record"),
        ('{"num": "25", "shard_size": 10}', "run.json is not a design run's record"),
        (b"\xff\xfe", "run.json cannot be read"),
    ],
)
def test_a_corrupt_run_record_is_refused_in_one_line_saying_how_to_start_over(tmp_path, generator_dir, text, message):
    folder = tmp_path / "run"
    run_shards(folder, config(25, 5), 10, REQUEST, maker(generator_dir), Process())
    path = folder / "run.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    calls = []
    with pytest.raises(DesignError, match=message) as refused:
        run_shards(folder, config(25, 5), 10, REQUEST, maker(generator_dir, calls), Process())
    assert str(refused.value).startswith(str(path)) and "\n" not in str(refused.value)
    assert str(refused.value).endswith(f"remove the folder {folder} to start over, or pass another --out")
    assert calls == []


def test_the_same_designs_whichever_process_makes_a_shard(tmp_path, generator_dir):
    alone = tmp_path / "alone"
    run_shards(alone, config(25, 3), 5, REQUEST, maker(generator_dir), Process())
    split = tmp_path / "split"
    first = run_shards(split, config(25, 3), 5, REQUEST, maker(generator_dir), Process(0, 2))
    second = run_shards(split, config(25, 3), 5, REQUEST, maker(generator_dir), Process(1, 2))
    assert (first["made"], second["made"]) == (3, 2)
    assert [r["sequence"] for r in check_complete(split, 25)] == [r["sequence"] for r in read_run(alone)]


def test_a_different_request_in_the_same_folder_is_refused(tmp_path, generator_dir):
    run_shards(tmp_path / "run", config(5, 0), 5, REQUEST, maker(generator_dir), Process())
    with pytest.raises(DesignError, match="differs in length"):
        run_shards(tmp_path / "run", config(5, 0), 5, {**REQUEST, "length": 31}, maker(generator_dir), Process())
    with pytest.raises(DesignError, match="differs in num"):
        run_shards(tmp_path / "run", config(6, 0), 5, REQUEST, maker(generator_dir), Process())
    with pytest.raises(DesignError, match="shard-size must be at least 1"):
        run_shards(tmp_path / "other", config(5, 0), 0, REQUEST, maker(generator_dir), Process())


def test_bad_process_environment_is_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(DesignError, match="RANK 2 of WORLD_SIZE 2"):
        Process.from_environment()


def _design_command(generator_dir: Path, out: Path, num: int, shard_size: int, steps: int) -> list[str]:
    return ["-m", "apps.protein.cli", "design", "--length", "40", "--motif", "3:CXXC", "--num", str(num), "--shard-size", str(shard_size),
            "--out", str(out), "--model", str(generator_dir), "--scorer", "none", "--steps", str(steps)]  # fmt: skip


def test_cli_run_killed_part_way_and_restarted_ends_with_exactly_num_designs(tmp_path, generator_dir):
    out = tmp_path / "run"
    command = [sys.executable, *_design_command(generator_dir, out, 60, 6, 120)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "shard-00001.fasta").exists():
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() else "slow"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_with = complete_shards(out)
    assert 2 <= len(killed_with) < 10
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert f"{len(killed_with)} already complete" in second.stderr
    check_complete(out, 60)


def test_cli_run_with_shards_emptied_or_truncated_by_hand_ends_with_exactly_num_designs(tmp_path, generator_dir, capsys):
    from apps.protein.cli import main

    out = tmp_path / "run"
    argv = _design_command(generator_dir, out, 40, 10, 4)[2:]
    assert main(argv) == 0
    first = read_run(out)
    (out / "shard-00003.fasta").write_text("")  # `: > run/shard-00003.fasta`
    _half_the_lines(out / "shard-00001.fasta")
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    damaged = [line for line in err if "is damaged" in line]
    assert len(damaged) == 2 and "shard-00001 is damaged (" in damaged[0] and "shard-00003 is damaged (" in damaged[1]
    assert "2 shards written (2 of them damaged ones made again), 2 already complete, of its 4" in err[-1]
    assert check_complete(out, 40) == first and len({r["index"] for r in first}) == 40


def test_cli_refuses_a_corrupt_run_record_before_loading_a_model(tmp_path, generator_dir, capsys, monkeypatch):
    from apps.protein.cli import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"length": 40, "mot')
    (out / "shard-00000.fasta").write_text(">design_0\nMKT\n")

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(importlib.import_module("apps.protein.design"), "load_generator", no_loading)
    assert main(_design_command(generator_dir, out, 40, 10, 4)[2:]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dlm-protein design: error: {out / 'run.json'} cannot be read (") and err.count("\n") == 1
    assert f"remove the folder {out} to start over, or pass another --out" in err


def test_accelerate_launch_splits_the_shards_between_processes(tmp_path, generator_dir):
    out = tmp_path / "run"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([*launch, *_design_command(generator_dir, out, 25, 5, 4)], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "process 0 of 2: 3 shards written" in done.stderr and "process 1 of 2: 2 shards written" in done.stderr
    check_complete(out, 25)

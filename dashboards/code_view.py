"""What the code page computes apart from Streamlit: where the hole is in pasted code, the diff a candidate
makes, and the step-by-step replay of the denoising that made it."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from apps.code import FILL, Candidate, find_errors, get_grammar, grammar_for_path
from shared_dlm import StepRecord

AUTO = "auto (from the file name)"
NEWLINE = b"\n"


@dataclass(frozen=True)
class Hole:
    prefix: str
    suffix: str
    original: str  # what the hole replaces: the <FILL> marker, or the lines chosen
    name: str  # the file's name, for the diff


def read_upload(name: str, data: bytes) -> str:
    """An uploaded source file as text, with an error that names it when it is not UTF-8 source."""
    if b"\0" in data:
        raise ValueError(f"{name} looks binary (it holds NUL bytes): upload a source file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{name} is not UTF-8 text ({error}): upload a source file") from None


def find_hole(text: str, first: int, last: int, name: str) -> Hole:
    """The hole of ``text``: its one ``<FILL>`` marker when ``first`` is 0, else lines ``first``..``last``
    (1-based, inclusive), replaced whole."""
    if not text.strip():
        raise ValueError(f"no code: paste or upload a file with one {FILL} marker, or give lines to replace")
    count = text.count(FILL)
    if first == 0:
        if count != 1:
            what = f"no {FILL} marker" if count == 0 else f"{count} {FILL} markers"
            raise ValueError(
                f"the code holds {what}: put exactly one where the code should go, or give the lines to replace"
            )
        prefix, suffix = text.split(FILL)
        return Hole(prefix, suffix, FILL, name)
    if count:
        raise ValueError(f"the code holds a {FILL} marker and lines to replace were given: use one or the other")
    lines = text.splitlines(keepends=True)
    if not 1 <= first <= last <= len(lines):
        raise ValueError(
            f"lines {first} to {last}: the code has {len(lines)} lines; pick 1 <= first <= last <= {len(lines)}"
        )
    before, middle, after = lines[: first - 1], lines[first - 1 : last], lines[last:]
    return Hole("".join(before), "".join(after), "".join(middle), name)


def pick_language(choice: str, name: str | None) -> str:
    """The grammar chosen, or the one the file name tells when ``choice`` is ``AUTO``."""
    if choice != AUTO:
        return get_grammar(choice).name
    if name is None:
        raise ValueError("the language cannot be told from pasted code: pick one, or upload a file with its extension")
    try:
        return grammar_for_path(name).name
    except ValueError as error:
        raise ValueError(f"{error}; pick the language") from None


def diff(hole: Hole, text: str) -> str:
    """Unified diff of the file before (with the marker or the old lines) and after the candidate."""
    before = (hole.prefix + hole.original + hole.suffix).splitlines(keepends=True)
    after = (hole.prefix + text + hole.suffix).splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, f"a/{hole.name}", f"b/{hole.name}", n=2)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def syntax_errors(hole: Hole, text: str, language: str) -> list[str]:
    """Where tree-sitter finds the filled file broken, one line each: "line 12: MISSING )"."""
    source = (hole.prefix + text + hole.suffix).encode("utf-8")
    return [f"line {source.count(NEWLINE, 0, p.start) + 1}: {p.kind}" for p in find_errors(source, language)]


# What a hole slot did at a step, as the replay colours it.
COMMITTED, KEPT, MASKED, SYNTAX, SAMPLER, ENDED = "committed", "kept", "masked", "syntax", "sampler", "ended"


@dataclass(frozen=True)
class Slot:
    text: str  # the token, "" while masked
    state: str  # one of the states above


@dataclass(frozen=True)
class Step:
    step: int  # 1-based
    slots: tuple[Slot, ...]

    def count(self, state: str) -> int:
        return sum(s.state == state for s in self.slots)


@dataclass(frozen=True)
class Replay:
    """One candidate's hole through the denoising: the row of the batch that made it and every step."""

    row: int
    positions: tuple[int, ...]  # canvas positions of the row's hole slots
    steps: tuple[Step, ...]


def _hole(free: Tensor, lead: int) -> Tensor:
    """The hole's positions in a row: its free slots (L,) bool, after ``lead`` fixed ones."""
    positions = free.nonzero()[:, 0]
    start = int(positions[0]) if len(positions) else 0
    return torch.cat([torch.arange(start - lead, start), positions])


def replay(records: Sequence[StepRecord], candidate: Candidate, tokenizer) -> Replay:
    """The replay of the batch row that made ``candidate`` (``infill`` returns texts, not rows: the row is
    the one whose final hole reads as the candidate, with its slots, length and score). The hole's slots are
    its free ones, after the ``candidate.lead`` slots that hold whitespace healed from the prefix."""
    mask, eoi, lead = tokenizer.mask_token_id, tokenizer.eoi_token_id, candidate.lead
    free = records[0].committed | (records[0].ids == mask)  # (B, L): the rows' free hole slots
    final = records[-1]
    best, row = math.inf, None
    for b in range(free.shape[0]):
        positions = _hole(free[b], lead)
        if len(positions) != candidate.slots:
            continue
        tokens = final.ids[b, positions].tolist()
        length = tokens.index(eoi) if eoi in tokens else len(tokens)
        text = tokenizer.decode(tokens[:length], skip_special_tokens=True)
        # the candidate is the row's text less whitespace at its ends: healed from the prefix before it, and
        # trailing whitespace where the suffix starts a new line
        if length != candidate.length or text.strip() != candidate.text.strip():
            continue
        score = float(final.logp[b, positions[lead:length]].mean()) if length > lead else math.nan
        gap = 0.0 if math.isnan(score) and math.isnan(candidate.score) else abs(score - candidate.score)
        if gap < best:
            best, row = gap, b
    if row is None:
        raise ValueError(f"no row of the trace made the candidate {candidate.text!r}")
    positions = _hole(free[row], lead)
    steps = []
    for record in records:
        ids = record.ids[row, positions].tolist()
        committed = record.committed[row, positions].tolist()
        syntax = record.hook_remasked[row, positions].tolist()
        sampler = record.remasked[row, positions].tolist()
        slots, ended = [], False
        for token, c, h, s in zip(ids, committed, syntax, sampler):
            text = "" if token == mask else tokenizer.decode([token])
            if h:
                state = SYNTAX
            elif s:
                state = SAMPLER
            elif token == mask:
                state = MASKED
            elif ended:
                state = ENDED  # after the first <eoi>: read as nothing
            else:
                state = COMMITTED if c else KEPT
            ended = ended or token == eoi
            slots.append(Slot(text, state))
        steps.append(Step(record.step + 1, tuple(slots)))
    return Replay(row, tuple(positions.tolist()), tuple(steps))

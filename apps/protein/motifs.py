"""Motif specifications for protein design: parse them, place them in a design, and build its canvas.

Syntax (1-based positions, as biologists count):

* ``POS:RESIDUES`` is *fixed*: its first residue sits at position POS, e.g. ``12:HXXH``.
* ``START-END:RESIDUES`` *floats*: it is placed wholly inside positions START..END (inclusive),
  at an offset drawn uniformly from those that fit, e.g. ``30-80:CXXC``.
* ``X`` inside a motif means any standard residue (generated, not fixed).

Fixed motifs may overlap where they agree (``X`` agrees with every residue). A floating motif takes
positions no other motif holds, so two floating copies of one motif give two occurrences.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from apps.protein.alphabet import (
    ALPHABET,
    ESM_IDS,
    STANDARD_IDS,
    STANDARD_RESIDUES,
    VOCAB_SIZE,
    ResidueIds,
    upper_residues,
)
from shared_dlm import Canvas, TokenSpec

ANY = "X"
MAX_LENGTH = 1022
"""Default longest design: ESM-2 was trained on 1024 tokens, i.e. 1022 residues plus <cls> and <eos>."""

_SPEC = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?:\s*([A-Za-z]*)\s*$")
_REJECTION_TRIES = 1000


@dataclass(frozen=True)
class Motif:
    """A run of residues (``X`` = any) to keep in a design.

    Fixed: ``start`` is the position of the first residue and ``end`` of the last. Floating: the motif
    lies somewhere inside the window ``start..end``. Positions are 1-based and inclusive.
    """

    residues: str
    start: int
    end: int
    floating: bool

    def __str__(self) -> str:
        """The motif in CLI syntax, as error messages quote it."""
        where = f"{self.start}-{self.end}" if self.floating else f"{self.start}"
        return f"{where}:{self.residues}"


def parse_motif(spec: str) -> Motif:
    """One motif from CLI syntax; a ValueError naming the spec if it is malformed."""
    match = _SPEC.match(spec)
    if match is None:
        raise ValueError(f"motif {spec!r}: expected POS:RESIDUES (fixed) or START-END:RESIDUES (floating), e.g. 12:HXXH or 30-80:CXXC")
    first, last, residues = int(match[1]), match[2], match[3].upper()
    if not residues:
        raise ValueError(f"motif {spec!r}: has no residues")
    for index, letter in enumerate(residues, start=1):
        if letter not in STANDARD_RESIDUES and letter != ANY:
            raise ValueError(
                f"motif {spec!r}: residue {letter!r} at motif position {index} is not a standard amino acid "
                f"({STANDARD_RESIDUES}) or {ANY} (any)"
            )
    if first < 1:
        raise ValueError(f"motif {spec!r}: positions start at 1, got {first}")
    if last is None:
        return Motif(residues, first, first + len(residues) - 1, floating=False)
    end = int(last)
    if end < first:
        raise ValueError(f"motif {spec!r}: window end {end} is before its start {first}")
    if end - first + 1 < len(residues):
        raise ValueError(
            f"motif {spec!r}: {len(residues)} residues cannot fit the window {first}-{end} ({end - first + 1} positions)"
        )
    return Motif(residues, first, end, floating=True)


def parse_motifs(specs: str | Iterable[str]) -> list[Motif]:
    """Motifs from one string or several; commas also separate motifs (``"5:ACD,30-80:CXXC"``)."""
    if isinstance(specs, str):
        specs = [specs]
    return [parse_motif(part) for spec in specs for part in spec.split(",") if part.strip()]


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value
class Placement:
    """Every motif at its final position, and the design's template and allowed residues."""

    length: int
    motifs: tuple[Motif, ...]
    starts: tuple[int, ...]  # 1-based position of each motif's first residue, as placed
    template: tuple[int | None, ...]  # (L,) ESM id of a fixed residue, or None where one is generated
    allowed: Tensor  # (L, V) bool over the ESM vocabulary

    def recovery(self, sequence: str) -> float:
        """Fraction of the motifs' specified (non-X) residues that ``sequence`` keeps."""
        wanted = [(start - 1 + i, r) for m, start in zip(self.motifs, self.starts) for i, r in enumerate(m.residues) if r != ANY]
        if not wanted:
            return 1.0
        return sum(i < len(sequence) and sequence[i] == r for i, r in wanted) / len(wanted)


def place(
    motifs: Sequence[Motif],
    length: int,
    generator: random.Random | torch.Generator,
    *,
    forbid: str = "",
    allowed_at: Mapping[int, str] | None = None,
    max_length: int = MAX_LENGTH,
) -> Placement:
    """Place the floating motifs and build the template of a design of ``length`` residues.

    Each floating motif goes to an offset inside its window where it overlaps no other motif and
    respects ``allowed_at``; the joint placement is uniform over all valid ones (rejection sampling,
    falling back to a randomised search when valid placements are rare). ``forbid`` removes residues
    at free (non-motif) positions; ``allowed_at`` maps 1-based positions to the residues allowed there.
    Every position allows the 20 standard residues only; motif ``X`` positions allow all 20.
    """
    if not 1 <= length <= max_length:
        raise ValueError(f"design length must be between 1 and {max_length}, got {length}")
    forbid = upper_residues(forbid)
    bad = sorted(set(forbid) - set(STANDARD_RESIDUES))
    if bad:
        raise ValueError(f"forbid={forbid!r}: {bad[0]!r} is not a standard amino acid ({STANDARD_RESIDUES})")
    sets = _position_sets(allowed_at or {}, length)
    fixed = _fixed_residues([m for m in motifs if not m.floating], length)
    for position, residue in fixed.items():
        if residue != ANY and position in sets and residue not in sets[position]:
            raise ValueError(f"position {position} holds motif residue {residue!r}, which allowed_at excludes ({sets[position]!r})")
    floating = [m for m in motifs if m.floating]
    for motif in floating:
        if motif.end > length:
            raise ValueError(f"motif {motif}: window ends at {motif.end}, past the end of a design of length {length}")
    options = [_offsets(m, fixed, sets) for m in floating]
    for motif, offsets in zip(floating, options):
        if not offsets:
            raise ValueError(f"motif {motif}: no offset in its window avoids the fixed motifs and allowed_at")
    chosen = _choose(floating, options, generator)
    if chosen is None:
        raise ValueError(f"no placement of the floating motifs {', '.join(map(str, floating))} keeps them apart in length {length}")
    drawn = iter(chosen)  # in the order of `floating`, i.e. of the floating motifs in `motifs`
    starts = tuple(next(drawn) if m.floating else m.start for m in motifs)

    residues: dict[int, str] = dict(fixed)
    for motif, start in zip(floating, chosen):
        residues.update(_span(motif, start))
    template = tuple(
        None if residues.get(p, ANY) == ANY else ALPHABET.get_idx(residues[p]) for p in range(1, length + 1)
    )
    allowed = torch.zeros(length, VOCAB_SIZE, dtype=torch.bool)
    standard = torch.tensor(STANDARD_IDS)
    free_ids = torch.tensor([ALPHABET.get_idx(r) for r in STANDARD_RESIDUES if r not in forbid], dtype=torch.long)
    for p in range(1, length + 1):
        row = allowed[p - 1]
        if template[p - 1] is not None:
            row[template[p - 1]] = True
            continue
        row[standard if p in residues else free_ids] = True
        if p in sets:
            keep = torch.zeros(VOCAB_SIZE, dtype=torch.bool)
            keep[[ALPHABET.get_idx(r) for r in sets[p]]] = True
            row &= keep
        if not row.any():
            raise ValueError(f"position {p}: forbid={forbid!r} and allowed_at leave no residue allowed")
    return Placement(length, tuple(motifs), starts, template, allowed)


def to_canvas(
    placement: Placement,
    spec: TokenSpec,
    batch: int = 1,
    *,
    specials: bool = True,
    residues: ResidueIds = ESM_IDS,
    device: torch.device | str = "cpu",
) -> Canvas:
    """The placement as a core ``Canvas`` of ``batch`` rows for a model with token ids ``spec`` that writes
    residues as ``residues`` says (the ESM alphabet by default; ``ResidueIds.of_tokenizer`` for another model).

    ``specials=True`` wraps the chain: its start token at position 0, the residues at 1..L, its end token at
    L+1, both fixed (offset 1, length L+2). ``specials=False`` is the plain layout: residues at 0..L-1.
    Only residue ids are ever allowed at the residue positions (never a model's extra or special tokens).
    """
    largest = max([*residues.ids.values(), residues.start, residues.end])
    if spec.vocab_size <= largest:
        raise ValueError(f"the model's vocabulary has {spec.vocab_size} tokens; its residue ids go up to {largest}")
    allowed = torch.zeros(placement.length, spec.vocab_size, dtype=torch.bool)  # (L, V)
    for residue in STANDARD_RESIDUES:  # placement.allowed is over ESM ids, and only ever allows standard residues
        allowed[:, residues.ids[residue]] = placement.allowed[:, ALPHABET.get_idx(residue)]
    template = [None if i is None else residues.ids[ALPHABET.get_tok(i)] for i in placement.template]
    if specials:
        ends = torch.zeros(2, spec.vocab_size, dtype=torch.bool)
        ends[0, residues.start] = ends[1, residues.end] = True
        allowed = torch.cat([ends[:1], allowed, ends[1:]])
        template = [residues.start, *template, residues.end]
    return Canvas.from_template(template, spec, batch=batch, allowed=allowed.to(device), device=device)


def from_canvas(canvas: Canvas, *, specials: bool = True, residues: ResidueIds = ESM_IDS) -> list[str]:
    """The residue strings of a filled canvas laid out by ``to_canvas`` with the same ``residues``."""
    ids = canvas.ids[:, 1:-1] if specials else canvas.ids  # (B, L)
    return [residues.decode(row) for row in ids.tolist()]


def _position_sets(allowed_at: Mapping[int, str], length: int) -> dict[int, str]:
    sets = {}
    for position, letters in allowed_at.items():
        if not 1 <= position <= length:
            raise ValueError(f"allowed_at position {position} is outside the design (1..{length})")
        letters = upper_residues(letters)
        bad = sorted(set(letters) - set(STANDARD_RESIDUES))
        if bad or not letters:
            raise ValueError(f"allowed_at[{position}]={letters!r}: expected standard amino acids ({STANDARD_RESIDUES})")
        sets[position] = letters
    return sets


def _span(motif: Motif, start: int) -> dict[int, str]:
    return {start + i: r for i, r in enumerate(motif.residues)}


def _fixed_residues(motifs: Sequence[Motif], length: int) -> dict[int, str]:
    """Position -> residue over all fixed motifs; a ValueError where two disagree or one runs past the end."""
    residues: dict[int, str] = {}
    owner: dict[int, Motif] = {}
    for motif in motifs:
        if motif.end > length:
            raise ValueError(f"motif {motif}: ends at position {motif.end}, past the end of a design of length {length}")
        for position, residue in _span(motif, motif.start).items():
            held = residues.get(position, ANY)
            if ANY not in (held, residue) and held != residue:
                raise ValueError(
                    f"motifs {owner[position]} and {motif} disagree at position {position}: {held!r} against {residue!r}"
                )
            if held == ANY:
                residues[position], owner[position] = residue, motif
    return residues


def _offsets(motif: Motif, fixed: Mapping[int, str], sets: Mapping[int, str]) -> list[int]:
    """Starts inside the window where the motif overlaps no fixed motif and respects the allowed sets."""
    size = len(motif.residues)
    return [
        start
        for start in range(motif.start, motif.end - size + 2)
        if all(p not in fixed and (r == ANY or p not in sets or r in sets[p]) for p, r in _span(motif, start).items())
    ]


def _choose(motifs: list[Motif], options: list[list[int]], generator: random.Random | torch.Generator) -> list[int] | None:
    """A joint start per floating motif with no two overlapping, or None if there is none.

    Drawing each start uniformly and rejecting overlaps samples the valid joint placements uniformly;
    when that keeps failing (valid placements are rare), a search in random order finds one or proves
    there is none.
    """
    sizes = [len(m.residues) for m in motifs]
    for _ in range(_REJECTION_TRIES):
        starts = [offsets[_below(len(offsets), generator)] for offsets in options]
        if _apart(starts, sizes):
            return starts
    return _search([], options, sizes, generator)


def _search(starts: list[int], options: list[list[int]], sizes: list[int], generator) -> list[int] | None:
    if len(starts) == len(options):
        return starts
    offsets = options[len(starts)]
    for k in _permutation(len(offsets), generator):
        candidate = [*starts, offsets[k]]
        if _apart(candidate, sizes[: len(candidate)]):
            found = _search(candidate, options, sizes, generator)
            if found is not None:
                return found
    return None


def _apart(starts: list[int], sizes: list[int]) -> bool:
    spans = sorted(zip(starts, sizes))
    return all(a + n <= b for (a, n), (b, _) in itertools.pairwise(spans))


def _below(n: int, generator: random.Random | torch.Generator) -> int:
    if isinstance(generator, torch.Generator):
        return int(torch.randint(n, (1,), generator=generator))
    return generator.randrange(n)


def _permutation(n: int, generator: random.Random | torch.Generator) -> list[int]:
    if isinstance(generator, torch.Generator):
        return torch.randperm(n, generator=generator).tolist()
    return generator.sample(range(n), n)

"""Antibody chains numbered into frameworks and CDRs (IMGT), with the chain type and closest germline.

Numbering is ``anarcism``'s (Apache-2.0): ANARCI-compatible IMGT numbering from HMM profiles compiled into the
package, no external binaries. It offers IMGT only, so that is the one scheme here (Kabat and Chothia would
need ANARCI with HMMER). Regions follow IMGT's definitions: FR1 1-26, CDR1 27-38, FR2 39-55, CDR2 56-65, FR3
66-104, CDR3 105-117, FR4 118-128; insertions (111A, 112A, ...) belong to the region around them.

Region names for a user: ``cdrh3``, ``frl1``, ... (``cdr``/``fr``, the chain's letter, the number), or an IMGT
range on a chain, ``H:105-117`` (inclusive, insertions inside it included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import anarcism

REGIONS = ("FR1", "CDR1", "FR2", "CDR2", "FR3", "CDR3", "FR4")
HEAVY, LIGHT = "H", "L"
# anarcism's chain types: H heavy; K kappa and L lambda, both light; the rest are T-cell receptor chains
CHAIN_OF = {"H": HEAVY, "K": LIGHT, "L": LIGHT}
RANGE = re.compile(r"^([HL]):(\d+)-(\d+)$")
NAME = re.compile(r"^(cdr|fr)([hl])([1-4])$")


class NumberingError(ValueError):
    """A sequence that does not number as an antibody variable domain, or a region that is not on it."""


@dataclass(frozen=True)
class Numbered:
    """One antibody variable domain. ``positions[i]`` is the IMGT label of ``sequence[i]`` (``"111A"``), None
    for residues outside the domain (a constant-region tail, a tag); ``regions[i]`` its region, or None."""

    sequence: str
    chain: str  # "H" or "L"
    chain_type: str  # anarcism's: "H", "K" (kappa) or "L" (lambda)
    species: str  # the species whose profile fitted best
    positions: tuple[str | None, ...]
    regions: tuple[str | None, ...]
    v_gene: str | None = None  # closest human germline V gene, and the identity to it over the V region
    v_identity: float | None = None

    def indices(self, region: str) -> list[int]:
        """Sequence indices of an IMGT region ("CDR3") of this chain."""
        return [i for i, r in enumerate(self.regions) if r == region]

    def cdr_indices(self) -> list[int]:
        return [i for i, r in enumerate(self.regions) if r is not None and r.startswith("CDR")]

    def framework_indices(self) -> list[int]:
        return [i for i, r in enumerate(self.regions) if r is not None and r.startswith("FR")]

    def segments(self) -> list[tuple[str, str]]:
        """(region, residues) in order, for display."""
        out: list[tuple[str, str]] = []
        for residue, region in zip(self.sequence, self.regions):
            name = region or "-"
            if out and out[-1][0] == name:
                out[-1] = (name, out[-1][1] + residue)
            else:
                out.append((name, residue))
        return out


def number(sequence: str, germline: bool = True) -> Numbered:
    """Number one chain (IMGT); the closest human V gene with ``germline``. Refuses what is not one
    antibody variable domain."""
    try:
        result = anarcism.number_sequence(sequence)
    except anarcism.AnarcismError as err:
        raise NumberingError(f"cannot number the sequence: {err}") from None
    if not result.domains:
        raise NumberingError("the sequence does not number as an antibody variable domain (no IMGT profile fits)")
    if len(result.domains) > 1:
        raise NumberingError(f"the sequence holds {len(result.domains)} variable domains: give one chain a record")
    domain = result.domains[0]
    if domain.chain_type not in CHAIN_OF:
        raise NumberingError(f"the sequence numbers as a T-cell receptor chain ({domain.chain_type}), not an antibody")
    positions: list[str | None] = [None] * len(sequence)
    regions: list[str | None] = [None] * len(sequence)
    for residue in domain.numbering:
        positions[residue.sequence_index] = f"{residue.position}{residue.insertion_code}"
        regions[residue.sequence_index] = residue.region
    found = closest_human_germline(sequence) if germline else None
    return Numbered(
        sequence=sequence,
        chain=CHAIN_OF[domain.chain_type],
        chain_type=domain.chain_type,
        species=domain.species,
        positions=tuple(positions),
        regions=tuple(regions),
        v_gene=found.v_gene if found else None,
        v_identity=found.v_identity if found else None,
    )


def closest_human_germline(sequence: str) -> anarcism.GermlineAssignment | None:
    """The closest human V and J genes of a chain (aligned to the human profiles whatever its species)."""
    human = anarcism.number_sequence(sequence, allowed_species=["human"], assign_germline=True)
    return human.domains[0].germline if human.domains else None


def region_chain(spec: str) -> str | None:
    """The chain ("H" or "L") a region spec names (``cdrh3``, ``L:27-38``); None for what is no region spec."""
    text = spec.strip()
    named, ranged = NAME.match(text.lower()), RANGE.match(text.upper())
    return named.group(2).upper() if named else ranged.group(1) if ranged else None


def region_indices(numbered: Numbered, spec: str) -> list[int]:
    """Sequence indices of a region given as ``cdrh3``/``frl2`` or ``H:105-117``; an error names what is wrong
    (an unknown name, another chain's region, a range outside the chain)."""
    text = spec.strip()
    named, ranged = NAME.match(text.lower()), RANGE.match(text.upper())
    if named:
        kind, chain, index = named.groups()
        if chain.upper() != numbered.chain:
            raise NumberingError(f"{spec!r} is a region of the {'heavy' if chain == 'h' else 'light'} chain; "
                                 f"this chain is {'heavy' if numbered.chain == HEAVY else 'light'}")
        if kind == "cdr" and index == "4":
            raise NumberingError(f"unknown region {spec!r}: CDRs are 1-3, frameworks 1-4")
        return numbered.indices(f"{kind.upper()}{index}")
    if ranged:
        chain, first, last = ranged.group(1), int(ranged.group(2)), int(ranged.group(3))
        if chain != numbered.chain:
            raise NumberingError(f"{spec!r} is on chain {chain}, this chain is {numbered.chain}")
        if first > last:
            raise NumberingError(f"{spec!r}: the range's start is after its end")
        out = [i for i, p in enumerate(numbered.positions) if p is not None and first <= int(p.rstrip("ABCDEFGHIJ")) <= last]
        if not out:
            raise NumberingError(f"{spec!r}: no residue of this chain is numbered in IMGT {first}-{last} (1-128)")
        return out
    raise NumberingError(
        f"unknown region {spec!r}: expected cdrh1-3, cdrl1-3, frh1-4, frl1-4, or an IMGT range such as H:105-117"
    )

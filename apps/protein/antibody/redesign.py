"""Redesign named regions of an antibody chain (a CDR, a framework, an IMGT range) with everything else fixed,
on a pretrained antibody language model as the denoiser.

The request becomes the protein app's design request: the chain as one fixed motif with ``X`` at the redesigned
positions, handed to ``apps.protein.design.design`` with the antibody model as the generator (it writes residues
in its own ids, ``ResidueIds``). With ``length_range`` a single contiguous region (a CDR) may change length: each
length is a canvas of its own, the designs of every length ranked together.

Ranking: by the generator's mean log-probability of the residues it committed (higher first), ties by sample.
Every design is numbered again (IMGT), so its CDRs are read off the design, not assumed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from apps.protein.alphabet import STANDARD_RESIDUES, ResidueIds, check_residues
from apps.protein.antibody.models import ANTIBERTY
from apps.protein.antibody.numbering import Numbered, NumberingError, number, region_indices
from apps.protein.design import DesignConfig, DesignError, Generator, design
from shared_dlm import load

SAPIENS = "sapiens"
"""Generator name meaning the Sapiens model of the chain's type (``sapiens-vh`` or ``sapiens-vl``)."""
SAPIENS_OF_CHAIN = {"H": "sapiens-vh", "L": "sapiens-vl"}
GENERATORS = (ANTIBERTY, SAPIENS, *SAPIENS_OF_CHAIN.values())
DEFAULT_CONFIG = DesignConfig(num=8, sampler="confidence", temperature=0.25, order_noise=0.0)
"""Redesign's defaults: eight designs, the most confident position committed first (no order noise: unlike our
CPU-trained protein generator, the pretrained antibody models do not collapse to runs of one residue), at
temperature 0.25. On the CDR-H3 of 63 heavy chains (``dlm-protein eval antibody --chain H --tasks cdr3``) AntiBERTy
recovered 53.3% of the native residues at temperature 0.5, 55.3% at 0.25 and 55.6% at 0 (every design alike),
against 54.0% for its one-shot argmax; 0.25 keeps the designs apart (docs/antibody.md: chosen on those chains)."""


@dataclass(frozen=True)
class AntibodyDesign:
    rank: int  # 1 is best
    sample: int  # row of its canvas: with the seed and the length, what reproduces it
    sequence: str
    parent: str
    regions: tuple[str, ...]  # as requested
    redesigned: str  # the residues generated in place of the regions, in order
    generator_log_prob: float  # mean log-probability of the generated residues when committed
    numbered: Numbered | None  # the design numbered again; None if it no longer numbers as a chain

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("rank", "sample", "sequence", "parent", "redesigned", "generator_log_prob")}
        out["regions"] = list(self.regions)
        out["cdrs"] = None if self.numbered is None else {
            r: "".join(self.sequence[i] for i in self.numbered.indices(r)) for r in ("CDR1", "CDR2", "CDR3")
        }  # fmt: skip
        return out


class RedesignError(ValueError):
    """A redesign request that cannot be met; the message names the bad value."""


@functools.cache
def antibody_generator(name: str) -> Generator:
    """An antibody language model as the design pipeline's generator, loaded once per process on the CPU."""
    if name not in GENERATORS or name == SAPIENS:
        raise RedesignError(f"unknown antibody model {name!r}: expected one of {', '.join(GENERATORS)}")
    loaded = load(name)
    return Generator(loaded.model, None, name, ResidueIds.of_tokenizer(loaded.tokenizer))


def generator_for(name: str, chain: str) -> Generator:
    """The generator ``name`` for a chain ("H"/"L"): ``sapiens`` picks the chain's Sapiens model."""
    if name == SAPIENS:
        name = SAPIENS_OF_CHAIN[chain]
    elif name in SAPIENS_OF_CHAIN.values() and name != SAPIENS_OF_CHAIN[chain]:
        raise RedesignError(f"{name} models {'heavy' if name.endswith('vh') else 'light'} chains; this chain is "
                            f"{'heavy' if chain == 'H' else 'light'} (pass sapiens to pick by chain)")  # fmt: skip
    return antibody_generator(name)


def redesign_indices(numbered: Numbered, regions: Sequence[str]) -> list[int]:
    """Sequence indices of the union of ``regions`` (names or IMGT ranges), sorted; a RedesignError if none."""
    if not regions:
        raise RedesignError("name at least one region to redesign (cdrh3, frl1, H:105-117, ...)")
    try:
        indices = sorted({i for spec in regions for i in region_indices(numbered, spec)})
    except NumberingError as err:
        raise RedesignError(str(err)) from None
    if not indices:
        raise RedesignError(f"the regions {', '.join(regions)} hold no residue of this chain")
    return indices


def redesign(
    sequence: str,
    regions: Sequence[str],
    config: DesignConfig = DEFAULT_CONFIG,
    *,
    generator: str = ANTIBERTY,
    length_range: tuple[int, int] | None = None,
    numbered: Numbered | None = None,
) -> list[AntibodyDesign]:
    """``config.num`` redesigns of ``regions`` of one chain, best first. ``generator``: ``antiberty``, ``sapiens``
    (the chain's), ``sapiens-vh`` or ``sapiens-vl``. ``length_range`` (min, max residues): the one contiguous
    region may take any length in it, ``config.num`` designs spread over the lengths."""
    try:
        check_residues(sequence, STANDARD_RESIDUES)
        numbered = numbered or number(sequence)
    except (ValueError, NumberingError) as err:
        raise RedesignError(str(err)) from None
    indices = redesign_indices(numbered, regions)
    model = generator_for(generator, numbered.chain)
    lengths = _lengths(indices, length_range, numbered)
    longest = model.spec.max_len - 2
    per_length = math.ceil(config.num / len(lengths))
    designs: list[AntibodyDesign] = []
    for size in lengths:
        template = _template(sequence, indices, size, length_range is not None)
        if len(template) > longest:
            raise RedesignError(f"the chain would have {len(template)} residues; {model.source} reads at most {longest}")
        try:
            made = design(len(template), [f"1:{template}"], replace(config, num=per_length), generator=model, scorer=None)
        except DesignError as err:
            raise RedesignError(str(err)) from None
        designs.extend(_design(d.sequence, d.sample, template, sequence, regions, d.scores["generator_log_prob"]) for d in made)
    designs.sort(key=lambda d: (-d.generator_log_prob, len(d.sequence), d.sample))
    return [replace(d, rank=rank) for rank, d in enumerate(designs[: config.num], start=1)]


def _lengths(indices: list[int], length_range: tuple[int, int] | None, numbered: Numbered) -> list[int]:
    if length_range is None:
        return [len(indices)]
    low, high = length_range
    if not 1 <= low <= high:
        raise RedesignError(f"length range {low}-{high}: expected 1 <= min <= max")
    if indices != list(range(indices[0], indices[-1] + 1)):
        raise RedesignError("a length range needs one contiguous region to redesign (a CDR), not several")
    # IMGT numbers CDR1 and CDR2 in 12 and 10 positions, CDR3 without a limit (insertions): a longer CDR1/2 would
    # not number again
    regions = {numbered.regions[i] for i in indices}
    room = {"CDR1": 12, "CDR2": 10}
    for region in regions & set(room):
        if high > room[region]:
            raise RedesignError(f"{region} has at most {room[region]} residues in IMGT numbering; got a maximum of {high}")
    return list(range(low, high + 1))


def _template(sequence: str, indices: list[int], size: int, resize: bool) -> str:
    """The chain with ``X`` at the redesigned positions (``size`` of them in place of a contiguous region)."""
    if resize:
        return sequence[: indices[0]] + "X" * size + sequence[indices[-1] + 1 :]
    chosen = set(indices)
    return "".join("X" if i in chosen else r for i, r in enumerate(sequence))


def _design(designed: str, sample: int, template: str, parent: str, regions, log_prob: float) -> AntibodyDesign:
    try:
        again = number(designed, germline=False)
    except NumberingError:
        again = None
    redesigned = "".join(r for r, t in zip(designed, template) if t == "X")
    return AntibodyDesign(0, sample, designed, parent, tuple(regions), redesigned, log_prob, again)

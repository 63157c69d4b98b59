"""Humanize an antibody chain: its frameworks redesigned toward the human repertoire with the Sapiens model of
the chain's type, every CDR residue (and, with ``keep_vernier``, every Vernier-zone residue) kept.

Two methods over one loop (mask, sample, keep), each round scored by Sapiens humanness:

- ``masked`` (default): each framework residue masked in turn under Sapiens (BioPhi's Sapiens humanization
  reads the model's prediction at each position; masking keeps a residue from predicting itself); every free
  position whose residue Sapiens gives less than ``threshold`` takes the most probable one; repeated until
  nothing changes or the rounds run out.
- ``diffusion``: the design pipeline resamples the least human framework positions (those whose residue has the
  lowest Sapiens probability, ``fraction`` of the free ones) with Sapiens as the denoiser and everything else
  fixed; the most human candidate is kept if it raises the chain's humanness, else the loop stops.

``cdr_graft`` is the classical baseline: the parental CDRs on the frameworks of the closest human V and J
germline genes (``anarci``'s IMGT-aligned germline sequences, BSD-3).

Vernier zone (Foote & Winter 1992, the residues under the CDRs that shape them), Kabat H2, H27-H30, H47-H49,
H67, H69, H71, H73, H78, H93, H94, H103 and L2, L4, L35, L36, L46-L49, L64, L66, L68, L69, L71, L98, here in IMGT
positions: read off ANARCI's Kabat and IMGT numberings of the same chains (trastuzumab VH/VL, OKT3 VH, a lambda
VL gave one table; ``tests/protein/test_antibody_humanize.py`` checks it against ANARCI where HMMER is installed).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from apps.protein.alphabet import STANDARD_RESIDUES, check_residues
from apps.protein.antibody.numbering import Numbered, NumberingError, closest_human_germline, number
from apps.protein.antibody.redesign import SAPIENS_OF_CHAIN, generator_for
from apps.protein.antibody.scores import masked_distributions, masked_log_probs, model, observed
from apps.protein.design import DesignConfig, DesignError, design

VERNIER = {
    "H": (2, 28, 29, 30, 35, 52, 53, 54, 76, 78, 80, 82, 87, 105, 106, 118),
    "L": (2, 4, 41, 42, 52, 53, 54, 55, 78, 80, 84, 85, 87, 118),
}
"""IMGT positions of the Vernier-zone residues of heavy and light chains (module docstring)."""
METHODS = ("masked", "diffusion")


class HumanizeError(ValueError):
    """A chain or setting humanization cannot take; the message names it."""


@dataclass(frozen=True)
class HumanizeConfig:
    """``method``: ``masked`` or ``diffusion`` (module docstring); ``rounds``: the most mask-sample-keep rounds;
    ``keep_vernier``: keep the Vernier-zone residues as the CDRs; ``threshold``: the ``masked`` method changes
    only residues whose Sapiens probability is below it (1 changes every residue that is not the most probable;
    on 27 non-human chains 0.1, the default, made fewer mutations than a CDR graft at a higher humanness,
    docs/antibody.md);
    ``fraction``: share of the free framework positions the ``diffusion`` method resamples a round; ``design``:
    its sampler settings (``num`` candidates a round)."""

    method: str = "masked"
    rounds: int = 10
    keep_vernier: bool = False
    fraction: float = 0.15
    threshold: float = 0.1
    design: DesignConfig = DesignConfig(num=8, sampler="confidence", temperature=0.5)

    def __post_init__(self):
        if self.method not in METHODS:
            raise HumanizeError(f"unknown method {self.method!r}: expected one of {', '.join(METHODS)}")
        if self.rounds < 1:
            raise HumanizeError(f"rounds must be at least 1, got {self.rounds}")
        if not 0 < self.fraction <= 1:
            raise HumanizeError(f"fraction must be in (0, 1], got {self.fraction}")
        if not 0 < self.threshold <= 1:
            raise HumanizeError(f"threshold is a probability in (0, 1], got {self.threshold}")


@dataclass(frozen=True)
class Mutation:
    index: int  # 0-based in the chain
    position: str  # IMGT label
    region: str
    parent: str
    human: str

    def __str__(self) -> str:
        return f"{self.parent}{self.position}{self.human}"


@dataclass(frozen=True)
class Humanized:
    parent: str
    sequence: str
    chain: str  # "H" or "L"
    mutations: tuple[Mutation, ...]
    kept: tuple[int, ...]  # indices held fixed: every CDR residue, and the Vernier zone with keep_vernier
    rounds: int  # rounds that changed the chain
    humanness_before: float
    humanness_after: float

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("parent", "sequence", "chain", "rounds", "humanness_before", "humanness_after")}
        out["mutations"] = [str(m) for m in self.mutations]
        out["kept"] = len(self.kept)
        return out


def humanize(sequence: str, config: HumanizeConfig = HumanizeConfig(), numbered: Numbered | None = None) -> Humanized:
    """One chain humanized (module docstring); its CDRs, and its Vernier zone with ``keep_vernier``, kept."""
    numbered = _numbered(sequence, numbered)
    kept = kept_indices(numbered, config.keep_vernier)
    free = [i for i in numbered.framework_indices() if i not in set(kept)]
    sapiens = model(SAPIENS_OF_CHAIN[numbered.chain])
    start, end = _domain(numbered)
    current, rounds, scores = sequence, 0, {}  # scores: humanness of each chain the rounds read
    for _ in range(config.rounds):
        logp = masked_distributions(sapiens, current[start:end])  # (D, V) over the domain
        scores[current] = float(observed(logp, sapiens, current[start:end]).exp().mean())
        if config.method == "masked":
            proposal = _masked_step(current, free, logp, start, numbered, config)
        else:
            proposal, scores[proposal] = _diffusion_step(current, free, logp, start, numbered, config)
            if scores[proposal] <= scores[current]:
                break
        if proposal == current:
            break
        current, rounds = proposal, rounds + 1
    mutations = tuple(
        Mutation(i, numbered.positions[i], numbered.regions[i], a, b)
        for i, (a, b) in enumerate(zip(sequence, current)) if a != b
    )  # fmt: skip
    assert all(sequence[i] == current[i] for i in kept), "a kept residue changed"
    after = scores[current] if current in scores else humanness(current, numbered)
    return Humanized(sequence, current, numbered.chain, mutations, tuple(kept), rounds, scores[sequence], after)


def kept_indices(numbered: Numbered, vernier: bool = False) -> list[int]:
    """Indices humanization never changes: the CDRs, and with ``vernier`` the Vernier-zone residues."""
    kept = set(numbered.cdr_indices())
    if vernier:
        zone = {str(p) for p in VERNIER[numbered.chain]}
        kept |= {i for i, p in enumerate(numbered.positions) if p in zone}
    return sorted(kept)


def humanness(sequence: str, numbered: Numbered) -> float:
    """Mean Sapiens probability of each residue of the variable domain, masked in turn (``scores``' humanness)."""
    start, end = _domain(numbered)
    return float(masked_log_probs(model(SAPIENS_OF_CHAIN[numbered.chain]), sequence[start:end]).exp().mean())


def cdr_graft(sequence: str, numbered: Numbered | None = None) -> str:
    """The parental CDRs on the frameworks of the closest human V and J germline genes, assembled region by region
    (germline FR1, parental CDR1, germline FR2, CDR2, FR3, CDR3, J gene FR4), as a CDR graft is built; residues
    outside the variable domain are kept, and so is FR4 where the closest J allele has no sequence in anarci's
    table. Region by region, not position by position: an IMGT alignment that
    places a parental deletion differently from the germline's gaps would otherwise shift residues."""
    from anarci.germlines import all_germlines  # IMGT-aligned germline sequences, position p at index p - 1

    numbered = _numbered(sequence, numbered)
    found = closest_human_germline(sequence)
    genes = all_germlines["V"][numbered.chain_type]["human"], all_germlines["J"][numbered.chain_type]["human"]
    if found is None or found.v_gene not in genes[0]:
        raise HumanizeError(f"no human germline V gene with a sequence aligns to this chain ({found})")
    v = genes[0][found.v_gene]
    # anarcism may name a J allele anarci's table lacks (IGLJ2A*02): FR4 then stays the parent's
    j = genes[1].get(found.j_gene or "")
    span = {"FR1": (1, 26), "FR2": (39, 55), "FR3": (66, 104), "FR4": (118, 128)}
    start, end = _domain(numbered)
    parts = [sequence[:start]]
    for region in ("FR1", "CDR1", "FR2", "CDR2", "FR3", "CDR3", "FR4"):
        if region in span and (region != "FR4" or j):
            germline = j if region == "FR4" else v
            first, last = span[region]
            parts.append(germline[first - 1 : last].replace("-", ""))
        else:
            parts.append("".join(sequence[i] for i in numbered.indices(region)))
    parts.append(sequence[end:])
    return "".join(parts)


def _numbered(sequence: str, numbered: Numbered | None) -> Numbered:
    try:
        check_residues(sequence, STANDARD_RESIDUES)
        return numbered or number(sequence)
    except (ValueError, NumberingError) as err:
        raise HumanizeError(str(err)) from None


def _domain(numbered: Numbered) -> tuple[int, int]:
    inside = [i for i, region in enumerate(numbered.regions) if region is not None]
    return inside[0], inside[-1] + 1


@functools.cache
def _residue_ids(chain: str) -> torch.Tensor:
    """Vocabulary ids of the 20 standard residues in the chain's Sapiens model, in STANDARD_RESIDUES order."""
    return torch.tensor(model(SAPIENS_OF_CHAIN[chain]).tokenizer.convert_tokens_to_ids(list(STANDARD_RESIDUES)))


def _masked_step(current: str, free: Sequence[int], logp: torch.Tensor, start: int, numbered: Numbered, config) -> str:
    """Every free position whose residue Sapiens gives less than ``config.threshold`` takes the most probable
    standard residue there."""
    standard = logp[:, _residue_ids(numbered.chain)]  # (D, 20)
    best = standard.argmax(-1)  # (D,) index into STANDARD_RESIDUES
    out = list(current)
    for i in free:
        own = standard[i - start, STANDARD_RESIDUES.index(current[i])].exp()
        if own < config.threshold:
            out[i] = STANDARD_RESIDUES[int(best[i - start])]
    return "".join(out)


def _diffusion_step(current: str, free: Sequence[int], logp: torch.Tensor, start: int, numbered: Numbered, config) -> tuple[str, float]:
    """The least human free positions resampled by the design pipeline with Sapiens; the most human candidate and
    its humanness."""
    sapiens = model(SAPIENS_OF_CHAIN[numbered.chain])
    own = observed(logp, sapiens, current[start : start + logp.shape[0]])  # (D,) log-probability of each residue
    count = max(1, round(config.fraction * len(free)))
    worst = set(sorted(free, key=lambda i: float(own[i - start]))[:count])
    template = "".join("X" if i in worst else r for i, r in enumerate(current))
    try:
        candidates = design(len(template), [f"1:{template}"], config.design, scorer=None,
                            generator=generator_for("sapiens", numbered.chain))  # fmt: skip
    except DesignError as err:
        raise HumanizeError(str(err)) from None
    return max(((c.sequence, humanness(c.sequence, numbered)) for c in candidates), key=lambda pair: pair[1])

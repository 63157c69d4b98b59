"""Antibody chains scored by the pretrained antibody language models, per chain and per residue.

- AntiBERTy pseudo-log-likelihood (Salazar et al. 2020's PLL, as AntiBERTy's authors score naturalness): each
  residue masked in turn, the log-probability of the observed residue; a chain's score is the mean.
- Sapiens humanness: the probability of the observed residue under the Sapiens model of the chain's type (VH or
  VL), each residue masked in turn; a chain's score is the mean (BioPhi scores humanness with Sapiens'
  probabilities; masking each residue keeps the residue from predicting itself).
- IMGT numbering, chain type and the closest human V gene with the identity to it (``numbering``).
- With an ESM-2 scorer (the protein app's ``Scorer``): its pseudo-perplexity of the domain and each residue's
  log-probability, as ``dlm-protein score`` reports them for any protein.

Masking each residue of a chain is one batch of L rows through the model, L the chain's length.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

from apps.protein.antibody.models import ANTIBERTY, chain_ids
from apps.protein.antibody.numbering import HEAVY, Numbered, number
from apps.protein.scoring import Scorer
from shared_dlm import Loaded, load

SAPIENS_OF_CHAIN = {HEAVY: "sapiens-vh", "L": "sapiens-vl"}


@dataclass(frozen=True)
class ResidueScore:
    index: int  # 0-based in the chain
    residue: str
    position: str | None  # IMGT label ("111A"), None outside the variable domain
    region: str | None
    antiberty_logp: float
    humanness: float  # probability of the residue under the chain's Sapiens model
    esm_logp: float | None = None  # the ESM-2 scorer's log-probability of the residue, with a scorer


@dataclass(frozen=True)
class ChainScore:
    sequence: str
    chain: str  # "H" or "L"
    chain_type: str
    species: str
    v_gene: str | None
    v_identity: float | None
    antiberty_pll: float  # mean log-probability a residue
    humanness: float  # mean probability a residue
    residues: tuple[ResidueScore, ...] = field(repr=False)
    esm: dict[str, float] | None = None  # the ESM-2 scorer's pseudo_perplexity and mean_log_prob, with a scorer

    def as_dict(self, residues: bool = True) -> dict:
        out = {k: getattr(self, k) for k in ("sequence", "chain", "chain_type", "species", "v_gene", "v_identity",
                                             "antiberty_pll", "humanness", "esm")}  # fmt: skip
        if residues:
            out["residues"] = [r.__dict__ for r in self.residues]
        return out


@functools.cache
def model(name: str) -> Loaded:
    """An antibody model, loaded once per process on the CPU."""
    return load(name)


def masked_distributions(loaded: Loaded, sequence: str, batch: int = 64) -> torch.Tensor:
    """(L, V) log-probabilities over the model's vocabulary at each residue of ``sequence``, that residue alone
    masked (one row a residue, ``batch`` rows a forward)."""
    ids = torch.tensor(chain_ids(loaded.tokenizer, sequence))  # (L + 2,): start, residues, end
    spec, length = loaded.model.spec, len(sequence)
    if ids.numel() > spec.max_len:
        raise ValueError(f"the chain has {length} residues; {loaded.path.name} reads at most {spec.max_len - 2}")
    out = torch.empty(length, spec.vocab_size)
    for start in range(0, length, batch):
        where = torch.arange(start, min(start + batch, length)) + 1  # positions of the residues in the row
        rows = ids.repeat(len(where), 1)  # (b, L + 2)
        rows[torch.arange(len(where)), where] = spec.mask_id
        with torch.no_grad():
            logits = loaded.model(rows).float()  # (b, L + 2, V)
        out[where - 1] = logits[torch.arange(len(where)), where].log_softmax(-1)
    return out


def observed(distributions: torch.Tensor, loaded: Loaded, sequence: str) -> torch.Tensor:
    """(L,) the log-probability each of ``masked_distributions``' rows (L, V) gives the residue of ``sequence``."""
    ids = torch.tensor(chain_ids(loaded.tokenizer, sequence)[1:-1])  # (L,)
    return distributions.gather(1, ids[:, None])[:, 0]


def masked_log_probs(loaded: Loaded, sequence: str, batch: int = 64) -> torch.Tensor:
    """(L,) log-probability of each residue of ``sequence`` with that residue alone masked."""
    return observed(masked_distributions(loaded, sequence, batch), loaded, sequence)


def score_chain(sequence: str, numbered: Numbered | None = None, esm: Scorer | None = None) -> ChainScore:
    """Every score of one chain (numbered here unless given; ESM-2's with a scorer). Only its variable domain is
    scored: residues before or after it (a leader, a constant-region tail) are no part of what the models learned."""
    numbered = numbered or number(sequence)
    inside = [i for i, region in enumerate(numbered.regions) if region is not None]
    start, end = inside[0], inside[-1] + 1
    domain = sequence[start:end]
    antiberty = masked_log_probs(model(ANTIBERTY), domain)
    human = masked_log_probs(model(SAPIENS_OF_CHAIN[numbered.chain]), domain).exp()
    esm_scores, esm_logp = esm.score_with_residues([domain]) if esm is not None else ([None], [None])
    residues = tuple(
        ResidueScore(start + i, r, numbered.positions[start + i], numbered.regions[start + i], float(antiberty[i]),
                     float(human[i]), None if esm_logp[0] is None else float(esm_logp[0][i]))
        for i, r in enumerate(domain)
    )  # fmt: skip
    return ChainScore(
        sequence=sequence, chain=numbered.chain, chain_type=numbered.chain_type, species=numbered.species,
        v_gene=numbered.v_gene, v_identity=numbered.v_identity, antiberty_pll=float(antiberty.mean()),
        humanness=float(human.mean()), residues=residues, esm=esm_scores[0],
    )  # fmt: skip

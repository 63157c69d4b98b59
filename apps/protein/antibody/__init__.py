"""Antibodies on pretrained antibody language models (AntiBERTy, Sapiens): loading them as denoisers and
scorers (``models``), numbering chains into frameworks and CDRs (``numbering``), scoring chains per residue:
AntiBERTy pseudo-log-likelihood, Sapiens humanness, closest human germline (``scores``), redesigning regions
through the design pipeline (``redesign``) and humanizing frameworks (``humanize``)."""

from apps.protein.antibody.humanize import (
    VERNIER,
    HumanizeConfig,
    Humanized,
    HumanizeError,
    Mutation,
    cdr_graft,
    humanize,
    humanness,
    kept_indices,
)
from apps.protein.antibody.models import ANTIBERTY, SAPIENS, chain_ids, load_antiberty
from apps.protein.antibody.numbering import Numbered, NumberingError, number, region_indices
from apps.protein.antibody.redesign import DEFAULT_CONFIG, GENERATORS, AntibodyDesign, RedesignError, redesign
from apps.protein.antibody.scores import ChainScore, ResidueScore, score_chain

__all__ = [
    "ANTIBERTY",
    "DEFAULT_CONFIG",
    "GENERATORS",
    "SAPIENS",
    "VERNIER",
    "AntibodyDesign",
    "ChainScore",
    "HumanizeConfig",
    "HumanizeError",
    "Humanized",
    "Mutation",
    "Numbered",
    "NumberingError",
    "RedesignError",
    "ResidueScore",
    "cdr_graft",
    "chain_ids",
    "humanize",
    "humanness",
    "kept_indices",
    "load_antiberty",
    "number",
    "redesign",
    "region_indices",
    "score_chain",
]

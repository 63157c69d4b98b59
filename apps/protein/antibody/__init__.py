"""Antibodies on pretrained antibody language models (AntiBERTy, Sapiens): loading them as denoisers and
scorers (``models``), numbering chains into frameworks and CDRs (``numbering``), and scoring chains per residue:
AntiBERTy pseudo-log-likelihood, Sapiens humanness, closest human germline (``scores``)."""

from apps.protein.antibody.models import ANTIBERTY, SAPIENS, chain_ids, load_antiberty
from apps.protein.antibody.numbering import Numbered, NumberingError, number, region_indices
from apps.protein.antibody.scores import ChainScore, ResidueScore, score_chain

__all__ = [
    "ANTIBERTY",
    "SAPIENS",
    "ChainScore",
    "Numbered",
    "NumberingError",
    "ResidueScore",
    "chain_ids",
    "load_antiberty",
    "number",
    "region_indices",
    "score_chain",
]

"""Antibodies on pretrained antibody language models (AntiBERTy, Sapiens): loading them as denoisers and
scorers (``models``) and numbering chains into frameworks and CDRs (``numbering``)."""

from apps.protein.antibody.models import ANTIBERTY, SAPIENS, chain_ids, load_antiberty
from apps.protein.antibody.numbering import Numbered, NumberingError, number, region_indices

__all__ = ["ANTIBERTY", "SAPIENS", "Numbered", "NumberingError", "chain_ids", "load_antiberty", "number", "region_indices"]

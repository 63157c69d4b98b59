"""Antibodies on pretrained antibody language models (AntiBERTy, Sapiens): loading them as denoisers and
scorers (``models``)."""

from apps.protein.antibody.models import ANTIBERTY, SAPIENS, chain_ids, load_antiberty

__all__ = ["ANTIBERTY", "SAPIENS", "chain_ids", "load_antiberty"]

"""Motif-constrained protein design on masked diffusion language models, scored with ESM-2 (``dlm-protein``).

``apps.protein.design(length, motifs, DesignConfig(num=...), generator=..., scorer=...)`` returns ranked designs
(see ``apps.protein.design``'s module). The shipped default generator, ``models/generator/``, is registered as
``"protein-default"``; the default ESM-2 scorer, ``models/scorer/``, as ``"protein-scorer-default"``; the
GO-conditioned generator, ``models/go/``, as ``"protein-go"``; the antibody language models as ``"antiberty"``,
``"sapiens-vh"`` and ``"sapiens-vl"`` (``apps.protein.antibody``) (the names resolve when a model is loaded, so the
registrations may follow the imports).
"""

from pathlib import Path

from apps.protein.alphabet import STANDARD_RESIDUES
from apps.protein.antibody.models import register as register_antibody_models
from apps.protein.design import (
    DEFAULT_GO_MODEL,
    DEFAULT_MODEL,
    DEFAULT_SAMPLER,
    DEFAULT_SCORER,
    DEMO,
    ORDER_NOISE,
    Design,
    DesignConfig,
    DesignError,
    Generator,
    Plan,
    design,
    load_generator,
    load_scorer,
    model_folder,
    pick_generator,
    plan,
)
from apps.protein.fasta import FastaError, Record, design_record, format_fasta, read_fasta, write_fasta
from apps.protein.go import VOCABULARY_FILE, TermError, TermVocabulary
from apps.protein.motifs import Placement, from_canvas, parse_motifs, place, to_canvas
from apps.protein.properties import properties
from apps.protein.scoring import Scorer, embed, embedding_similarity, load_esm, save_esm2
from shared_dlm import register_pretrained

SHIPPED_GENERATOR = Path(__file__).parent / "models" / "generator"
SHIPPED_SCORER = Path(__file__).parent / "models" / "scorer"
SHIPPED_GO_GENERATOR = Path(__file__).parent / "models" / "go"
if SHIPPED_GENERATOR.is_dir():
    register_pretrained("protein-default", SHIPPED_GENERATOR)
if SHIPPED_SCORER.is_dir():
    register_pretrained("protein-scorer-default", SHIPPED_SCORER)
if SHIPPED_GO_GENERATOR.is_dir():
    register_pretrained("protein-go", SHIPPED_GO_GENERATOR)

register_antibody_models()  # "antiberty", "sapiens-vh", "sapiens-vl"

__all__ = [
    "DEFAULT_GO_MODEL",
    "DEFAULT_MODEL",
    "DEFAULT_SAMPLER",
    "DEFAULT_SCORER",
    "DEMO",
    "ORDER_NOISE",
    "SHIPPED_GENERATOR",
    "SHIPPED_GO_GENERATOR",
    "SHIPPED_SCORER",
    "STANDARD_RESIDUES",
    "VOCABULARY_FILE",
    "Design",
    "DesignConfig",
    "DesignError",
    "FastaError",
    "Generator",
    "Placement",
    "Plan",
    "Record",
    "Scorer",
    "TermError",
    "TermVocabulary",
    "design",
    "design_record",
    "embed",
    "embedding_similarity",
    "format_fasta",
    "from_canvas",
    "load_esm",
    "load_generator",
    "load_scorer",
    "model_folder",
    "parse_motifs",
    "pick_generator",
    "place",
    "plan",
    "properties",
    "read_fasta",
    "save_esm2",
    "to_canvas",
    "write_fasta",
]

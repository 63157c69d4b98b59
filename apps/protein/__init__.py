"""Motif-constrained protein design on masked diffusion language models, scored with ESM-2 (``dlm-protein``).

``apps.protein.design(length, motifs, num, ...)`` returns ranked designs (see ``apps.protein.design``'s
module). The shipped default generator, ``models/generator/``, is registered as ``"protein-default"``; the
default ESM-2 scorer, ``models/scorer/``, as ``"protein-scorer-default"``; the GO-conditioned generator,
``models/go/``, as ``"protein-go"``.
"""

from pathlib import Path

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

from apps.protein.antibody.models import register as register_antibody_models  # noqa: E402

register_antibody_models()  # "antiberty", "sapiens-vh", "sapiens-vl"

from apps.protein.design import Design, design  # noqa: E402  (after the registrations its defaults need)

__all__ = ["Design", "SHIPPED_GENERATOR", "SHIPPED_GO_GENERATOR", "SHIPPED_SCORER", "design"]

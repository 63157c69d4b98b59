"""Code infilling on masked diffusion language models: corpus, tokenizer, CLI (``dlm-code``).

Import as ``apps.code``: the standard library already has a module named ``code``.

``apps.code.infill(prefix, suffix, language="python", ...)`` fills a hole (see ``apps.code.infill``'s module);
the shipped default model, ``models/infill/``, is registered as ``"code-default"``.
"""

from pathlib import Path

from shared_dlm import register_pretrained

SHIPPED_MODEL = Path(__file__).parent / "models" / "infill"
if SHIPPED_MODEL.is_dir():
    register_pretrained("code-default", SHIPPED_MODEL)

from apps.code.infill import Candidate, infill  # noqa: E402  (after the registration its default needs)

__all__ = ["Candidate", "SHIPPED_MODEL", "infill"]

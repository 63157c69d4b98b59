"""Code infilling on masked diffusion language models: corpus, tokenizer, CLI (``dlm-code``).

Import as ``apps.code``: the standard library already has a module named ``code``.

``apps.code.infill(prefix, suffix, language="python", config=InfillConfig(...))`` fills a hole (see
``apps.code.infill``'s module); an ``Infiller`` plans holes and ranks their candidates for every other way in
(the batch infiller behind ``dlm-code serve``, the evaluation, the benchmark, the dashboard). The shipped
default model, ``models/infill/``, is registered as ``"code-default"``; ``DEMO`` is the example file that
``dlm-code demo`` and the dashboard start from. These names are the app's public API.
"""

from pathlib import Path

from shared_dlm import register_pretrained

SHIPPED_MODEL = Path(__file__).parent / "models" / "infill"
# Named .py.in because the file with its <FILL> marker is not Python yet: `dlm-code infill` needs `--language python`
# for it. Its text is what a user sees first (`dlm-code demo`, the dashboard's code box): no notes to ourselves there.
DEMO = Path(__file__).parent / "examples" / "demo.py.in"
if SHIPPED_MODEL.is_dir():
    register_pretrained("code-default", SHIPPED_MODEL)

# The modules below come after the registration that their default model needs.
from apps.code.batch import (  # noqa: E402
    BatchInfiller,
    Choice,
    Filled,
    FillRequest,
    RequestError,
    guess_language,
)
from apps.code.evaluate import evaluate_humaneval, normalise  # noqa: E402
from apps.code.grammars import (  # noqa: E402
    GRAMMARS,
    find_errors,
    get_grammar,
    grammar_for_path,
    parses,
)
from apps.code.humaneval import load_problems  # noqa: E402
from apps.code.infill import (  # noqa: E402
    DEFAULT_MODEL,
    FILL,
    Candidate,
    ContextTruncatedWarning,
    HolePlan,
    InfillConfig,
    Infiller,
    infill,
    resolve_model,
    split_fill,
)
from apps.code.serve import ServeConfig, create_app  # noqa: E402  (its `serve` not: apps.code.serve names the module)
from apps.code.tasks import InfillTask, infill_tasks  # noqa: E402

__all__ = [
    "DEFAULT_MODEL",
    "DEMO",
    "FILL",
    "GRAMMARS",
    "SHIPPED_MODEL",
    "BatchInfiller",
    "Candidate",
    "Choice",
    "ContextTruncatedWarning",
    "FillRequest",
    "Filled",
    "HolePlan",
    "InfillConfig",
    "InfillTask",
    "Infiller",
    "RequestError",
    "ServeConfig",
    "create_app",
    "evaluate_humaneval",
    "find_errors",
    "get_grammar",
    "grammar_for_path",
    "guess_language",
    "infill",
    "infill_tasks",
    "load_problems",
    "normalise",
    "parses",
    "resolve_model",
    "split_fill",
]

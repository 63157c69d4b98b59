"""shared_dlm: the masked (absorbing-state) diffusion core shared by the code and protein apps.

Apps and dashboards import from here only: these names are the core's public interface.
"""

from shared_dlm.adapters import MaskedLMAdapter
from shared_dlm.arguments import OneLineParser
from shared_dlm.canvas import Canvas, CanvasError, Remasker
from shared_dlm.device import DeviceError, check_device
from shared_dlm.launch import run_streamlit, streamlit_command
from shared_dlm.loading import (
    CheckpointError,
    Loaded,
    copy_state_strict,
    load,
    register_loader,
    register_pretrained,
    registered_names,
    resolve,
)
from shared_dlm.model import Denoiser, DenoiserConfig, KVCache, SupportsDenoise, TokenSpec
from shared_dlm.paths import OutputError, check_output
from shared_dlm.process import Elbo, diffusion_loss, mask_tokens, masked_nll, sample_times
from shared_dlm.provenance import provenance, weights_sha256
from shared_dlm.sampling import (
    STRATEGIES,
    Ancestral,
    Blocks,
    Confidence,
    Factor,
    Fixed,
    ReMDM,
    SamplerConfig,
    StepRecord,
    StepState,
    Strategy,
    Threshold,
    Trace,
    generate,
    make_strategy,
    register_strategy,
    strategy_options,
    top_k_per_row,
)
from shared_dlm.tokenizer import char_tokenizer
from shared_dlm.schedule import (
    SCHEDULES,
    CosineSchedule,
    LinearSchedule,
    LogLinearSchedule,
    PolynomialSchedule,
    Schedule,
    get_schedule,
)

# Training and data pull in `datasets` and `accelerate`, slow to import: load them on first use (PEP 562).
_LAZY = {
    "Collator": "shared_dlm.data",
    "load_files": "shared_dlm.data",
    "load_split": "shared_dlm.data",
    "read_fasta": "shared_dlm.data",
    "read_recipe": "shared_dlm.recipe",
    "tokenize": "shared_dlm.data",
    "Trainer": "shared_dlm.train",
    "TrainConfig": "shared_dlm.train",
    "build_from_config": "shared_dlm.train",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shared_dlm' has no attribute {name!r}")


__all__ = [
    "Ancestral",
    "Blocks",
    "Canvas",
    "CanvasError",
    "Collator",
    "CheckpointError",
    "Confidence",
    "CosineSchedule",
    "Denoiser",
    "DeviceError",
    "DenoiserConfig",
    "Elbo",
    "Factor",
    "Fixed",
    "KVCache",
    "LinearSchedule",
    "LogLinearSchedule",
    "Loaded",
    "MaskedLMAdapter",
    "OneLineParser",
    "OutputError",
    "PolynomialSchedule",
    "ReMDM",
    "Remasker",
    "SCHEDULES",
    "STRATEGIES",
    "SamplerConfig",
    "Schedule",
    "StepRecord",
    "StepState",
    "Strategy",
    "SupportsDenoise",
    "Threshold",
    "TokenSpec",
    "Trace",
    "TrainConfig",
    "Trainer",
    "build_from_config",
    "char_tokenizer",
    "check_device",
    "check_output",
    "copy_state_strict",
    "diffusion_loss",
    "generate",
    "get_schedule",
    "load",
    "load_files",
    "load_split",
    "make_strategy",
    "mask_tokens",
    "masked_nll",
    "provenance",
    "read_fasta",
    "read_recipe",
    "register_loader",
    "register_pretrained",
    "register_strategy",
    "registered_names",
    "resolve",
    "run_streamlit",
    "sample_times",
    "strategy_options",
    "streamlit_command",
    "tokenize",
    "top_k_per_row",
    "weights_sha256",
]

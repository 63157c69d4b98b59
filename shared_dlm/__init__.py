"""shared_dlm: the masked (absorbing-state) diffusion core shared by the code and protein apps.

Apps and dashboards import from here only: these names are the core's public interface.
"""

from shared_dlm.adapters import MaskedLMAdapter
from shared_dlm.canvas import Canvas, CanvasError, Remasker
from shared_dlm.loading import CheckpointError, Loaded, load, register_pretrained, registered_names, resolve
from shared_dlm.model import Denoiser, DenoiserConfig, SupportsDenoise, TokenSpec
from shared_dlm.process import Elbo, diffusion_loss, mask_tokens, masked_nll, sample_times
from shared_dlm.sampling import (
    STRATEGIES,
    Ancestral,
    Blocks,
    Confidence,
    ReMDM,
    SamplerConfig,
    StepRecord,
    StepState,
    Strategy,
    Trace,
    generate,
    make_strategy,
    register_strategy,
)
from shared_dlm.schedule import (
    SCHEDULES,
    CosineSchedule,
    LinearSchedule,
    LogLinearSchedule,
    PolynomialSchedule,
    Schedule,
    get_schedule,
)

__all__ = [
    "Ancestral",
    "Blocks",
    "Canvas",
    "CanvasError",
    "CheckpointError",
    "Confidence",
    "CosineSchedule",
    "Denoiser",
    "DenoiserConfig",
    "Elbo",
    "LinearSchedule",
    "LogLinearSchedule",
    "Loaded",
    "MaskedLMAdapter",
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
    "TokenSpec",
    "Trace",
    "diffusion_loss",
    "generate",
    "get_schedule",
    "load",
    "make_strategy",
    "mask_tokens",
    "masked_nll",
    "register_pretrained",
    "register_strategy",
    "registered_names",
    "resolve",
    "sample_times",
]

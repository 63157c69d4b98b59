"""Samplers: one loop (`generate`) and small strategies that decide what to commit at each step."""

from shared_dlm.sampling.ancestral import Ancestral
from shared_dlm.sampling.base import (
    STRATEGIES,
    StepState,
    Strategy,
    make_strategy,
    register_strategy,
    strategy_options,
    top_k_per_row,
)
from shared_dlm.sampling.blocks import Blocks
from shared_dlm.sampling.confidence import Confidence, confidence
from shared_dlm.sampling.loop import SamplerConfig, StepRecord, Trace, filter_logits, generate
from shared_dlm.sampling.parallel import Factor, Fixed, Threshold
from shared_dlm.sampling.remdm import ReMDM

__all__ = [
    "Ancestral",
    "Blocks",
    "Confidence",
    "Factor",
    "Fixed",
    "ReMDM",
    "STRATEGIES",
    "SamplerConfig",
    "StepRecord",
    "StepState",
    "Strategy",
    "Threshold",
    "Trace",
    "confidence",
    "filter_logits",
    "generate",
    "make_strategy",
    "register_strategy",
    "strategy_options",
    "top_k_per_row",
]

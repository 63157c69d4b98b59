"""Pieces both dashboards share: the device they run on, a progress bar driven by the sampler's trace,
and the errors a page shows as a message instead of a traceback."""

from __future__ import annotations

import torch

from shared_dlm import CheckpointError, StepRecord, Trace

PEOPLE_ERRORS = (ValueError, OSError, CheckpointError)
"""What bad input raises in the apps (ValueError and its DesignError, FastaError; a missing file or folder;
a model folder that cannot be loaded): shown as a message in the page."""


def pick_device() -> torch.device:
    """The GPU when there is one (the sampler runs it under bf16 autocast), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label(device: torch.device) -> str:
    """Where a run went, in words for the page."""
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)}), bf16"
    return "CPU, float32"


class ProgressTrace(Trace):
    """A ``trace=`` callback that keeps every StepRecord and moves a Streamlit progress bar.

    Progress is the share of generated positions that hold a token (committed and not sent back to the
    mask), right for every sampler, adaptive or remasking, without knowing how many steps it will take.
    """

    def __init__(self, bar, mask_id: int):
        super().__init__()
        self.bar, self.mask_id = bar, mask_id
        self.free: torch.Tensor | None = None  # (B, L) bool: the positions the sampler generates

    def __call__(self, record: StepRecord) -> None:
        self.append(record)
        masked = record.ids == self.mask_id  # (B, L)
        if self.free is None:  # every free position was masked before the first step
            self.free = record.committed | masked
        total = int(self.free.sum())
        filled = total - int(masked.sum())
        self.bar.progress(filled / max(total, 1), text=f"step {record.step + 1}: {filled} of {total} positions filled")

"""A device name checked before anything is loaded: what every entry point calls on its ``--device``/``device=``."""

from __future__ import annotations

import torch

KNOWN = "cpu, cuda, cuda:N or mps"


class DeviceError(ValueError):
    """A device this machine does not have, or a name that is no device."""


def check_device(name: str | torch.device) -> torch.device:
    """The torch device ``name`` names, if this machine has it; otherwise a DeviceError that says which part is
    wrong: an unknown name, CUDA (or a CUDA index, or MPS) asked for where there is none."""
    text = str(name).strip()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device {text!r}: expected {KNOWN}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {text!r}: CUDA was asked for, but this machine has no CUDA device (or this "
                             "torch is a CPU build); use cpu")  # fmt: skip
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"device {text!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"device {text!r}: MPS (Apple's GPU) is not available on this machine; use cpu")
    elif device.type != "cpu":
        raise DeviceError(f"unknown device {text!r}: expected {KNOWN}")
    return device

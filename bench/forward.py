"""Forward throughput of the denoiser: tokens/s and model FLOP/s utilisation against the device's peak.

This is the ceiling that samplers are measured against: a sampler can commit at most (tokens per
forward) x (forwards per second).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from shared_dlm import Denoiser, DenoiserConfig

# Dense bf16 tensor-core peaks (no sparsity), from the vendors' data sheets, in FLOP/s.
BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def peak_flops(name: str) -> float | None:
    for key, peak in BF16_PEAK.items():
        if key in name:
            return peak
    return None


def forward_flops_per_token(config: DenoiserConfig, length: int) -> float:
    """2 x (matmul parameters) + attention scores and values (2 x 2 x L x d per layer), as in PaLM's MFU."""
    d, layers = config.hidden_size, config.num_hidden_layers
    per_layer = 3 * d * d + d * d + 3 * d * config.intermediate_size
    matmul = layers * per_layer + d * config.vocab_size
    return 2 * matmul + 4 * layers * length * d


@dataclass
class ForwardResult:
    device: str
    dtype: str
    batch: int
    length: int
    parameters: int
    tokens_per_s: float
    flops_per_s: float
    mfu: float | None  # fraction of the bf16 peak; None where the peak is unknown (CPUs)


def bench_forward(
    config: DenoiserConfig, batch: int, length: int, device: torch.device, dtype: torch.dtype, seconds: float = 3.0
) -> ForwardResult:
    model = Denoiser(config).to(device=device, dtype=dtype).eval()
    ids = torch.randint(0, config.vocab_size, (batch, length), device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with torch.inference_mode():
        for _ in range(3):
            model(ids)
        sync()
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or runs < 3:
            model(ids)
            runs += 1
        sync()
        elapsed = time.perf_counter() - start
    tokens_per_s = runs * batch * length / elapsed
    flops = tokens_per_s * forward_flops_per_token(config, length)
    name = device_name(device)
    peak = peak_flops(name) if dtype == torch.bfloat16 else None
    return ForwardResult(
        device=name,
        dtype=str(dtype).replace("torch.", ""),
        batch=batch,
        length=length,
        parameters=sum(p.numel() for p in model.parameters()),
        tokens_per_s=tokens_per_s,
        flops_per_s=flops,
        mfu=flops / peak if peak else None,
    )

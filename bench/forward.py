"""Forward throughput of the denoiser: tokens/s and model FLOP/s utilisation against the device's peak.

This is the ceiling that samplers are measured against: a sampler can commit at most (tokens per
forward) x (forwards per second). `bench_peers` sets it beside transformers' ModernBERT and BERT of the
same shape in one process: our denoiser dense, and with logits only at a hole's positions, as the
sampling loop asks for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

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


def peer_models(config: DenoiserConfig, length: int) -> dict[str, nn.Module]:
    """ModernBERT and BERT masked LMs of the denoiser's width, depth, heads, FFN width and vocabulary, with
    SDPA attention; ModernBERT attends globally in every layer, as the denoiser does. ModernBERT's GeGLU
    has the denoiser's three FFN matrices; BERT's FFN has two, so BERT does fewer FLOPs a token."""
    from transformers import BertConfig, BertForMaskedLM, ModernBertConfig, ModernBertForMaskedLM

    shape = dict(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads, intermediate_size=config.intermediate_size,
        max_position_embeddings=length,
    )  # fmt: skip
    ids = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)  # within the vocabulary
    modernbert = ModernBertConfig(**shape, **ids, global_attn_every_n_layers=1)
    return {
        "modernbert": ModernBertForMaskedLM._from_config(modernbert, attn_implementation="sdpa"),
        "bert": BertForMaskedLM._from_config(BertConfig(**shape, pad_token_id=0), attn_implementation="sdpa"),
    }


@dataclass
class PeersResult:
    device: str
    dtype: str
    threads: int
    batch: int
    length: int
    masked: int  # positions the sparse forward returns logits at (a hole in the middle of each row)
    tokens_per_s: dict[str, float]  # canvas tokens through the forward a second, by model
    ratios: dict[str, float]  # "ours/peer": our tokens/s over the peer's


def bench_peers(
    config: DenoiserConfig, batch: int, length: int, masked: int, device: torch.device, dtype: torch.dtype,
    seconds: float = 3.0,
) -> PeersResult:
    """Tokens/s of each model over `seconds`, timed in interleaved half-second rounds, best round kept: a
    busy machine slows some rounds, never speeds one up, and interleaving exposes every model to the same
    load."""
    rounds = max(1, round(2 * seconds))
    torch.manual_seed(0)
    ours = Denoiser(config).to(device=device, dtype=dtype).eval()
    peers = {name: m.to(device=device, dtype=dtype).eval() for name, m in peer_models(config, length).items()}
    ids = torch.randint(3, config.vocab_size, (batch, length), device=device)
    start = (length - masked) // 2
    hole = torch.arange(start, start + masked, device=device).expand(batch, -1)  # (B, masked)
    runs: dict[str, Callable[[], object]] = {
        "denoiser": lambda: ours(ids),
        "denoiser-sparse": lambda: ours(ids, positions=hole),
        **{name: (lambda m=m: m(input_ids=ids).logits) for name, m in peers.items()},
    }
    best = dict.fromkeys(runs, 0.0)
    with torch.inference_mode():
        for run in runs.values():
            for _ in range(2):
                run()
        for _ in range(rounds):
            for name, run in runs.items():
                best[name] = max(best[name], _tokens_per_s(run, batch * length, device, seconds / rounds))
    ratios = {f"{a}/{b}": best[a] / best[b] for a in ("denoiser", "denoiser-sparse") for b in peers}
    return PeersResult(
        device_name(device), str(dtype).replace("torch.", ""), torch.get_num_threads(), batch, length, masked, best, ratios
    )


def _tokens_per_s(run: Callable[[], object], tokens: int, device: torch.device, seconds: float) -> float:
    """Forwards of `tokens` tokens each, run for at least `seconds` and twice."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    sync()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or runs < 2:
        run()
        runs += 1
    sync()
    return runs * tokens / (time.perf_counter() - start)

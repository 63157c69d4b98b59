"""The denoiser: a bidirectional transformer that returns logits over the vocabulary at every position.

Pre-norm blocks (RMSNorm), rotary position embeddings, attention through
`torch.nn.functional.scaled_dot_product_attention` with no causal mask, SwiGLU feed-forward. Time
conditioning is off by default: for absorbing-state diffusion the clean-data conditional does not
depend on t (RADD, Ou et al. 2024, Thm. 1), the mask pattern already carries it.

Cached context (Fast-dLLM's DualCache, Wu et al. 2025; dKV-Cache, Ma et al. 2025): a forward given an
empty `KVCache` keeps every layer's keys and values; a forward given a filled one runs the transformer only
at `positions`, whose fresh keys and values overwrite theirs in the cache, and attends to the cached ones
of every other position, before and after them alike (bidirectional).

It is a `transformers.PreTrainedModel`, registered with the Auto classes, so `save_pretrained`
writes config.json + model.safetensors and `from_pretrained` reads them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, PreTrainedConfig, PreTrainedModel


@dataclass(frozen=True)
class TokenSpec:
    """What a sampler needs to know about a denoiser's vocabulary and window."""

    vocab_size: int
    mask_id: int
    pad_id: int | None
    max_len: int


@dataclass
class KVCache:
    """Every layer's keys (rotary applied) and values, (B, H, L, D/H) each; empty until a forward fills it."""

    layers: list[tuple[Tensor, Tensor]] = field(default_factory=list)

    @property
    def filled(self) -> bool:
        return bool(self.layers)


@runtime_checkable
class SupportsDenoise(Protocol):
    """Anything that maps partly masked ids (B, L) to logits (B, L, V): our Denoiser or an adapter."""

    spec: TokenSpec

    def __call__(self, input_ids: Tensor, t: Tensor | None = None, attention_mask: Tensor | None = None) -> Tensor: ...


@strict
class DenoiserConfig(PreTrainedConfig):
    """Shape of the bidirectional denoiser. The mask and pad ids come from the tokenizer."""

    model_type = "dlm-denoiser"

    vocab_size: int = 64
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 768
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    dropout: float = 0.0
    time_conditioning: bool = False
    initializer_range: float = 0.02
    mask_token_id: int = 0
    pad_token_id: int | None = None
    tie_word_embeddings: bool = True

    def validate_architecture(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )
        if (self.hidden_size // self.num_attention_heads) % 2:
            raise ValueError("the head dimension must be even for rotary embeddings")
        for name in ("mask_token_id", "pad_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"{name}={value} is outside the vocabulary of size {self.vocab_size}")


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.weight.float()).to(dtype)


def rotary_tables(length: int, head_dim: int, theta: float, device, dtype) -> tuple[Tensor, Tensor]:
    """cos and signed sin tables (L, head_dim) for rotary embeddings (Su et al. 2021), laid out for
    `apply_rotary`: cos over both halves, -sin over the first and sin over the second."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    cos, sin = angles.cos(), angles.sin()
    return torch.cat((cos, cos), -1).to(dtype), torch.cat((-sin, sin), -1).to(dtype)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x: (..., L, D); rotates pairs (x[..., :D/2], x[..., D/2:]) as x * cos + swap(x) * sin: 4 elementwise
    kernels instead of 7, with the same roundings (x2 * -sin added is x2 * sin subtracted)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((x[..., half:], x[..., :half]), dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.heads = config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=False)
        self.out = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.dropout = config.dropout

    def forward(
        self, x: Tensor, cos: Tensor, sin: Tensor, key_mask: Tensor | None, cached: tuple[Tensor, Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x: (B, Q, D), the output and this layer's keys and values (B, H, Q, D/H). With `cached`
        (keys, values, index (B, H, Q, D/H)) the fresh keys and values are written into the cached ones at
        `index` and the queries attend to all of them."""
        b, length, d = x.shape  # (B, Q, D)
        qkv = self.qkv(x).view(b, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (3, B, H, Q, D/H)
        # queries and keys rotated together, made contiguous first: faster than two passes over strided views
        q, k = apply_rotary(qkv[:2].contiguous(), cos, sin).unbind(0)
        v = qkv[2]
        keys, values = k, v
        if cached is not None:
            keys, values, index = cached
            keys.scatter_(2, index, k.to(keys.dtype))
            values.scatter_(2, index, v.to(values.dtype))
        y = F.scaled_dot_product_attention(
            q, keys, values, attn_mask=key_mask, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, Q, D/H)
        return self.out(y.transpose(1, 2).reshape(b, length, d)), k, v


class FeedForward(nn.Module):
    """SwiGLU (Shazeer 2020)."""

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.gate_up = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.norm1 = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = Attention(config)
        self.norm2 = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = FeedForward(config)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: Tensor, cos: Tensor, sin: Tensor, key_mask: Tensor | None, cached: tuple[Tensor, Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x: (B, Q, D) -> the block's output and its attention's keys and values (see `Attention`)."""
        y, k, v = self.attn(self.norm1(x), cos, sin, key_mask, cached)
        x = x + self.drop(y)
        return x + self.drop(self.mlp(self.norm2(x))), k, v


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t followed by an MLP, added to every position (used only if enabled)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = 1000.0 * t.float()[:, None] * freqs[None, :]
        return self.mlp(torch.cat((args.cos(), args.sin()), dim=-1))


class Denoiser(PreTrainedModel):
    """Bidirectional transformer: ids (B, L) -> logits (B, L, V)."""

    config_class = DenoiserConfig
    base_model_prefix = "denoiser"
    main_input_name = "input_ids"
    _supports_sdpa = True
    _no_split_modules = ["Block"]
    _tied_weights_keys = {"lm_head.weight": "embed.weight"}
    supports_cache = True  # forward takes `cache` and `positions` (samplers fall back to full forwards without)

    def __init__(self, config: DenoiserConfig):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.time_embed = TimeEmbedding(config.hidden_size) if config.time_conditioning else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    @property
    def spec(self) -> TokenSpec:
        c = self.config
        return TokenSpec(c.vocab_size, c.mask_token_id, c.pad_token_id, c.max_position_embeddings)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def forward(
        self,
        input_ids: Tensor,
        t: Tensor | None = None,
        attention_mask: Tensor | None = None,
        cache: KVCache | None = None,
        positions: Tensor | None = None,
    ) -> Tensor:
        """input_ids: (B, L); t: (B,) or None; attention_mask: (B, L) bool, False on padding -> (B, L, V).

        positions: (B, Q) long, distinct in each row: return the logits there only, (B, Q, V). cache: an
        empty KVCache is filled with every layer's keys and values of all L positions; with a filled one
        (from a forward on a canvas of the same shape), only `positions` go through the transformer, at
        their true rotary positions, their keys and values replace theirs in the cache, and they attend to
        the cached keys and values of every other position. A filled cache needs `positions`.
        """
        length = input_ids.shape[1]
        if length > self.config.max_position_embeddings:
            raise ValueError(f"sequence length {length} exceeds max_position_embeddings {self.config.max_position_embeddings}")
        partial = cache is not None and cache.filled
        if partial and positions is None:
            raise ValueError("a filled KVCache needs the positions to recompute")
        x = self.embed(input_ids if not partial else input_ids.gather(1, positions))  # (B, L or Q, D)
        if self.time_embed is not None:
            if t is None:
                raise ValueError("this denoiser was built with time_conditioning=True and needs t")
            x = x + self.time_embed(t).to(x.dtype)[:, None, :]
        head_dim = self.config.hidden_size // self.config.num_attention_heads
        cos, sin = rotary_tables(length, head_dim, self.config.rope_theta, x.device, x.dtype)  # (L, D/H)
        if partial:
            cos, sin = cos[positions][:, None], sin[positions][:, None]  # (B, 1, Q, D/H): the true positions
            index = positions[:, None, :, None].expand(-1, self.config.num_attention_heads, -1, head_dim)
        key_mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L)
        for layer, block in enumerate(self.blocks):
            cached = (*cache.layers[layer], index) if partial else None
            x, k, v = block(x, cos, sin, key_mask, cached)
            if cache is not None and not partial:
                # keys in the values' dtype (rotary makes them fp32 under autocast); values copied: written in place later
                cache.layers.append((k.to(v.dtype), v.clone(memory_format=torch.contiguous_format)))
        if positions is not None and not partial:
            x = x.gather(1, positions[..., None].expand(-1, -1, x.shape[-1]))  # (B, Q, D)
        return self.lm_head(self.norm(x))


AutoConfig.register(DenoiserConfig.model_type, DenoiserConfig)
AutoModel.register(DenoiserConfig, Denoiser)
AutoModelForMaskedLM.register(DenoiserConfig, Denoiser)

"""A tiny code tokenizer and a tiny random infilling model, built in the tests and saved as a model folder."""

from __future__ import annotations

from pathlib import Path

import torch

from apps.code.tokenizer import TokenizerConfig, train_tokenizer
from shared_dlm import Denoiser, DenoiserConfig

from .conftest import PROMPT, SOLUTION, module

TEXTS = [module(name, 8) for name in ("alpha", "beta", "gamma")] + [PROMPT + SOLUTION] * 3


def tiny_tokenizer():
    return train_tokenizer(TEXTS, TokenizerConfig(vocab_size=400))


def tiny_model_folder(folder: Path, tokenizer, max_len: int = 512, seed: int = 0) -> Path:
    """A random denoiser (width 32, one layer) saved with its tokenizer, as `dlm-code train` leaves one."""
    torch.manual_seed(seed)
    config = DenoiserConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_len,
        mask_token_id=tokenizer.mask_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    Denoiser(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

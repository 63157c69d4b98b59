"""A tiny code tokenizer and a tiny random infilling model, built in the tests and saved as a model folder."""

from __future__ import annotations

from pathlib import Path

from apps.code.tokenizer import TokenizerConfig, train_tokenizer
from tests.conftest import tiny_denoiser

from .conftest import PROMPT, SOLUTION, module

TEXTS = [module(name, 8) for name in ("alpha", "beta", "gamma")] + [PROMPT + SOLUTION] * 3


def tiny_tokenizer():
    return train_tokenizer(TEXTS, TokenizerConfig(vocab_size=400))


def tiny_model_folder(folder: Path, tokenizer, max_len: int = 512, seed: int = 0) -> Path:
    """A random denoiser (width 32, one layer) saved with its tokenizer, as `dlm-code train` leaves one."""
    model = tiny_denoiser(len(tokenizer), tokenizer.mask_token_id, tokenizer.pad_token_id, max_len, seed, num_hidden_layers=1)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

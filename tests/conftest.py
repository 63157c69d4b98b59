"""Small models and tokenizers built in the tests, seeded; nothing is downloaded."""

from __future__ import annotations

import pytest
import torch

from shared_dlm import Denoiser, DenoiserConfig


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: a second torch thread only adds contention (the tests may share the machine with other
    work); modules opt in with ``pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_denoiser(vocab_size: int = 12, mask_id: int = 0, pad_id: int | None = 1, max_len: int = 32, seed: int = 0, **kw) -> Denoiser:
    torch.manual_seed(seed)
    config = DenoiserConfig(
        vocab_size=vocab_size,
        hidden_size=kw.pop("hidden_size", 32),
        num_hidden_layers=kw.pop("num_hidden_layers", 2),
        num_attention_heads=kw.pop("num_attention_heads", 2),
        intermediate_size=kw.pop("intermediate_size", 64),
        max_position_embeddings=max_len,
        mask_token_id=mask_id,
        pad_token_id=pad_id,
        **kw,
    )
    return Denoiser(config).eval()


@pytest.fixture
def model() -> Denoiser:
    return tiny_denoiser()

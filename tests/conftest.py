"""Small models and tokenizers built in the tests, seeded; nothing is downloaded."""

from __future__ import annotations

import shutil

import pytest
import torch

from shared_dlm import Denoiser, DenoiserConfig


# The Debian package that installs each external program a test drives (.ci/run installs them all).
DEBIAN_PACKAGES = {
    "mmseqs": "mmseqs2",
    "makeblastdb": "ncbi-blast+",
    "blastdbcmd": "ncbi-blast+",
    "hmmscan": "hmmer",
    "/usr/bin/chromium": "chromium",
}


def requires_tool(*tools: str) -> pytest.MarkDecorator:
    """Skip, naming what is missing and the Debian package that installs it, unless every tool is on PATH
    (or, given as an absolute path, is an executable there). The one marker of every test that drives a tool."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    packages = sorted({DEBIAN_PACKAGES[tool] for tool in missing})
    return pytest.mark.skipif(
        bool(missing),
        reason=f"needs {', '.join(missing)} (apt-get install {' '.join(packages)}; .ci/run installs it)",
    )


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

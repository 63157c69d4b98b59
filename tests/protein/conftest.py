"""Tiny random models for the protein design tests, built and saved once a session: a generator (our
Denoiser on the ESM alphabet, saved with the protein tokenizer) and an ESM-2 scorer (saved with save_esm2).

``one_thread``: these models are so small that a second torch thread only adds contention (the tests
may share the machine with other work); modules opt in with ``pytest.mark.usefixtures("one_thread")``.
"""

from __future__ import annotations

from pathlib import Path

import esm
import pytest
import torch
from esm.model.esm2 import ESM2

from apps.protein.alphabet import MASK_ID, PAD_ID, VOCAB_SIZE, build_tokenizer
from apps.protein.scoring import Scorer, save_esm2
from shared_dlm import Denoiser, DenoiserConfig, load

MAX_POSITIONS = 128  # the generator's window: at most 126 residues plus <cls> and <eos>
MAX_RESIDUES = MAX_POSITIONS - 2


def tiny_generator(seed: int = 0, mask_id: int = MASK_ID) -> Denoiser:
    torch.manual_seed(seed)
    config = DenoiserConfig(
        vocab_size=VOCAB_SIZE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS, mask_token_id=mask_id, pad_token_id=PAD_ID,
    )  # fmt: skip
    return Denoiser(config).eval()


def tiny_esm2(seed: int = 0) -> ESM2:
    torch.manual_seed(seed)
    return ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=esm.data.Alphabet.from_architecture("ESM-1b")).eval()


def tiny_generator_folder(folder: Path) -> Path:
    """``tiny_generator()`` saved with the protein tokenizer, as a trained generator's folder is."""
    tiny_generator().save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def generator_dir(tmp_path_factory) -> Path:
    return tiny_generator_folder(tmp_path_factory.mktemp("protein-generator"))


@pytest.fixture(scope="session")
def scorer_dir(tmp_path_factory) -> Path:
    return save_esm2(tiny_esm2(), tmp_path_factory.mktemp("protein-scorer"))


@pytest.fixture(scope="session")
def generator_model(generator_dir) -> Denoiser:
    return load(generator_dir).model


@pytest.fixture(scope="session")
def esm_scorer(scorer_dir) -> Scorer:
    return Scorer.from_pretrained(scorer_dir)

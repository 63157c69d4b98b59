"""Tiny random models saved as folders, as the dashboards' model inputs take them; built once a session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from apps.protein.scoring import save_esm2
from tests.code.infill_helpers import tiny_model_folder, tiny_tokenizer
from tests.protein.conftest import tiny_esm2, tiny_generator_folder


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The models are tiny: a second torch thread only adds contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def code_model(tmp_path_factory) -> Path:
    return tiny_model_folder(tmp_path_factory.mktemp("code-model"), tiny_tokenizer(), max_len=128)


@pytest.fixture(scope="session")
def protein_model(tmp_path_factory) -> Path:
    return tiny_generator_folder(tmp_path_factory.mktemp("protein-generator"))


@pytest.fixture(scope="session")
def protein_scorer(tmp_path_factory) -> Path:
    return save_esm2(tiny_esm2(), tmp_path_factory.mktemp("protein-scorer"))


@pytest.fixture(scope="session")
def protein_go_model(tmp_path_factory, protein_scorer) -> Path:
    """A tiny GO-conditioned generator with probes (random weights) for the tiny scorer beside it."""
    import numpy as np

    from apps.protein.probes import PROBES_FILE, ProbeSet
    from tests.protein.conftest import tiny_go_generator_folder

    folder = tiny_go_generator_folder(tmp_path_factory.mktemp("protein-go"))
    rng = np.random.default_rng(0)
    terms, width = ["GO:0003677", "GO:0008270"], 2 * 32  # the tiny scorer: 2 layers of 32
    ProbeSet(
        terms=terms, names=["DNA binding", "zinc ion binding"], scorer=str(protein_scorer),
        mean=np.zeros((2, width)), scale=np.ones((2, width)), coef=rng.normal(size=(2, width)),
        intercept=np.zeros(2), thresholds=np.array([-1e9, 1e9]), checks={},  # DNA binding always, zinc never
    ).save(folder / PROBES_FILE)  # fmt: skip
    return folder

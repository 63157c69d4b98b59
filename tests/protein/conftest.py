"""Tiny random models for the protein design tests, built and saved once a session: a generator (our
Denoiser on the ESM alphabet, saved with the protein tokenizer) and an ESM-2 scorer (saved with save_esm2).

Modules opt in to one torch thread with ``pytest.mark.usefixtures("one_thread")`` (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import esm
import pytest
import torch
from esm.model.esm2 import ESM2

from apps.protein.alphabet import MASK_ID, PAD_ID, VOCAB_SIZE, build_tokenizer
from apps.protein.design import Generator, load_generator
from apps.protein.scoring import Scorer, save_esm2
from shared_dlm import Denoiser, DenoiserConfig

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


@pytest.fixture(scope="session")
def generator_dir(tmp_path_factory) -> Path:
    return tiny_generator_folder(tmp_path_factory.mktemp("protein-generator"))


@pytest.fixture(scope="session")
def scorer_dir(tmp_path_factory) -> Path:
    return save_esm2(tiny_esm2(), tmp_path_factory.mktemp("protein-scorer"))


@pytest.fixture(scope="session")
def generator_model(generator_dir) -> Generator:
    """The tiny generator loaded (``design.Generator``: no GO vocabulary)."""
    return load_generator(generator_dir)


@pytest.fixture(scope="session")
def esm_scorer(scorer_dir) -> Scorer:
    return Scorer.from_pretrained(scorer_dir)


# ---- GO conditioning: a tiny GO graph (goGraph.txt and nameMapping.txt as metastudent-data ships them),
# a corpus whose proteins carry terms of it, and a tiny GO-conditioned generator ---------------------------

GO_NAMES = {
    "GO:0003674": "molecular_function", "GO:0008150": "biological_process", "GO:0005575": "cellular_component",
    "GO:0005488": "binding", "GO:0003676": "nucleic acid binding", "GO:0003677": "DNA binding",
    "GO:0046872": "metal ion binding", "GO:0008270": "zinc ion binding", "GO:0016020": "membrane",
    "GO:0016021": "integral component of membrane", "GO:0006351": "transcription, DNA-templated",
    "GO:0006355": "regulation of transcription, DNA-templated", "GO:0000001": "mitochondrion inheritance",
}  # fmt: skip
GO_EDGES = [  # parent, child, relation: the child `relation` the parent
    ("GO:0003674", "GO:0005488", "is_a"), ("GO:0005488", "GO:0003676", "is_a"), ("GO:0003676", "GO:0003677", "is_a"),
    ("GO:0005488", "GO:0046872", "is_a"), ("GO:0046872", "GO:0008270", "is_a"), ("GO:0005575", "GO:0016020", "is_a"),
    ("GO:0016020", "GO:0016021", "part_of"), ("GO:0008150", "GO:0006351", "is_a"), ("GO:0008150", "GO:0006355", "is_a"),
    ("GO:0006351", "GO:0006355", "regulates"), ("GO:0008150", "GO:0000001", "is_a"),
]  # fmt: skip
GO_GROUPS = {  # residues a group's proteins are made of, and their annotations
    "dna": ("KRKRSTAGE", ["GO:0003677", "GO:0006355"]),
    "zinc": ("CHCHEDGAS", ["GO:0008270"]),
    "membrane": ("LIVFLAGLW", ["GO:0016021"]),
    "none": ("ACDEFGHIKLMNPQRSTVWY", []),
}


def write_go_graph(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "goGraph.txt").write_text("".join(f"{p}\t{c}\t1\t{r}\n" for p, c, r in GO_EDGES))
    (folder / "nameMapping.txt").write_text("".join(f"{t}\t{n}\n" for t, n in GO_NAMES.items()))
    return folder


@pytest.fixture
def go_graph_dir(tmp_path_factory, monkeypatch) -> Path:
    """The tiny GO graph, made the one ``go.default_graph()`` reads."""
    folder = write_go_graph(tmp_path_factory.mktemp("go-graph"))
    monkeypatch.setenv("DLM_GO_DIR", str(folder))
    return folder


def go_protein(rng, group: str, length: int) -> str:
    return "".join(rng.choice(GO_GROUPS[group][0]) for _ in range(length))


def write_go_corpus(folder: Path, per_group: dict[str, int] = {"train": 12, "validation": 4, "test": 4}) -> Path:
    """A corpus in the layout `dlm-protein corpus` writes, each protein of one group of GO_GROUPS."""
    import random

    from datasets import Dataset, DatasetDict

    rng = random.Random(3)
    splits = {}
    for split, n in per_group.items():
        rows = [(go_protein(rng, g, rng.randint(30, 60)), GO_GROUPS[g][1]) for g in GO_GROUPS for _ in range(n)]
        splits[split] = Dataset.from_dict({
            "accession": [f"{split}{i}" for i in range(len(rows))], "sequence": [s for s, _ in rows],
            "go": [go for _, go in rows], "length": [len(s) for s, _ in rows], "cluster": [f"{split}{i}" for i in range(len(rows))],
        })  # fmt: skip
    DatasetDict(splits).save_to_disk(folder)
    return folder


def tiny_go_vocabulary(min_count: int = 5):
    from apps.protein.go import GoGraph, build_vocabulary

    graph = GoGraph.load(write_go_graph(Path(__import__("tempfile").mkdtemp(prefix="go-graph-"))))
    annotations = [go for _, go in GO_GROUPS.values() for _ in range(10)]
    return build_vocabulary(annotations, graph, VOCAB_SIZE, min_count, source="tests")


def tiny_go_generator_folder(folder: Path, seed: int = 0) -> Path:
    """A tiny random GO-conditioned generator: vocabulary, tokenizer with the term tokens, go_terms.json."""
    from apps.protein.go_train import go_tokenizer

    vocabulary = tiny_go_vocabulary()
    tokenizer = go_tokenizer(vocabulary)
    torch.manual_seed(seed)
    config = DenoiserConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS, mask_token_id=MASK_ID, pad_token_id=PAD_ID,
    )  # fmt: skip
    Denoiser(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    vocabulary.save(folder)
    return folder


@pytest.fixture(scope="session")
def go_generator_dir(tmp_path_factory) -> Path:
    return tiny_go_generator_folder(tmp_path_factory.mktemp("go-generator"))

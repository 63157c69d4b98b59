"""The default models that ship inside the package: present, small, loadable strictly, and usable by the
apps' demos with no model argument (what a user runs first)."""

from __future__ import annotations

import json
import re

import pytest
import torch

import apps.code
import apps.protein
from apps.code.cli import main as code_main
from apps.protein.alphabet import STANDARD_RESIDUES
from apps.protein.cli import main as protein_main
from apps.protein.go import TermVocabulary
from apps.protein.probes import PROBES_FILE, ProbeSet
from apps.protein.scoring import Scorer, load_esm
from shared_dlm import load, registered_names

LIMIT = 25 * 1000 * 1000  # bytes a shipped model may take


@pytest.fixture(autouse=True)
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    "folder",
    [apps.code.SHIPPED_MODEL, apps.protein.SHIPPED_GENERATOR, apps.protein.SHIPPED_SCORER, apps.protein.SHIPPED_GO_GENERATOR],
)
def test_shipped_models_are_small_and_say_how_they_were_made(folder):
    assert folder.is_dir(), f"{folder} is missing"
    assert sum(f.stat().st_size for f in folder.iterdir()) < LIMIT
    record = json.loads((folder / "training.json").read_text())
    assert record["step"] > 0 and record["train_config"]["max_steps"] == record["step"]


def test_defaults_are_registered_and_load_strictly():
    assert {"code-default", "protein-default", "protein-scorer-default", "protein-go"} <= set(registered_names())
    code = load("code-default")
    assert code.tokenizer.eoi_token_id is not None and (apps.code.SHIPPED_MODEL / "infill.json").is_file()
    generator = load("protein-default")
    assert generator.model.spec.vocab_size == 33
    scorer = load_esm(apps.protein.SHIPPED_SCORER)
    assert scorer.num_layers >= 1
    assert Scorer(scorer).window == 128  # its training crops, from the training.json shipped beside it


@pytest.mark.slow
def test_code_demo_runs_on_the_shipped_model(capsys):
    assert code_main(["demo", "--num", "2"]) == 0
    printed = capsys.readouterr().out
    # a score is the mean log-probability of the fill's tokens, nan for an empty fill
    assert "filled by code-default" in printed and re.search(r"#1 +(parses|does not parse), score (-?\d|nan)", printed)


@pytest.mark.slow
def test_protein_demo_keeps_the_motifs_with_the_shipped_models(capsys):
    assert protein_main(["demo", "--num", "2"]) == 0
    printed = capsys.readouterr().out
    sequences = re.findall(rf"\b[{STANDARD_RESIDUES}{STANDARD_RESIDUES.lower()}]{{120}}$", printed, re.M)
    assert len(sequences) == 2
    for sequence in sequences:  # the table writes motif residues in lower case: HEXXHXXGXXH at 50, GGSGGS floating
        assert [sequence[i] for i in (49, 50, 53, 56, 59)] == list("hehgh")
        assert "ggsggs" in sequence[79:110]


def test_the_go_generator_designs_for_a_term_with_the_default_model(capsys):
    config = apps.protein.DesignConfig(num=2, go=("GO:0008270",), guidance=2.0, steps=10)
    designs = apps.protein.design(40, ["10:HEXXH"], config, scorer=None)
    assert all(d.go == ("GO:0008270",) and d.sequence[9:11] == "HE" for d in designs)
    vocabulary = TermVocabulary.load(apps.protein.SHIPPED_GO_GENERATOR)
    assert len(vocabulary) > 1000 and "GO:0003677" in vocabulary
    probes = ProbeSet.load(apps.protein.SHIPPED_GO_GENERATOR / PROBES_FILE)
    assert set(probes.terms) <= set(vocabulary.index) and probes.scorer == "protein-scorer-default"
    assert protein_main(["terms", "zinc ion"]) == 0
    assert "GO:0008270" in capsys.readouterr().out

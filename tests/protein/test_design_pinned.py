"""Designs of the shipped generators pinned to the sequences the code gave before the DesignConfig refactor
(issue 23): the same seeds must give the same designs."""

from __future__ import annotations

import pytest

from apps.protein.design import DEFAULT_GO_MODEL, DEFAULT_MODEL, DEFAULT_SCORER, DesignConfig, design
from shared_dlm import registered_names

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(
        not {DEFAULT_MODEL, DEFAULT_GO_MODEL, DEFAULT_SCORER} <= set(registered_names()), reason="shipped models absent"
    ),
]

PINNED = [
    # (length, motifs, num, options) -> sequences best first, their sample rows
    (
        (24, ["5:HEXXH"], 2, {"seed": 0}),
        ["MEFAHEAHHNAPEAAEASEHEEAL", "LPDRHEDAHFRGKKTVAPRRSPSM"],
        [1, 0],
    ),
    (
        (20, ["3-15:GGS"], 2, {"seed": 1, "sampler": "confidence", "forbid": "CW", "steps": 10}),
        ["ASGGSGISSASGMGSPTSGG", "MAGSAGGSVPMIGAAGKPKT"],
        [0, 1],
    ),
    (
        (20, [], 2, {"seed": 2, "sampler": "fixed", "steps": 5, "cache": True, "temperature": 0.7}),
        ["MLATLALQVLLLILAFLLVG", "MNFSLQSKKSFNSSASSAKE"],
        [1, 0],
    ),
    (  # the default model with a GO term: the shipped GO generator
        (20, ["5:HEXXH"], 2, {"seed": 0, "go": ["GO:0008270"], "guidance": 2.0, "steps": 10}),
        ["IYVIHEIIHSCVPRSCGPIA", "CLARHEGAHDQRQSELRPYF"],
        [1, 0],
    ),
]


@pytest.mark.parametrize(("request_", "sequences", "samples"), PINNED)
def test_shipped_generators_give_the_pinned_designs(request_, sequences, samples):
    length, motifs, num, options = request_
    designs = design(length, motifs, DesignConfig(num=num, **options), scorer=None)
    assert [d.sequence for d in designs] == sequences
    assert [d.sample for d in designs] == samples


def test_esm_remasked_designs_and_their_scores_are_pinned():
    config = DesignConfig(num=3, seed=4, esm_remask=-3.0)
    designs = design(20, ["5:HEXXH"], config, reference=["MKTAYIAKQRQISFVKSHFSRQ"])
    assert [d.sequence for d in designs] == ["HPTPHELIHVDNEEGKEVPS", "ETIRHEIKHPRMRFDKRRNE", "LPIAHEREHKTEYDELREKC"]
    assert [d.sample for d in designs] == [0, 1, 2]
    assert [d.scores["pseudo_perplexity"] for d in designs] == pytest.approx([20.1479, 20.7333, 20.8816], abs=1e-3)
    assert [d.scores["embedding_similarity"] for d in designs] == pytest.approx([0.9565, 0.9742, 0.961], abs=1e-3)


def test_a_sharded_cli_run_records_the_pinned_request_and_designs(tmp_path):
    """run.json is what a resumed run is compared with: its keys and values must not change."""
    import json

    from apps.protein.cli import main
    from apps.protein.fasta import read_fasta

    out = tmp_path / "run"
    argv = ["design", "--length", "12", "--motif", "3:CXXC", "--num", "3", "--shard-size", "2", "--out", str(out),
            "--scorer", "none", "--seed", "5", "--sampler", "confidence", "--order-noise", "2.0"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads((out / "run.json").read_text()) == {
        "length": 12, "motifs": ["3:CXXC"], "model": "protein-default", "scorer": "None", "steps": None,
        "sampler": "confidence", "temperature": 1.0, "forbid": "", "esm_remask": None, "go": [], "guidance": None,
        "reference": None, "order_noise": 2.0, "num": 3, "shard_size": 2, "seed": 5,
    }  # fmt: skip
    sequences = [r.sequence for shard in ("shard-00000", "shard-00001") for r in read_fasta(out / f"{shard}.fasta")]
    assert sequences == ["SLCLFCQYLLYK", "TCCCRCCCACKT", "GPCLSCGDGEID"]
    assert main(argv) == 0  # the same request resumes: nothing left to do

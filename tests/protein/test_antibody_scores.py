"""Antibody chains scored by AntiBERTy and Sapiens: per residue over the variable domain, and what the scores
tell apart (a humanized chain from a mouse one, a chain from its shuffle)."""

import json
import random

import pytest

from apps.protein.antibody.scores import masked_log_probs, model, score_chain
from apps.protein.cli import main

# trastuzumab (humanized) VH and VL, and OKT3's mouse VH
VH = "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS"
VL = "DIQMTQSPSSLSASVGDRVTITCRASQDVNTAVAWYQQKPGKAPKLLIYSASFLYSGVPSRFSGSRSGTDFTLTISSLQPEDFATYYCQQHYTTPPTFGQGTKVEIK"
OKT3_VH = "QVQLQQSGAELARPGASVKMSCKASGYTFTRYTMHWVKQRPGQGLEWIGYINPSRGYTNYNQKFKDKATLTTDKSSSTAYMQLSSLTSEDSAVYYCARYYDDHYCLDYWGQGTTLTVSS"


@pytest.fixture(scope="module")
def scored():
    return {name: score_chain(seq) for name, seq in [("vh", VH), ("vl", VL), ("mouse", OKT3_VH)]}


def test_every_residue_of_the_domain_is_scored_with_its_imgt_label(scored):
    vh = scored["vh"]
    assert [r.residue for r in vh.residues] == list(VH) and vh.chain == "H"
    assert vh.residues[0].position == "1" and vh.residues[-1].position == "128"
    assert {r.region for r in vh.residues} == {"FR1", "CDR1", "FR2", "CDR2", "FR3", "CDR3", "FR4"}
    assert all(r.antiberty_logp <= 0.0 and 0.0 <= r.humanness <= 1.0 for r in vh.residues)
    assert vh.antiberty_pll == pytest.approx(sum(r.antiberty_logp for r in vh.residues) / len(VH))
    assert scored["vl"].chain == "L"  # scored by the light-chain Sapiens


def test_a_humanized_chain_reads_more_human_than_a_mouse_one(scored):
    assert scored["vh"].humanness > scored["mouse"].humanness
    assert scored["vh"].v_identity > scored["mouse"].v_identity and scored["mouse"].species == "mouse"


def test_frameworks_read_more_human_than_cdrs(scored):
    """Sapiens learned human frameworks; CDRs vary from antibody to antibody."""
    vh = scored["vh"]
    frames = [r.humanness for r in vh.residues if r.region.startswith("FR")]
    cdrs = [r.humanness for r in vh.residues if r.region.startswith("CDR")]
    assert sum(frames) / len(frames) > sum(cdrs) / len(cdrs)


def test_a_tail_after_the_domain_is_not_scored(scored):
    tailed = score_chain(VH + "ASTKGPSVFPLAP")
    assert len(tailed.residues) == len(VH) and tailed.humanness == pytest.approx(scored["vh"].humanness)


def test_a_shuffled_chain_scores_lower_under_both_models():
    shuffled = "".join(random.Random(0).sample(VH, len(VH)))
    for name in ("antiberty", "sapiens-vh"):
        assert masked_log_probs(model(name), VH).mean() > masked_log_probs(model(name), shuffled).mean() + 1.0


def test_a_chain_longer_than_the_model_reads_is_refused():
    with pytest.raises(ValueError, match="reads at most 142"):
        masked_log_probs(model("sapiens-vh"), VH * 2)


def test_cli_scores_each_record_and_refuses_a_chain_that_is_no_antibody(tmp_path, capsys):
    fasta = tmp_path / "chains.fasta"
    fasta.write_text(f">vh trastuzumab heavy\n{VH}\n>vl\n{VL}\n")
    assert main(["antibody", "score", str(fasta), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["chain"], r["description"]) for r in rows] == [("vh", "H", "vh trastuzumab heavy"), ("vl", "L", "vl")]
    assert len(rows[0]["residues"]) == len(VH) and rows[0]["residues"][0]["position"] == "1"
    # the shipped ESM-2 scorer's figures, as dlm-protein score gives them
    assert rows[0]["esm"]["pseudo_perplexity"] > 1.0 and all(r["esm_logp"] <= 0.0 for r in rows[0]["residues"])
    assert main(["antibody", "score", str(fasta), "--json", "--esm", "none"]) == 0
    assert all(r["esm"] is None for r in json.loads(capsys.readouterr().out))
    fasta.write_text(f">vh\n{VH}\n>lysozyme\nKVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPC\n")
    assert main(["antibody", "score", str(fasta)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith("record lysozyme: the sequence does not number as an antibody variable domain (no IMGT profile fits)")

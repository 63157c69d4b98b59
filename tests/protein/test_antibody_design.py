"""Antibody redesign and humanization as a user runs them: through the Python API and `dlm-protein antibody
design|humanize`, on real chains (trastuzumab's VH/VL, OKT3's mouse VH and VL), bad input included."""

import json
import re
from dataclasses import replace

import pytest

from apps.protein.alphabet import ESM_IDS, ResidueIds
from apps.protein.antibody import (
    DEFAULT_CONFIG,
    VERNIER,
    HumanizeConfig,
    RedesignError,
    cdr_graft,
    humanize,
    kept_indices,
    number,
    redesign,
    region_indices,
)
from apps.protein.antibody.redesign import antibody_generator
from apps.protein.cli import main
from tests.conftest import requires_tool

VH = "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS"
VL = "DIQMTQSPSSLSASVGDRVTITCRASQDVNTAVAWYQQKPGKAPKLLIYSASFLYSGVPSRFSGSRSGTDFTLTISSLQPEDFATYYCQQHYTTPPTFGQGTKVEIK"
OKT3_VH = "QVQLQQSGAELARPGASVKMSCKASGYTFTRYTMHWVKQRPGQGLEWIGYINPSRGYTNYNQKFKDKATLTTDKSSSTAYMQLSSLTSEDSAVYYCARYYDDHYCLDYWGQGTTLTVSS"
CH1 = "ASTKGPSVFPLAPSSKSTSGGTAALGCLVKDYFPEPVTVSWNSGALTSGVHTFPAVLQSSGLYSLSSVVTVPSSSLGTQTYICNVNHKPSNTKVDKKV"  # constant
LYSOZYME = "KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL"
OKT3_VL = "QIVLTQSPAIMSASPGEKVTMTCSASSSVSYMNWYQQKSGTSPKRWIYDTSKLASGVPAHFRGSGSGTSYSLTISGMEAEDAATYYCQQWSSNPFTFGSGTKLEIN"


def test_the_antibody_models_write_residues_in_their_own_ids():
    for name in ("antiberty", "sapiens-vh"):
        ids = antibody_generator(name).residue_ids
        assert ids != ESM_IDS and set(ids.ids) >= set("ACDEFGHIKLMNPQRSTVWY")
        assert ids.decode(ids.encode("EVQLV")) == "EVQLV"
    with pytest.raises(ValueError, match="no token for the residues"):
        ResidueIds({"A": 1}, 0, 2)


@pytest.mark.parametrize("generator", ["antiberty", "sapiens"])
def test_a_cdrh3_redesign_changes_only_the_cdr(generator):
    cdr = region_indices(number(VH), "cdrh3")
    designs = redesign(VH, ["cdrh3"], replace(DEFAULT_CONFIG, num=3), generator=generator)
    assert [d.rank for d in designs] == [1, 2, 3]
    assert [d.generator_log_prob for d in designs] == sorted((d.generator_log_prob for d in designs), reverse=True)
    for d in designs:
        assert len(d.sequence) == len(VH) and set(d.redesigned) <= set("ACDEFGHIKLMNPQRSTVWY")
        assert all(d.sequence[i] == VH[i] for i in range(len(VH)) if i not in cdr)
        assert d.redesigned == "".join(d.sequence[i] for i in cdr)
        assert d.numbered is not None and d.numbered.chain == "H"


def test_a_length_range_gives_cdrs_of_those_lengths():
    designs = redesign(VH, ["cdrh3"], replace(DEFAULT_CONFIG, num=4), length_range=(11, 14))
    lengths = {len(d.redesigned) for d in designs}
    assert lengths <= {11, 12, 13, 14} and len(lengths) > 1
    cdr = region_indices(number(VH), "cdrh3")
    for d in designs:  # the chain around the CDR is the parent's; the design still numbers as a heavy chain
        assert d.sequence == VH[: cdr[0]] + d.redesigned + VH[cdr[-1] + 1 :]
        assert d.numbered is not None and d.numbered.chain == "H"


@pytest.mark.parametrize(
    ("regions", "message"),
    [(["cdrl1"], "light chain"), (["cdrh4"], "CDRs are 1-3"), (["H:130-140"], "no residue"), ([], "at least one")],
)
def test_bad_regions_are_refused_by_name(regions, message):
    with pytest.raises(RedesignError, match=message):
        redesign(VH, regions)


def test_a_sequence_that_is_no_antibody_is_refused():
    with pytest.raises(RedesignError, match="antibody variable domain"):
        redesign(LYSOZYME, ["cdrh3"])


def test_humanizing_a_mouse_chain_keeps_its_cdrs_and_raises_its_humanness():
    for chain in (OKT3_VH, OKT3_VL):
        numbered = number(chain)
        result = humanize(chain)
        assert all(result.sequence[i] == chain[i] for i in numbered.cdr_indices())
        assert result.humanness_after > result.humanness_before + 0.1
        assert number(result.sequence).v_identity > numbered.v_identity + 0.1
        assert all(m.region.startswith("FR") and chain[m.index] == m.parent for m in result.mutations)


def test_keep_vernier_keeps_the_vernier_zone_too():
    numbered = number(OKT3_VH)
    result = humanize(OKT3_VH, HumanizeConfig(keep_vernier=True))
    zone = [i for i, p in enumerate(numbered.positions) if p in {str(v) for v in VERNIER["H"]}]
    assert len(zone) == len(VERNIER["H"]) and set(zone) <= set(kept_indices(numbered, vernier=True))
    assert all(result.sequence[i] == OKT3_VH[i] for i in zone)


def test_the_cdr_graft_keeps_the_cdrs_on_a_human_germline():
    numbered = number(OKT3_VH)
    grafted = cdr_graft(OKT3_VH)
    assert all(grafted[i] == OKT3_VH[i] for i in numbered.cdr_indices())
    assert number(grafted).v_identity > 0.9 > numbered.v_identity


@requires_tool("hmmscan")
def test_the_vernier_table_is_anarcis_kabat_positions_in_imgt():
    """ANARCI (with HMMER) numbers a chain in Kabat and IMGT: the Vernier residues by Kabat fall on ``VERNIER``."""
    from anarci import anarci

    kabat = {"H": ["2", "27", "28", "29", "30", "47", "48", "49", "67", "69", "71", "73", "78", "93", "94", "103"],
             "L": ["2", "4", "35", "36", "46", "47", "48", "49", "64", "66", "68", "69", "71", "98"]}  # fmt: skip
    for chain, sequence in (("H", OKT3_VH), ("L", VL)):
        labels = {}
        for scheme in ("kabat", "imgt"):
            numbering, _, _ = anarci([("x", sequence)], scheme=scheme)
            domain = numbering[0][0][0]
            labels[scheme] = []
            for (position, insertion), residue in domain:
                if residue != "-":
                    labels[scheme].append(f"{position}{insertion.strip()}")
        to_imgt = dict(zip(labels["kabat"], labels["imgt"]))
        assert tuple(int(to_imgt[k]) for k in kabat[chain]) == VERNIER[chain]


def write(tmp_path, records):
    path = tmp_path / "chains.fasta"
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
    return path


def test_humanize_cli_writes_one_record_per_input_with_its_header(tmp_path, capsys):
    path = tmp_path / "in.fasta"
    path.write_text(f">okt3_vh OKT3 heavy chain, mouse\n{OKT3_VH}\n>okt3_vl OKT3 light chain\n{OKT3_VL}\n")
    out = tmp_path / "humanized.fasta"
    assert main(["antibody", "humanize", str(path), "--out", str(out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    headers = [line for line in out.read_text().splitlines() if line.startswith(">")]
    assert headers == [">okt3_vh OKT3 heavy chain, mouse", ">okt3_vl OKT3 light chain"]
    assert [r["humanness_after"] > r["humanness_before"] for r in listed] == [True, True]


def test_design_cli_redesigns_each_chain_its_regions(tmp_path, capsys):
    path = write(tmp_path, [("vh", VH), ("vl", VL)])
    out = tmp_path / "designs.fasta"
    assert main(["antibody", "design", str(path), "--redesign", "cdrh3", "--redesign", "cdrl3", "--num", "2",
                 "--out", str(out), "--json"]) == 0  # fmt: skip
    listed = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in listed] == ["vh_design_1", "vh_design_2", "vl_design_1", "vl_design_2"]
    assert out.read_text().count(">") == 4 and listed[2]["regions"] == ["cdrl3"]


@pytest.mark.parametrize(
    ("records", "args", "message"),
    [
        ([("vh", VH)], ["--redesign", "cdrl3"], "holds none"),
        ([("vh", VH)], ["--redesign", "loop7"], "unknown region"),
        ([("vh", VH)], ["--redesign", "H:140-150"], "record vh: 'H:140-150': no residue"),
        ([("vh", VH), ("lyz", LYSOZYME)], ["--redesign", "cdrh3"], "record lyz: .*antibody variable domain"),
        ([("vh", VH + "J")], ["--redesign", "cdrh3"], "'J'"),
        ([("vh", VH * 2)], ["--redesign", "cdrh3"], "2 variable domains"),
        ([("vh", VH + CH1 + CH1)], ["--redesign", "cdrh3", "--model", "sapiens"], "record vh: 316 residues; sapiens reads at most 142"),
    ],
)
def test_bad_design_input_is_one_line_and_writes_nothing(tmp_path, capsys, records, args, message):
    path = write(tmp_path, records)
    out = tmp_path / "designs.fasta"
    assert main(["antibody", "design", str(path), *args, "--num", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not out.exists()


def test_an_empty_fasta_is_refused(tmp_path, capsys):
    path = tmp_path / "empty.fasta"
    path.write_text("")
    assert main(["antibody", "humanize", str(path), "--out", str(tmp_path / "h.fasta")]) == 1
    assert "no FASTA records" in capsys.readouterr().err and not (tmp_path / "h.fasta").exists()


@pytest.mark.parametrize("sampler", ["ancestral", "confidence", "factor", "fixed", "remdm", "threshold"])
@pytest.mark.parametrize("generator", ["antiberty", "sapiens"])
def test_every_sampler_redesigns_with_the_antibody_models(sampler, generator):
    cdr = set(region_indices(number(VH), "cdrh3"))
    config = replace(DEFAULT_CONFIG, num=2, sampler=sampler, steps=4, order_noise=None, cache=sampler == "threshold")
    for d in redesign(VH, ["cdrh3"], config, generator=generator):
        assert all(d.sequence[i] == VH[i] for i in range(len(VH)) if i not in cdr)
        assert set(d.redesigned) <= set("ACDEFGHIKLMNPQRSTVWY")


def test_a_remasker_hook_runs_on_an_antibody_canvas():
    """The core's Remasker hook sends positions back to the mask on a canvas in AntiBERTy's ids; fixed ones stay."""
    import torch

    from apps.protein.design import DesignConfig, plan
    from shared_dlm import generate

    generator = antibody_generator("antiberty")
    cdr = region_indices(number(VH), "cdrh3")
    template = "".join("X" if i in set(cdr) else r for i, r in enumerate(VH))
    planned = plan(len(VH), [f"1:{template}"], DesignConfig(num=2, sampler="confidence", steps=len(cdr)), generator)
    sent_back = []

    def remask_first_cdr_residue(canvas, step):
        hits = torch.zeros_like(canvas.fixed)
        if step == 3:
            hits[:, cdr[0] + 1] = True  # +1: the start token
            sent_back.append(step)
        return hits

    out = generate(generator.model, planned.canvas, planned.sampler, remasker=remask_first_cdr_residue)
    assert sent_back == [3]
    for sequence in planned.sequences(out):
        assert all(sequence[i] == VH[i] for i in range(len(VH)) if i not in set(cdr)) and "X" not in sequence


@pytest.mark.parametrize(("args", "message"), [(["--threshold", "2"], "threshold is a probability"),
                                               (["--rounds", "0"], "rounds must be at least 1")])  # fmt: skip
def test_bad_humanize_settings_are_one_line_and_write_nothing(tmp_path, capsys, args, message):
    path, out = write(tmp_path, [("vh", OKT3_VH)]), tmp_path / "h.fasta"
    assert main(["antibody", "humanize", str(path), *args, "--out", str(out)]) == 1
    assert message in capsys.readouterr().err and not out.exists()

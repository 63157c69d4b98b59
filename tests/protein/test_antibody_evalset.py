"""The antibody evaluation set: which numbered sequences count as complete domains, the identity clusters and the
split they decide, and the builder end to end on tiny BLAST databases made like metastudent-data's."""

from __future__ import annotations

import json
import subprocess
from itertools import combinations

import anarcism
import pytest

from apps.protein.antibody.evalset import (
    DEFAULT_SOURCE,
    EvalSetError,
    Entry,
    build_evalset,
    clusters,
    complete_domain,
    identities,
    load_evalset,
    split_of,
)
from tests.conftest import requires_tool

# trastuzumab, adalimumab (human), pembrolizumab (humanized) and OKT3 (mouse) variable domains
VH = "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS"
VL = "DIQMTQSPSSLSASVGDRVTITCRASQDVNTAVAWYQQKPGKAPKLLIYSASFLYSGVPSRFSGSRSGTDFTLTISSLQPEDFATYYCQQHYTTPPTFGQGTKVEIK"
ADA_VH = "EVQLVESGGGLVQPGRSLRLSCAASGFTFDDYAMHWVRQAPGKGLEWVSAITWNSGHIDYADSVEGRFTISRDNAKNSLYLQMNSLRAEDTAVYYCAKVSYLSTASSLDYWGQGTLVTVSS"
ADA_VL = "DIQMTQSPSSLSASVGDRVTITCRASQGIRNYLAWYQQKPGKAPKLLIYAASTLQSGVPSRFSGSGSGTDFTLTISSLQPEDVATYYCQRYNRAPYTFGQGTKVEIK"
PEM_VH = "QVQLVQSGVEVKKPGASVKVSCKASGYTFTNYYMYWVRQAPGQGLEWMGGINPSNGGTNFNEKFKNRVTLTTDSSTTTAYMELKSLQFDDTAVYYCARRDYRFDMGFDYWGQGTTVTVSS"
OKT3_VH = "QVQLQQSGAELARPGASVKMSCKASGYTFTRYTMHWVKQRPGQGLEWIGYINPSRGYTNYNQKFKDKATLTTDKSSSTAYMQLSSLTSEDSAVYYCARYYDDHYCLDYWGQGTTLTVSS"
OKT3_VL = "QIVLTQSPAIMSASPGEKVTMTCSASSSVSYMNWYQQKSGTSPKRWIYDTSKLASGVPAHFRGSGSGTSYSLTISGMEAEDAATYYCQQWSSNPFTFGSGTKLEIN"
CH1 = "ASTKGPSVFPLAPSSKSTSGGTAALGCLVKDYFPEPVTVSWNSGALTSGVHTFPAVLQSSGLYSLSSVVTVPSSSLGTQTYICNVNHKPSNTKVDKKV"
NOT_AN_ANTIBODY = (  # 350 residues of an enzyme
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALR"
    "PDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVG"
    "IGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHQLALTGDEDRLELEWHQALLRGEMPQTIGGGIGQSRL"
    "TMLLLQLPHIGQVQAGVWPAACRESVPALL"
)


def mutant(sequence: str, *indices: int) -> str:
    return "".join(("W" if r != "W" else "Y") if i in indices else r for i, r in enumerate(sequence))


def entries(named: dict[str, str]) -> list[Entry]:
    results = anarcism.number_sequences(list(named.items()), workers=1)
    found = [complete_domain(a, s, r) for (a, s), r in zip(named.items(), results)]
    assert all(isinstance(e, Entry) for e in found), found
    return found


def test_a_complete_domain_is_trimmed_to_its_numbered_span():
    (heavy, light) = entries({"P1": VH + CH1, "P2": VL})
    assert (heavy.sequence, heavy.chain, heavy.chain_type, heavy.species) == (VH, "H", "H", "human")
    assert (light.sequence, light.chain, light.chain_type) == (VL, "L", "K")
    assert len(heavy.positions) == len(heavy.regions) == len(VH) and heavy.positions[0] == "1"
    assert "".join(r for r, g in zip(heavy.sequence, heavy.regions) if g == "CDR3") == "SRWGGDGFYAMDY"


@pytest.mark.parametrize(
    ("sequence", "reason"),
    [(VH[8:], "incomplete"), (VH[:-12], "incomplete"), (VH + VL, "2 domains"), (NOT_AN_ANTIBODY, "no domain")],
    ids=["no FR1 start", "no FR4", "two domains", "no domain"],
)
def test_what_is_not_one_complete_antibody_domain_is_refused_with_its_reason(sequence, reason):
    (result,) = anarcism.number_sequences([("Q", sequence)], workers=1)
    assert complete_domain("Q", sequence, result) == reason


def test_identity_is_counted_by_imgt_label():
    found = entries({"A": VH, "B": mutant(VH, 10, 50, 100), "C": VH.replace("WGGDGFYAMDY", "WGGDGFYAMDYAAA")})
    same = identities(found)
    assert same[0, 0] == 1 and same[0, 1] == same[1, 0] == pytest.approx(1 - 3 / len(VH))
    # a longer CDR3 takes insertion labels in its middle (111A, 112A, ...), moving a few residues; the rest match
    assert 0.9 < same[0, 2] < 1


def test_clusters_join_near_domains_of_one_chain_and_keep_distant_ones_apart():
    found = entries({"Z9": VH, "A1": mutant(VH, 30), "M5": mutant(mutant(VH, 30), 60), "B2": ADA_VH, "C3": PEM_VH,
                     "D4": OKT3_VH, "E5": VL, "F6": ADA_VL, "G7": OKT3_VL})  # fmt: skip
    representative = clusters(found)
    # Z9 is 99% like A1, M5 like A1 (a chain): one cluster, named by its smallest accession
    assert representative["Z9"] == representative["M5"] == representative["A1"] == "A1"
    assert len({representative[a] for a in ("A1", "B2", "C3", "D4", "E5", "F6", "G7")}) == 7
    for chain in ("H", "L"):
        domains = [e for e in found if e.chain == chain]
        same = identities(domains)
        for i, j in combinations(range(len(domains)), 2):
            if representative[domains[i].accession] != representative[domains[j].accession]:
                assert same[i, j] < 0.9


def test_about_a_fifth_of_the_clusters_go_to_test_and_each_always_to_the_same_split():
    splits = [split_of(f"P{i:05d}") for i in range(2000)]
    assert 0.17 < splits.count("test") / len(splits) < 0.23
    assert splits == [split_of(f"P{i:05d}") for i in range(2000)]


needs_tools = requires_tool("makeblastdb", "blastdbcmd")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Three ontology databases holding antibodies, near copies, fragments and a protein that is no antibody."""
    records = {
        "BPO": {"P10001": VH + CH1, "P10002": mutant(VH, 30), "P10003": ADA_VH, "P10004": VH[8:],
                "Q99999": NOT_AN_ANTIBODY[:200], "Q99998": NOT_AN_ANTIBODY},
        "MFO": {"P10001": VH + CH1, "P20001": VL, "P20002": ADA_VL, "P20003": VH + VL, "P20004": PEM_VH},
        "CCO": {"P30001": OKT3_VH, "P30002": OKT3_VL, "P30003": VL, "P30004": VL[:50] + "X" + VL[51:], "P30005": VL[:60]},
    }  # fmt: skip
    root = tmp_path_factory.mktemp("metastudent")
    for ontology, named in records.items():
        (root / ontology).mkdir()
        fasta = root / ontology / "goasp.fasta.in"
        fasta.write_text("".join(f">{accession}|GO:0000001\n{sequence}\n" for accession, sequence in named.items()))
        subprocess.run(
            ["makeblastdb", "-in", str(fasta), "-dbtype", "prot", "-blastdb_version", "4",
             "-out", str(root / ontology / "goasp.fasta")],
            check=True, capture_output=True,
        )  # fmt: skip
    return root


@needs_tools
def test_the_builder_writes_every_complete_domain_once_with_its_origin(source, tmp_path):
    out = tmp_path / "evalset"
    summary = build_evalset(source, out, workers=1)
    built = load_evalset(out)
    domains = {e.accession: e for e in built.reference + built.test}
    # P30003 repeats P20001's VL (the smallest accession is kept); X, fragments, VH+VL and the non-antibody go
    assert set(domains) == {"P10001", "P10002", "P10003", "P20001", "P20002", "P20004", "P30001", "P30002"}
    assert domains["P10001"].sequence == VH and domains["P10002"].cluster == "P10001"
    for split, name in ((built.reference, "reference"), (built.test, "test")):
        assert all(split_of(e.cluster) == name for e in split)
    origin = json.loads((out / "origin.json").read_text())
    assert origin == built.origin == summary
    assert (origin["counts"]["distinct_sequences"], origin["counts"]["standard_and_70_to_260"]) == (14, 11)
    assert origin["counts"]["rejected"] == {"2 domains": 1, "incomplete": 1, "no domain": 1}
    assert origin["all"]["entries"] == 8 and origin["all"]["by_chain_type"] == {"H": 5, "K": 3}
    assert origin["reference"]["entries"] + origin["test"]["entries"] == 8
    assert "UniProt" in origin["licence"] and "IMGT position <= 5 through >= 120" in origin["rule"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["evalset"]  # nothing left of the build beside it


@needs_tools
def test_the_builder_refuses_an_existing_folder_and_a_source_without_databases(source, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(EvalSetError, match="already exists"):
        build_evalset(source, tmp_path / "taken", workers=1)
    with pytest.raises(Exception, match="no BLAST database"):
        build_evalset(tmp_path, tmp_path / "new", workers=1)


@pytest.mark.slow
@requires_tool("blastdbcmd")
@pytest.mark.skipif(not DEFAULT_SOURCE.is_dir(), reason=f"needs {DEFAULT_SOURCE} (apt-get install metastudent-data)")
def test_the_packaged_swiss_prot_gives_both_chains_and_no_test_domain_near_a_reference_one(tmp_path):
    """The real build: minutes (about 6.5 on two busy cores, most of it numbering 158,000 candidates)."""
    build_evalset(DEFAULT_SOURCE, tmp_path / "evalset")
    built = load_evalset(tmp_path / "evalset")
    assert len(built.reference) > 120 and len(built.test) > 15
    for chain in ("H", "L"):
        reference = [e for e in built.reference if e.chain == chain]
        test = [e for e in built.test if e.chain == chain]
        assert reference and test
        assert identities(reference + test)[: len(reference), len(reference) :].max() < 0.9


def test_loading_a_folder_that_is_not_a_set_says_what_was_expected(tmp_path):
    with pytest.raises(EvalSetError, match="expected entries.jsonl and origin.json"):
        load_evalset(tmp_path)

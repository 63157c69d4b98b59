"""IMGT numbering of antibody chains: regions, chain type, closest human germline, and the errors a user sees."""

import pytest

from apps.protein.antibody.numbering import NumberingError, number, region_indices

# trastuzumab (humanized) VH and VL, and OKT3's mouse VH
VH = "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS"
VL = "DIQMTQSPSSLSASVGDRVTITCRASQDVNTAVAWYQQKPGKAPKLLIYSASFLYSGVPSRFSGSRSGTDFTLTISSLQPEDFATYYCQQHYTTPPTFGQGTKVEIK"
OKT3_VH = "QVQLQQSGAELARPGASVKMSCKASGYTFTRYTMHWVKQRPGQGLEWIGYINPSRGYTNYNQKFKDKATLTTDKSSSTAYMQLSSLTSEDSAVYYCARYYDDHYCLDYWGQGTTLTVSS"


def region(numbered, spec):
    return "".join(numbered.sequence[i] for i in region_indices(numbered, spec))


def test_heavy_chain_regions_follow_imgt():
    vh = number(VH)
    assert (vh.chain, vh.chain_type, vh.species) == ("H", "H", "human")
    assert [name for name, _ in vh.segments()] == ["FR1", "CDR1", "FR2", "CDR2", "FR3", "CDR3", "FR4"]
    assert (region(vh, "cdrh1"), region(vh, "cdrh2"), region(vh, "cdrh3")) == ("GFNIKDTY", "IYPTNGYT", "SRWGGDGFYAMDY")
    assert region(vh, "H:105-117") == region(vh, "CDRH3") and region(vh, "frh4") == "WGQGTLVTVSS"
    assert len(vh.cdr_indices()) + len(vh.framework_indices()) == len(VH)


def test_light_chain_and_species_are_detected_with_the_closest_human_germline():
    vl, mouse = number(VL), number(OKT3_VH)
    assert (vl.chain, vl.chain_type) == ("L", "K") and region(vl, "cdrl3") == "QQHYTTPPT"
    assert mouse.species == "mouse" and mouse.v_gene.startswith("IGHV")
    assert mouse.v_identity < number(VH).v_identity  # a mouse chain is farther from human germlines


def test_a_constant_region_tail_is_outside_every_region():
    tailed = number(VH + "ASTKGPSVFPLAP")
    assert tailed.regions[-13:] == (None,) * 13 and region(tailed, "cdrh3") == "SRWGGDGFYAMDY"


def test_long_cdr3_insertions_stay_in_cdr3():
    long = VH.replace("WGGDGFYAMDY", "WGGDGFYAMDYAAAAAAAA")
    assert region(number(long), "cdrh3") == "SRWGGDGFYAMDYAAAAAAAA"


@pytest.mark.parametrize(
    ("spec", "message"),
    [("cdrl1", "light chain"), ("cdrh4", "CDRs are 1-3"), ("H:130-140", "no residue"), ("foo", "unknown region"),
     ("L:1-5", "chain L"), ("H:117-105", "after its end")],
)
def test_bad_regions_are_named(spec, message):
    with pytest.raises(NumberingError, match=message):
        region_indices(number(VH, germline=False), spec)


@pytest.mark.parametrize(
    ("sequence", "message"),
    [("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "does not number"), ("EVQLZVESGG", "unsupported residue"),
     (VH + VL, "2 variable domains")],
)
def test_what_is_not_one_antibody_chain_is_refused(sequence, message):
    with pytest.raises(NumberingError, match=message):
        number(sequence)

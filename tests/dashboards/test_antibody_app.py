"""The antibody page, driven with Streamlit's AppTest: chains numbered as the page opens, a redesign and a
humanization run on the shipped models (AntiBERTy, Sapiens), bad input shown as a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import dashboards
from apps.protein.antibody import number
from dashboards.antibody_view import DEMO

APP = str(Path(dashboards.__file__).with_name("antibody_app.py"))
TIMEOUT = 300  # seconds a run may take on a busy CPU: every result is scored residue by residue


def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def run(at: AppTest) -> AppTest:
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_demo_pair_is_numbered_with_its_cdrs_colored():
    at = page()
    assert not at.error
    assert [h.value for h in at.subheader] == ["VH", "VL"]
    assert {m.value for m in at.metric if m.label == "chain type"} == {"heavy", "kappa light"}
    assert {m.value for m in at.metric if m.label == "species"} == {"mouse"}
    assert any(m.value.startswith("IGHV") for m in at.metric if m.label == "closest human V gene")
    heavy = at.html[1].value  # after the legend
    assert heavy.count("<span") == len(DEMO["VH"])
    assert "IMGT 105 CDR3" in heavy and "IMGT 1 FR1" in heavy
    assert at.multiselect(key="regions_VH").value == ["cdrh3"]
    assert at.multiselect(key="regions_VH").options == ["cdrh1", "cdrh2", "cdrh3", "frh1", "frh2", "frh3", "frh4"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["index", "residue", "imgt", "region"]


def test_light_chain_offers_its_own_regions():
    at = page()
    at.radio(key="chain").set_value("VL").run()
    assert at.multiselect(key="regions_VL").options[:3] == ["cdrl1", "cdrl2", "cdrl3"]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda at: at.text_area(key="vh").set_value("MKTAYIAKQRQISFVKSHFSRQ"), "VH: the sequence does not number as an antibody"),
        (lambda at: at.text_area(key="vh").set_value(DEMO["VH"][:-1] + "J"), "unsupported residue symbol 'J'"),
        (lambda at: at.text_area(key="vh").set_value(DEMO["VL"]), "the VH chain numbers as a light chain"),
    ],
    ids=["not-an-antibody", "non-standard-residue", "light-chain-as-vh"],
)
def test_a_chain_that_does_not_number_is_a_message(setup, message):
    at = page()
    setup(at)
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value, [e.value for e in at.error]
    assert [h.value for h in at.subheader] == ["VH", "VL"] and at.radio(key="chain").options == ["VL"]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"ranges": "H:200-210"}, "no residue of this chain is numbered in IMGT 200-210"),
        ({"ranges": "cdrl3"}, "'cdrl3' is a region of the light chain"),
        ({"ranges": "loop7"}, "unknown region 'loop7'"),
        ({"lengths": "ten"}, "length range 'ten'"),
    ],
    ids=["range-outside", "other-chain", "unknown-region", "bad-length-range"],
)
def test_a_bad_request_is_a_message_not_a_traceback(values, message):
    at = page()
    for key, value in values.items():
        at.text_input(key=key).set_value(value)
    run(at)
    assert len(at.error) == 1 and message in at.error[0].value, [e.value for e in at.error]
    assert not at.success and not at.download_button


def test_an_uploaded_fasta_replaces_the_text_boxes():
    at = page()
    at.file_uploader(key="upload").set_value(("pair.fasta", f">light\n{DEMO['VL']}\n".encode(), "text/plain"))
    at.run()
    assert not at.error and [h.value for h in at.subheader] == ["VL"]
    at.file_uploader(key="upload").set_value(("bad.fasta", b">x\nMKTAYIAKQRQISFVKSHFSRQ\n", "text/plain"))
    at.run()
    assert "bad.fasta, record 'x'" in at.error[0].value and not at.subheader


@pytest.mark.slow
def test_a_cdr_h3_redesign_is_scored_per_residue_and_offered_for_download():
    at = page()
    at.number_input(key="num").set_value(2)
    run(at)
    assert not at.error, [e.value for e in at.error]
    assert "Redesigned cdrh3 of VH" in at.success[0].value and "2 designs" in at.success[0].value
    table = at.dataframe[-1].value
    assert list(table["rank"]) == [1, 2]
    for column in ("generator_log_prob", "antiberty_pll", "humanness"):
        assert table[column].notna().all(), column
    parent = DEMO["VH"]
    cdr3 = number(parent).indices("CDR3")
    before, after = parent[: cdr3[0]], parent[cdr3[-1] + 1 :]
    for sequence, redesigned in zip(table["sequence"], table["redesigned"]):
        assert sequence == before + redesigned + after  # only CDR-H3 changed
    assert [b.label for b in at.download_button] == ["Download FASTA", "Download CSV", "Download per-residue CSV"]
    assert len(at.get("vega_lite_chart")) == 1
    at.radio(key="measure_redesign").set_value("Sapiens humanness").run()
    at.selectbox(key="detail").set_value(2).run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 1


@pytest.mark.slow
def test_humanization_shows_humanness_before_and_after_beside_the_cdr_graft():
    at = page()
    at.radio(key="task").set_value("Humanize").run()
    at.checkbox(key="vernier").check()
    run(at)
    assert not at.error, [e.value for e in at.error]
    assert "Humanized VH" in at.success[0].value
    shown = metrics(at)
    assert float(shown["Humanized"]) > float(shown["Humanness, parent"])
    assert "CDR graft (baseline)" in shown
    mutations = at.dataframe[-1].value
    assert len(mutations) > 0 and set(mutations["region"]) <= {"FR1", "FR2", "FR3", "FR4"}
    for _, m in mutations.iterrows():
        assert m["mutation"] == f"{m['parent']}{m['imgt']}{m['human']}"
    assert [b.label for b in at.download_button] == ["Download FASTA", "Download CSV", "Download per-residue CSV"]
    assert len(at.get("vega_lite_chart")) == 1

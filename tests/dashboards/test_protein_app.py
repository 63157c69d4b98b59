"""The protein design page, driven with Streamlit's AppTest: inputs set, Design pressed, results and errors read."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import dashboards

APP = str(Path(dashboards.__file__).with_name("protein_app.py"))
TIMEOUT = 120  # seconds a run may take on a busy CPU
MOTIFS = "5:HEXXH\n20-35:GGSG"
WIDGETS = {
    "length": "number_input", "motifs": "text_area", "remask": "number_input", "forbid": "multiselect",
    "sampler": "selectbox", "order_noise": "number_input", "steps": "number_input", "cache": "checkbox",
}  # fmt: skip


def page(model: Path | str, scorer: Path | str, **values) -> AppTest:
    """The page with small settings and the models set, other inputs as given by key, not yet submitted."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    at.text_input(key="model").set_value(str(model))
    at.text_input(key="scorer").set_value(str(scorer))
    at.number_input(key="length").set_value(40)
    at.text_area(key="motifs").set_value(MOTIFS)
    at.number_input(key="num").set_value(3)
    for key, value in values.items():
        getattr(at, WIDGETS[key])(key=key).set_value(value)
    return at


def design(at: AppTest) -> AppTest:
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def test_designs_scored_plotted_and_offered_for_download(protein_model, protein_scorer):
    at = design(page(protein_model, protein_scorer, forbid=["C", "W"]))
    assert not at.error
    assert "Ran on CPU" in at.success[0].value
    table = at.dataframe[0].value
    assert list(table["rank"]) == [1, 2, 3]
    for column in ("pseudo_perplexity", "embedding_similarity", "motif_recovery", "isoelectric_point", "gravy"):
        assert table[column].notna().all(), column
    assert (table["motif_recovery"] == 1.0).all()
    for sequence, motifs in zip(table["sequence"], table["motifs"]):
        assert len(sequence) == 40 and sequence[4:6] == "HE" and sequence[8] == "H"
        start = int(motifs.split("20-35:GGSG at ")[1].split("-")[0])
        assert 20 <= start <= 32 and sequence[start - 1 : start + 3] == "GGSG"
        assert not {"C", "W"} & set(sequence[9 : start - 1] + sequence[start + 3 :])  # forbidden outside the motifs
    assert [b.label for b in at.download_button] == ["Download FASTA", "Download CSV"]
    assert len(charts(at)) == 4  # per-residue heatmap and bars, distributions, embedding map
    highlighted = at.html[0].value.count("<span")
    assert highlighted == 5 + 4  # the motif residues of the design shown
    assert "zinc_metalloproteases.fasta, 4 sequences" in " ".join(h.value for h in at.subheader)

    at.selectbox(key="detail").set_value(3).run()
    at.radio(key="measure").set_value("generator log-probability").run()
    assert not at.exception
    assert len(charts(at)) == 4


def test_without_a_scorer_the_table_has_no_esm_scores(protein_model):
    at = design(page(protein_model, "none"))
    assert not at.error
    table = at.dataframe[0].value
    assert "pseudo_perplexity" not in table.columns and "generator_log_prob" in table.columns
    assert at.radio(key="measure").options == ["generator log-probability"]
    assert "needs the ESM-2 scorer" in at.info[0].value


def test_an_uploaded_fasta_is_the_natural_set(protein_model, protein_scorer):
    at = page(protein_model, protein_scorer)
    fasta = b">one\nMKTAYIAKQRQISFVKSHFSRQ\n>two\nMSHHWGYGKHNGPEHWHKDFPIAKGERQ\n"
    at.file_uploader(key="natural").set_value(("mine.fasta", fasta, "text/plain"))
    design(at)
    assert not at.error
    assert "mine.fasta, 2 sequences" in " ".join(h.value for h in at.subheader)


def test_a_bad_uploaded_fasta_is_named(protein_model, protein_scorer):
    at = page(protein_model, protein_scorer)
    at.file_uploader(key="natural").set_value(("mine.fasta", b">one\nMKJT\n", "text/plain"))
    design(at)
    assert "mine.fasta" in at.error[0].value and "'J'" in at.error[0].value


@pytest.mark.parametrize(
    "values, message",
    [
        ({"motifs": "38:HEXXH"}, "past the end of a design of length 40"),
        ({"motifs": "5:HEJXH"}, "residue 'J' at motif position 3 is not a standard amino acid"),
        ({"motifs": "HEXXH"}, "expected POS:RESIDUES (fixed) or START-END:RESIDUES (floating)"),
        ({"length": 0}, "design length must be between 1 and"),
        ({"remask": -3.0, "scorer": "none"}, "ESM-2 remasking needs the ESM-2 scorer"),
        ({"model": "/no/such/generator"}, "cannot load the generator '/no/such/generator'"),
        ({"scorer": "/no/such/scorer"}, "cannot load the ESM-2 scorer '/no/such/scorer'"),
    ],
    ids=[
        "motif-past-the-end",
        "unknown-residue",
        "motif-without-position",
        "length-0",
        "remask-without-scorer",
        "missing-generator",
        "missing-scorer",
    ],
)
def test_bad_input_is_a_message_not_a_traceback(protein_model, protein_scorer, values, message):
    at = page(values.pop("model", protein_model), values.pop("scorer", protein_scorer), **values)
    design(at)
    assert len(at.error) == 1 and message in at.error[0].value, [e.value for e in at.error]
    assert not at.dataframe  # no results under an error


@pytest.mark.parametrize("sampler, noise, passed", [("fixed", 0.0, 0.0), ("threshold", 2.5, 2.5), ("ancestral", 2.5, None)])
def test_the_order_noise_reaches_design_for_a_confidence_ordered_sampler_only(protein_model, sampler, noise, passed):
    package = importlib.import_module("apps.protein")  # the page takes `design` from the package
    seen = []
    real = package.design

    def spy(length, motifs, config, **kwargs):
        seen.append((config.sampler, config.order_noise))
        return real(length, motifs, config, **kwargs)

    at = page(protein_model, "none", sampler=sampler, order_noise=noise)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(package, "design", spy)
        design(at)
    assert not at.error and at.dataframe
    assert seen == [(sampler, passed)]  # ancestral has no ranking: design's refusal is never reached


def test_cached_context_and_fewer_steps_reach_design(protein_model):
    package = importlib.import_module("apps.protein")  # the page takes `design` from the package
    seen = []
    real = package.design

    def spy(length, motifs, config, **kwargs):
        seen.append((config.steps, config.cache))
        return real(length, motifs, config, **kwargs)

    at = page(protein_model, "none", sampler="fixed", steps=10, cache=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(package, "design", spy)
        design(at)
    assert not at.error and (at.dataframe[0].value["motif_recovery"] == 1.0).all()
    assert seen == [(10, True)]


def test_a_generator_too_short_for_the_length(protein_model, protein_scorer):
    at = design(page(protein_model, protein_scorer, length=500))
    assert "length must be between 1 and 126 residues" in at.error[0].value


def test_go_terms_picked_by_name_condition_the_designs_and_the_probes_annotate_them(protein_go_model, protein_scorer):
    # the form commits the generator's name when Design is pressed: from then on the picker lists its terms
    at = design(page(protein_go_model, protein_scorer))
    assert "go" not in at.dataframe[0].value.columns  # no term picked: no conditioning column
    picker = at.multiselect(key="go")
    labels = [o for o in picker.options if "zinc ion binding" in o or o.startswith("GO:0003677 ")]
    assert labels == ["GO:0003677 · DNA binding", "GO:0008270 · zinc ion binding"]
    picker.set_value(labels)
    at.number_input(key="guidance").set_value(2.0)
    at = design(at)
    assert not at.error
    table = at.dataframe[0].value
    assert (table["go"] == "GO:0003677, GO:0008270").all()
    assert (table["probe_terms"] == "GO:0003677").all()  # the probes' thresholds: DNA binding always, zinc never
    assert "Probe terms: of the 2 GO terms with a probe" in " ".join(c.value for c in at.caption)


def test_probes_for_another_scorer_are_not_used(protein_go_model, tmp_path):
    from apps.protein.scoring import save_esm2
    from tests.protein.conftest import tiny_esm2

    other = save_esm2(tiny_esm2(seed=1), tmp_path / "other-scorer")
    at = design(page(protein_go_model, other))
    at.multiselect(key="go").set_value(["GO:0003677 · DNA binding"])
    at = design(at)
    assert "probe_terms" not in at.dataframe[0].value.columns
    assert "pick it to see the terms they assign" in " ".join(c.value for c in at.caption)


def test_without_a_go_generator_the_picker_is_disabled_and_a_negative_weight_is_refused(
    protein_model, protein_go_model, protein_scorer
):
    at = design(page(protein_model, protein_scorer))
    picker = at.multiselect(key="go")
    assert picker.disabled == (not picker.options)  # only the shipped GO generator's terms, if it is shipped
    at = design(page(protein_go_model, protein_scorer))
    at.multiselect(key="go").set_value(["GO:0003677 · DNA binding"])
    at.number_input(key="guidance").set_value(-1.0)
    at.button[0].click().run()
    assert not at.exception
    assert "guidance must be a finite weight >= 0" in at.error[0].value

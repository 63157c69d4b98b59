"""What the pages compute apart from Streamlit: holes, diffs, the replay of a trace, the protein tables and map."""

from __future__ import annotations

import numpy as np
import pytest

from apps.code import InfillConfig, infill
from apps.protein.design import DesignConfig, design
from apps.protein.fasta import read_fasta
from dashboards.code_view import (
    AUTO,
    COMMITTED,
    ENDED,
    KEPT,
    MASKED,
    SAMPLER,
    SYNTAX,
    diff,
    find_hole,
    pick_language,
    replay,
    syntax_errors,
)
from dashboards.protein_view import check_request, compared, design_table, fasta_text, form_config, pca, residue_table
from dashboards.widgets import ProgressTrace
from shared_dlm import load

CODE = "def f(x):\n    y = x + 1\n    return y\n"


def test_hole_at_the_marker_and_at_lines():
    marked = find_hole("a = <FILL>\nb = 2\n", 0, 0, "m.py")
    assert (marked.prefix, marked.suffix, marked.original) == ("a = ", "\nb = 2\n", "<FILL>")
    lines = find_hole(CODE, 2, 3, "f.py")
    assert (lines.prefix, lines.original, lines.suffix) == ("def f(x):\n", "    y = x + 1\n    return y\n", "")


def test_diff_shows_the_lines_changed():
    hole = find_hole(CODE, 2, 2, "f.py")
    text = diff(hole, "    y = x * 2\n")
    assert "--- a/f.py" in text and "-    y = x + 1\n" in text and "+    y = x * 2\n" in text
    assert "return y" in text  # context


def test_syntax_errors_name_the_line():
    hole = find_hole("x = 1\ny = <FILL>\nz = 3\n", 0, 0, "m.py")
    assert syntax_errors(hole, "2", "python") == []
    assert syntax_errors(hole, "(2", "python")[0].startswith("line 2")


def test_language_from_the_choice_or_the_file_name():
    assert pick_language("go", None) == "go"
    assert pick_language(AUTO, "lib.rs") == "rust"
    with pytest.raises(ValueError, match="pick the language"):
        pick_language(AUTO, "notes.md")


class Bar:
    """Stands in for st.progress: keeps what it was shown."""

    def __init__(self):
        self.values = []

    def progress(self, value, text):
        self.values.append(value)


def test_replay_is_the_trace_of_the_row_that_made_each_candidate(code_model):
    loaded = load(code_model)
    tokenizer = loaded.tokenizer
    bar = Bar()
    trace = ProgressTrace(bar, tokenizer.mask_token_id)
    config = InfillConfig(num=3, lengths=(8, 16))
    candidates = infill("def f(x):\n    return ", "\n", "python", config=config, model=loaded, trace=trace)
    assert bar.values[-1] == 1.0 and all(0.0 <= v <= 1.0 for v in bar.values)
    rows = set()
    for candidate in candidates:
        shown = replay(trace, candidate, tokenizer)
        rows.add(shown.row)
        assert len(shown.positions) == candidate.slots and candidate.lead == 1  # the space after "return" healed
        assert len(shown.steps) == len(trace)
        final = trace[-1].ids[shown.row, list(shown.positions)].tolist()
        kept = final[: final.index(tokenizer.eoi_token_id)] if tokenizer.eoi_token_id in final else final
        # the healed space, then the candidate; its trailing whitespace is dropped since the suffix starts a line
        assert tokenizer.decode(kept, skip_special_tokens=True).rstrip() == " " + candidate.text
        assert {s.state for s in shown.steps[0].slots[: candidate.lead]} == {KEPT}  # fixed before the first step
        assert not {s.state for s in shown.steps[-1].slots} & {MASKED, SYNTAX, SAMPLER}
        for step, record in zip(shown.steps, trace):
            syntax = record.hook_remasked[shown.row, list(shown.positions)].tolist()
            assert [s.state == SYNTAX for s in step.slots] == syntax
            assert all(s.text == "" for s in step.slots if s.state in (MASKED, SYNTAX, SAMPLER))
        assert {s.state for step in shown.steps for s in step.slots} <= {
            COMMITTED,
            KEPT,
            MASKED,
            SYNTAX,
            SAMPLER,
            ENDED,
        }
    assert len(rows) == len(candidates)  # distinct candidates come from distinct rows


def test_protein_tables_and_fasta(protein_model, tmp_path):
    designs = design(30, ["3:HEXXH"], DesignConfig(num=2, seed=1), generator=protein_model, scorer=None)
    table = design_table(designs)
    assert list(table["rank"]) == [1, 2] and "composition_A" not in table.columns
    assert "composition_A" in design_table(designs, full=True).columns
    residues = residue_table(designs)
    assert len(residues) == 60
    first = residues[residues["rank"] == 1]
    assert list(first["motif"][:8]) == [False, False, True, True, True, True, True, False]
    fixed = first["position"].isin([3, 4, 7])  # H, E and H; the X positions are generated
    assert first["generator_log_prob"][fixed].isna().all() and first["generator_log_prob"][~fixed].notna().all()
    assert first["esm_log_prob"].isna().all()  # no scorer
    path = tmp_path / "designs.fasta"
    path.write_text(fasta_text(designs, DesignConfig(num=2, seed=1)))
    records = read_fasta(path)
    assert [r.sequence for r in records] == [d.sequence for d in designs]
    assert records[0].description.startswith("design_1 rank=1 ") and "seed=1" in records[0].description


def test_comparison_keeps_the_measures_both_sets_have(protein_model):
    designs = design_table(design(20, [], DesignConfig(num=2), generator=protein_model, scorer=None))
    natural = designs[["gravy", "isoelectric_point"]].assign(id="n")
    long = compared(designs, natural)
    assert set(long["metric"]) == {"gravy", "isoelectric_point"}
    assert sorted(set(long["set"])) == ["design", "natural"] and len(long) == 8


def test_pca_puts_the_widest_spread_first():
    rng = np.random.default_rng(0)
    along = rng.normal(size=(20, 1)) * np.array([[10.0, 0.0, 0.0]])
    points = along + rng.normal(scale=0.1, size=(20, 3))
    xy = pca(points)
    assert xy.shape == (20, 2)
    assert xy[:, 0].std() > 10 * xy[:, 1].std()
    assert pca(points[:1]).shape == (1, 2)  # one point: zeros, not an error


def test_request_checked_before_any_model(tmp_path):
    assert check_request(50, "5:HEXXH\n\n 20-40:GG ", DesignConfig(forbid="C")) == ["5:HEXXH", "20-40:GG"]
    with pytest.raises(ValueError, match="forbid"):
        check_request(50, "5:HEXXH", DesignConfig(forbid="J"))


def test_the_protein_form_becomes_a_design_config():
    inputs = {"num": 3, "sampler": "ancestral", "steps": 0, "temperature": 0.5, "order_noise": 2.0, "cache": True,
              "forbid": "C", "remask": 0.0, "go": [], "guidance": 3.0, "seed": 7}  # fmt: skip
    assert form_config(inputs) == DesignConfig(num=3, temperature=0.5, cache=True, forbid="C", seed=7)
    ranked = form_config({**inputs, "sampler": "fixed", "steps": 12, "remask": -3.0, "go": ["GO:0008270"]})
    assert (ranked.steps, ranked.order_noise, ranked.esm_remask) == (12, 2.0, -3.0)
    assert (ranked.go, ranked.guidance) == (("GO:0008270",), 3.0)

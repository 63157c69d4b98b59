"""The code infilling page, driven with Streamlit's AppTest: inputs set, Generate pressed, results and errors read."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import dashboards

APP = str(Path(dashboards.__file__).with_name("code_app.py"))
TIMEOUT = 120  # seconds a run may take on a busy CPU
WIDGETS = {"code": "text_area", "first": "number_input", "last": "number_input", "language": "selectbox"}


def page(model: Path | str, **values) -> AppTest:
    """The page with the model set and small settings, other inputs as given by key, not yet submitted."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    at.text_input(key="model").set_value(str(model))
    at.multiselect(key="lengths").set_value([8, 16])
    at.number_input(key="num").set_value(2)
    for key, value in values.items():
        getattr(at, WIDGETS[key])(key=key).set_value(value)
    return at


def generate(at: AppTest) -> AppTest:
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_candidates_ranked_with_badges_diffs_and_a_replay(code_model):
    at = generate(page(code_model))
    assert not at.error
    assert "Ran on CPU" in at.success[0].value
    labels = [e.label for e in at.expander]
    assert labels and labels[0].startswith("#1 ")
    parse_flags = ["· parses ·" in label for label in labels]
    assert parse_flags == sorted(parse_flags, reverse=True)  # those that parse come first
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert len(badges) == len(labels)
    diffs = [c.value for c in at.code if c.language == "diff"]
    assert len(diffs) == len(labels)
    assert all("--- a/code" in d and "-    return <FILL>" in d for d in diffs)

    replay = at.html[0].value
    assert "return" in replay  # the line before the hole, as context
    assert "still masked" not in replay  # the last step: every slot holds a token
    at.slider(key="replay_step").set_value(1).run()
    assert "still masked" in at.html[0].value  # after the first step most slots are still masks
    steps = at.dataframe[0].value
    assert list(steps["step"]) == list(range(1, len(steps) + 1))
    assert steps["still masked"].iloc[-1] == 0


def test_replay_follows_the_candidate_chosen(code_model):
    at = generate(page(code_model))
    if len(at.selectbox(key="replay_candidate").options) < 2:
        pytest.skip("one distinct candidate only")
    first = at.html[0].value
    at.selectbox(key="replay_candidate").set_value(1).run()
    assert not at.exception
    assert at.html[0].value != first


def test_lines_replaced_instead_of_a_marker(code_model):
    code = "def f(x):\n    return 0\n\n\nprint(f(1))\n"
    at = generate(page(code_model, code=code, first=2, last=2))
    assert not at.error
    diffs = [c.value for c in at.code if c.language == "diff"]
    assert diffs and all("-    return 0" in d for d in diffs)


def test_uploaded_file_guesses_its_language(code_model):
    at = page(code_model, language="auto (from the file name)")
    at.file_uploader(key="upload").set_value(("lib.js", b"function f(x) {\n  return <FILL>;\n}\n", "text/javascript"))
    generate(at)
    assert not at.error
    assert all(c.language in ("javascript", "diff") for c in at.code)
    assert any("--- a/lib.js" in c.value for c in at.code)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"code": "x = 1\n"}, "no <FILL> marker"),
        ({"code": "x = <FILL>\ny = <FILL>\n"}, "2 <FILL> markers"),
        ({"code": "   \n"}, "no code"),
        ({"code": "x = 1\ny = 2\n", "first": 2, "last": 5}, "the code has 2 lines"),
        ({"code": "x = <FILL>\n", "first": 1, "last": 1}, "use one or the other"),
        ({"language": "auto (from the file name)"}, "cannot be told from pasted code"),
        ({"model": "/no/such/model"}, "no model folder at '/no/such/model'"),
        ({"model": ""}, "empty model path"),
    ],
    ids=[
        "no-marker",
        "two-markers",
        "empty",
        "lines-past-the-end",
        "marker-and-lines",
        "auto-language",
        "missing-model",
        "no-model",
    ],
)
def test_bad_input_is_a_message_not_a_traceback(code_model, values, message):
    at = generate(page(values.pop("model", code_model), **values))
    assert len(at.error) == 1 and message in at.error[0].value, [e.value for e in at.error]
    assert not at.expander  # no results under an error


def test_unknown_language_of_an_upload(code_model):
    at = page(code_model, language="auto (from the file name)")
    at.file_uploader(key="upload").set_value(("notes.txt", b"x = <FILL>\n", "text/plain"))
    generate(at)
    assert "cannot tell the language of 'notes.txt'" in at.error[0].value


def test_folder_that_is_not_a_model(code_model, tmp_path):
    at = generate(page(tmp_path))
    assert "config.json" in at.error[0].value


def test_a_model_that_is_not_a_code_model(protein_model):
    at = generate(page(protein_model))
    assert "has no code tokenizer with <eoi>" in at.error[0].value


def test_binary_upload(code_model):
    at = page(code_model)
    at.file_uploader(key="upload").set_value(("blob.py", b"\0\1\2<FILL>", "application/octet-stream"))
    generate(at)
    assert "blob.py looks binary" in at.error[0].value

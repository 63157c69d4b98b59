"""`dlm-code infill`, `demo` and `eval humaneval` through `main`, with a tiny random model built in the test."""

import importlib
import json

import pytest

from apps.code import InfillConfig
from apps.code.cli import build_parser, infill_config, main
from apps.code.evaluate import copy_previous_line, score_middles
from apps.code.tasks import after_indent, infill_tasks

from .infill_helpers import tiny_model_folder, tiny_tokenizer

FAST = ["--num", "2", "--steps", "6"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_model_folder(tmp_path_factory.mktemp("model") / "tiny", tiny_tokenizer())


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "stats.py"
    path.write_text("def mean(values):\n    return <FILL>\n\n\nprint(mean([1, 2]))\n")
    return path


def test_the_flags_become_one_infill_config_with_its_defaults():
    parser = build_parser()
    assert infill_config(parser.parse_args(["demo"])) == InfillConfig()
    flags = ["--num", "2", "--steps", "6", "--sampler", "threshold", "--block-length", "0", "--temperature", "0",
             "--cache", "--no-syntax-remask", "--seed", "3"]  # fmt: skip
    assert infill_config(parser.parse_args(["infill", "f.py", *flags])) == InfillConfig(
        num=2, steps=6, sampler="threshold", block_length=0, temperature=0.0, cache=True, syntax_remask=False, seed=3
    )
    assert infill_config(parser.parse_args(["eval", "humaneval", "--sample", "5", "--seed", "4"])) == InfillConfig(seed=4)
    served = parser.parse_args(["serve", "--cache", "--block-length", "8", "--no-syntax-remask"])
    assert infill_config(served) == InfillConfig(cache=True, block_length=8, syntax_remask=False)


def test_infill_json_lists_the_candidates(folder, source, capsys):
    assert main(["infill", str(source), "--model", str(folder), "--json", *FAST]) == 0
    candidates = json.loads(capsys.readouterr().out)["candidates"]
    assert 1 <= len(candidates) <= 2
    for c in candidates:
        assert set(c) == {"text", "parses", "score", "length"}
        assert isinstance(c["text"], str) and isinstance(c["parses"], bool)
        assert c["score"] is None or isinstance(c["score"], float)


def test_infill_cache_flag_reaches_the_sampler(folder, source, capsys, monkeypatch):
    infill_module = importlib.import_module("apps.code.infill")  # `apps.code.infill` is also the function

    seen = []
    real = infill_module.infill
    monkeypatch.setattr(infill_module, "infill", lambda *a, **k: seen.append(k["config"].cache) or real(*a, **k))
    for flag in ([], ["--cache"]):
        assert main(["infill", str(source), "--model", str(folder), "--json", *FAST, *flag]) == 0
        assert json.loads(capsys.readouterr().out)["candidates"]
    assert seen == [False, True]


def test_infill_prints_the_file_with_the_best_candidate(folder, source, capsys):
    status = main(["infill", str(source), "--model", str(folder), "--no-syntax-remask", *FAST])
    out, err = capsys.readouterr()
    assert out.startswith("def mean(values):\n    return ") and out.endswith("\n\n\nprint(mean([1, 2]))\n")
    assert "<FILL>" not in out
    assert status in (0, 1) and (status == 1) == ("no candidate parses" in err)  # the tiny model is random
    assert main(["infill", str(source), "--model", str(folder), "--block-length", "0", *FAST]) in (0, 1)
    with pytest.raises(SystemExit):
        main(["infill", str(source), "--model", str(folder), "--block-length", "-2"])
    assert "expected 0 or a positive integer, got -2" in capsys.readouterr().err


def test_plain_infill_says_when_no_candidate_parses(tmp_path, capsys):
    """A syntax error outside the hole: nothing the shipped model writes can make the file parse."""
    path = tmp_path / "broken.py"
    path.write_text("def mean(values):\n<FILL>\n\n\ndef f(:\n    pass\n")
    assert main(["infill", str(path), *FAST]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("def mean(values):\n") and out.endswith("\n\n\ndef f(:\n    pass\n")
    assert err.strip() == "dlm-code infill: no candidate parses as python; the best by the model's score was printed (exit status 1)"


def test_a_whole_line_fill_adds_no_blank_line(tmp_path, capsys):
    """The file's own line break ends the hole's line: the fill brings none of its own."""
    path = tmp_path / "stats.py"
    path.write_text("def mean(values):\n    total = sum(values)\n<FILL>\n    return total / n\n")
    assert main(["infill", str(path), *FAST]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["def mean(values):", "    total = sum(values)"] and lines[-1] == "    return total / n"
    assert "" not in lines and lines[2].strip()


@pytest.mark.parametrize(
    "content, flags, message",
    [
        (b"x = 1\n", [], "holds 0 <FILL> markers"),
        (b"x = <FILL>\ny = <FILL>\n", [], "holds 2 <FILL> markers"),
        (b"\x7fELF\x00\x01<FILL>", [], "looks binary"),
        (b"x = '\xe9' + <FILL>\n", [], "is not UTF-8"),
        (b"x = <FILL>\n", ["--language", "cobol"], "unknown language 'cobol'"),
    ],
)
def test_infill_file_errors(folder, tmp_path, capsys, content, flags, message):
    path = tmp_path / "file.py"
    path.write_bytes(content)
    assert main(["infill", str(path), "--model", str(folder), *flags]) == 2
    assert message in capsys.readouterr().err


def test_infill_needs_a_known_extension_and_a_model(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(importlib.import_module("apps.code.infill"), "registered_names", lambda: [])  # a checkout without the shipped model
    path = tmp_path / "notes.txt"
    path.write_text("x = <FILL>\n")
    assert main(["infill", str(path), "--model", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "cannot tell the language" in err and "pass --language" in err
    assert main(["infill", str(path), "--language", "python"]) == 2
    assert "no default code model is shipped yet" in capsys.readouterr().err
    assert main(["infill", str(tmp_path / "missing.py"), "--model", str(folder)]) == 2


def test_demo_shows_ranked_candidates(folder, capsys, monkeypatch):
    monkeypatch.setattr(importlib.import_module("apps.code.infill"), "registered_names", lambda: [])  # a checkout without the shipped model
    assert main(["demo"]) == 2
    assert "no default code model is shipped yet" in capsys.readouterr().err
    assert main(["demo", "--model", str(folder), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "demo.py.in" in printed and "#1 " in printed and "return <FILL>" in printed


def test_eval_humaneval_end_to_end(folder, capsys):
    args = ["eval", "humaneval", "--mode", "single-line", "--limit", "3", "--model", str(folder), "--json"]
    assert main([*args, "--num", "1", "--steps", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tasks"] == 3 and report["mode"] == "single-line"
    for scores in (report, *report["baselines"].values()):
        keys = ("pass@1", "exact_match", "parse_rate", "parse_rate_tree_sitter", "blank_rate")
        assert all(0.0 <= scores[key] <= 1.0 for key in keys)
        assert scores["parse_rate"] <= scores["parse_rate_tree_sitter"]  # Python's parser only adds rejections
    assert set(report["baselines"]) == {"pass", "copy_previous_line"}
    assert report["baselines"]["pass"]["blank_rate"] == 0.0
    assert report["seconds"] >= 0 and report["pass@1"] == 0.0  # a random model passes nothing
    # the first three lines of HumanEval/0's solution are a loop, a loop and an `if`: `pass` breaks them all
    assert report["baselines"]["pass"]["pass@1"] == 0.0


def test_eval_humaneval_prints_a_table(folder, capsys):
    args = ["eval", "humaneval", "--mode", "single-line", "--limit", "1", "--model", str(folder), "--num", "1"]
    assert main([*args, "--steps", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["pass@1", "exact", "parses", "tree-sitter", "blank"]
    assert [line.split()[0] for line in lines[2:]] == ["model", "pass", "copy_previous_line"]
    assert all(len(line.split()) == 6 for line in lines[2:])


def test_eval_humaneval_after_indent_starts_holes_at_the_cursor(folder, capsys):
    args = ["eval", "humaneval", "--limit", "3", "--model", str(folder), "--num", "1", "--steps", "4", "--json"]
    assert main([*args, "--after-indent"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tasks"] == 3 and report["hole_starts"] == "after the indentation"
    tasks = [after_indent(task) for task in infill_tasks("single-line")[:3]]
    assert report["baselines"]["pass"] == score_middles(tasks, ["pass\n"] * 3, workers=1).as_dict()
    copied = [copy_previous_line(task) for task in tasks]  # the line above, after the cursor's indentation
    assert all(line[:1].strip() for line in copied)
    assert copied[1] == infill_tasks("single-line")[0].middle.lstrip()
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["hole_starts"] == "at the line"


def test_scores_count_blank_middles():
    tasks = infill_tasks("single-line")[:2]
    scores = score_middles(tasks, [tasks[0].middle, "  \n"], workers=1)
    assert scores.blank_rate == 0.5 and scores.exact_match == 0.5 and scores.pass_at_1 <= 0.5


def test_eval_humaneval_sample_draws_across_problems(folder, capsys):
    args = ["eval", "humaneval", "--mode", "single-line", "--sample", "3", "--model", str(folder), "--json"]
    assert main([*args, "--num", "1", "--steps", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tasks"] == 3 and report["selection"] == "a sample of 3 (seed 0)"
    with pytest.raises(SystemExit):
        main(["eval", "humaneval", "--sample", "3", "--limit", "3"])


@pytest.mark.parametrize("device, message", [("banana", "unknown device 'banana'"), ("cuda:7", "device 'cuda:7'")])
def test_a_bad_device_is_one_line_before_any_model_is_loaded(source, capsys, monkeypatch, device, message):
    if device.startswith("cuda") and __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    module = importlib.import_module("apps.code.infill")  # the module, not the function apps.code exports
    monkeypatch.setattr(module, "load", lambda *a, **k: pytest.fail("a model was loaded"))
    assert main(["infill", str(source), "--device", device]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1

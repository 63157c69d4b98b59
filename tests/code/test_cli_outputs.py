"""dlm-code's --out folders (corpus, tokenizer, train) are checked before any work, in one line."""

import importlib
import os

import pytest

from apps.code.cli import main

COMMANDS = {  # each subcommand that writes a folder, and the function that would do its work
    "corpus": ("apps.code.corpus", "build_corpus", []),
    "tokenizer": ("apps.code.tokenizer", "train_from_corpus", ["--corpus", "data/code"]),
    "train": ("apps.code.train", "build_trainer", ["--corpus", "data/code", "--tokenizer", "data/tok"]),
}


@pytest.fixture
def no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("work began before --out was checked")

    for module, name, _ in COMMANDS.values():
        monkeypatch.setattr(importlib.import_module(module), name, refuse)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    "relative, message",
    [("a_file", "{out} exists and is not a folder: expected a folder to write into"), ("a_file/out", "{out}: {tmp}/a_file is a file, not a folder")],
)
def test_an_out_that_is_no_folder_is_refused_before_any_work(tmp_path, capsys, no_work, command, relative, message):
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / relative
    assert main([command, *COMMANDS[command][2], "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"dlm-code {command}: {message.format(out=out, tmp=tmp_path)}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no one can create a file")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_out_no_one_can_write_in_is_refused_before_any_work(capsys, no_work, command):
    assert main([command, *COMMANDS[command][2], "--out", "/proc/out"]) == 2
    assert capsys.readouterr().err.startswith(f"dlm-code {command}: /proc/out: cannot write in /proc (")

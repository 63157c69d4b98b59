import json

import pytest

from apps.code.cli import main
from apps.code.corpus import CorpusConfig, build_corpus, load_corpus
from apps.code.tokenizer import load_tokenizer


def test_corpus_command_builds_from_this_machine(tmp_path, humaneval_file):
    out = tmp_path / "code"
    assert (
        main(["corpus", "--out", str(out), "--max-files", "5", "--jobs", "1", "--humaneval", str(humaneval_file)]) == 0
    )
    source = json.loads((out / "SOURCE.json").read_text())
    assert source["counts"]["files_seen"] == 5
    assert source["command"].startswith("dlm-code corpus --out")
    assert set(load_corpus(out)["distribution"]) == {"cpython-stdlib"}


def test_tokenizer_command_trains_and_reports_compression(tmp_path, sources, humaneval_file):
    corpus = tmp_path / "code"
    build_corpus(CorpusConfig(out=corpus, jobs=1, humaneval_path=humaneval_file), sources)
    out = tmp_path / "tok"
    assert (
        main(["tokenizer", "--corpus", str(corpus), "--out", str(out), "--vocab-size", "300", "--held-out", "0.1"]) == 0
    )
    stats = json.loads((out / "TRAINING.json").read_text())
    assert stats["vocab_size"] <= 300 and (stats["train_files"], stats["held_out_files"]) == (2, 1)
    assert stats["bytes_per_token"] > 1.0
    assert load_tokenizer(out).mask_token == "<mask>"


def test_missing_inputs_give_a_message_not_a_traceback(tmp_path, capsys):
    assert main(["tokenizer", "--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "tok")]) == 2
    assert "dlm-code corpus --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["corpus", "--out", str(tmp_path), "--near-dup-threshold", "2"])

"""`dlm-protein eval go-elbo --json` records where its figure came from (`eval` and `eval go`, which need mmseqs,
build theirs the same way: tests/protein/test_evaluate.py and test_go_design.py run them)."""

import json

from apps.protein.cli import main
from shared_dlm import weights_sha256
from tests.protein.conftest import write_go_corpus


def test_eval_go_elbo_json_records_command_commit_date_device_and_model_hash(tmp_path, go_graph_dir, go_generator_dir, capsys):
    corpus = write_go_corpus(tmp_path / "corpus", {"train": 4, "validation": 4, "test": 1})
    args = ["eval", "go-elbo", "--data", str(corpus), "--model", str(go_generator_dir), "--proteins", "2", "--json"]
    assert main(args) == 0
    block = json.loads(capsys.readouterr().out)["provenance"]
    assert block["command"] == "dlm-protein " + " ".join(args) and block["device"] == "cpu" and block["date"]
    assert block["models"] == {"generator": {"path": str(go_generator_dir), "sha256": weights_sha256(go_generator_dir)}}

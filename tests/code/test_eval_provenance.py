"""`dlm-code eval humaneval --json`, the command behind the code app's figures, records where its figure came from."""

import json

from apps.code.cli import main
from shared_dlm import weights_sha256

from .infill_helpers import tiny_model_folder, tiny_tokenizer


def test_eval_humaneval_json_records_command_commit_date_device_and_model_hash(tmp_path, capsys):
    folder = tiny_model_folder(tmp_path / "tiny", tiny_tokenizer())
    args = ["eval", "humaneval", "--mode", "single-line", "--limit", "1", "--model", str(folder), "--num", "1", "--steps", "4", "--json"]
    assert main(args) == 0
    block = json.loads(capsys.readouterr().out)["provenance"]
    assert block["command"] == "dlm-code " + " ".join(args) and block["device"] == "cpu"
    assert set(block) == {"command", "commit", "dirty", "date", "device", "versions", "models"}
    assert block["models"] == {"model": {"path": str(folder), "sha256": weights_sha256(folder)}}

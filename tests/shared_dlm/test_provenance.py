"""The provenance block of a figure JSON: command, commit, date, device, and each model's weights hash."""

import hashlib
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from shared_dlm import provenance, weights_sha256
from tests.conftest import tiny_denoiser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path):
    tiny_denoiser().save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_provenance_names_command_commit_date_device_and_each_models_hash(folder):
    block = provenance({"generator": folder, "scorer": folder / "model.safetensors"}, "cpu", ["dlm-x", "eval", "a b"])
    assert block["command"] == "dlm-x eval 'a b'"
    assert block["device"] == "cpu" and set(block["versions"]) == {"python", "torch"}
    assert datetime.fromisoformat(block["date"]).utcoffset().total_seconds() == 0
    expected = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert block["models"] == {
        "generator": {"path": str(folder), "sha256": expected},
        "scorer": {"path": str(folder / "model.safetensors"), "sha256": expected},
    }
    if shutil.which("git") and (ROOT / ".git").exists():
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        assert block["commit"] == head and isinstance(block["dirty"], bool)


def test_a_weights_file_hashes_as_sha256sum_prints_it_and_a_folder_without_weights_is_refused(folder, tmp_path):
    file = folder / "model.safetensors"
    assert weights_sha256(file) == weights_sha256(folder) == hashlib.sha256(file.read_bytes()).hexdigest()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no weights file"):
        weights_sha256(tmp_path / "empty")

"""Output paths are checked before any work: writable, and the kind (file or folder) the command writes."""

import os
from pathlib import Path

import pytest

from shared_dlm import OutputError, check_output


def test_a_new_file_in_a_writable_folder_and_a_new_or_empty_folder_pass(tmp_path):
    assert check_output(tmp_path / "designs.fasta", "file") == tmp_path / "designs.fasta"
    assert check_output(str(tmp_path / "run"), "folder") == tmp_path / "run"
    assert check_output(tmp_path / "new" / "deeper" / "run", "folder") == tmp_path / "new" / "deeper" / "run"
    assert check_output(tmp_path, "folder") == tmp_path
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind, and creates no folder


@pytest.mark.parametrize(
    "kind, relative, message",
    [
        ("file", "missing/designs.fasta", "the folder {tmp}/missing does not exist"),
        ("file", "a_file/designs.fasta", "{tmp}/a_file is a file, not a folder"),
        ("file", "a_folder", "{tmp}/a_folder is a folder: expected a file to write"),
        ("folder", "a_file", "{tmp}/a_file exists and is not a folder"),
        ("folder", "a_file/run", "{tmp}/a_file is a file, not a folder"),
        ("folder", "a_file/deeper/run", "{tmp}/a_file is a file, not a folder"),
    ],
)
def test_the_wrong_kind_or_a_missing_folder_is_named(tmp_path, kind, relative, message):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    with pytest.raises(OutputError, match=message.format(tmp=tmp_path)):
        check_output(tmp_path / relative, kind)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no one can create a file")
@pytest.mark.parametrize("kind, path", [("file", "/proc/designs.fasta"), ("folder", "/proc/run")])
def test_a_folder_no_one_can_write_in_is_refused(kind, path):
    with pytest.raises(OutputError, match="cannot write in /proc"):
        check_output(path, kind)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
@pytest.mark.parametrize("kind, relative", [("file", "designs.fasta"), ("folder", "run"), ("folder", "new/run")])
def test_a_read_only_folder_is_refused(tmp_path, kind, relative):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=f"cannot write in {tmp_path} "):
            check_output(tmp_path / relative, kind)
    finally:
        tmp_path.chmod(0o700)

"""`dlm-code infill`'s input file: every way it cannot be read is one line naming it (found by the CLI property test)."""

from __future__ import annotations

import pytest

from apps.code.cli import main


@pytest.mark.parametrize("make", ["folder", "missing"])
def test_a_path_that_is_no_readable_file_is_one_line(tmp_path, capsys, make):
    path = tmp_path / "code.py"
    if make == "folder":
        path.mkdir()
    assert main(["infill", str(path), "--model", str(tmp_path / "no-model")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dlm-code infill: cannot read {path} (") and err.count("\n") == 1

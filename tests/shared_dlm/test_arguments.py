from __future__ import annotations

import pytest

from apps.code.cli import main as code_main
from apps.protein.cli import main as protein_main
from bench.cli import main as bench_main
from shared_dlm import OneLineParser


def test_a_usage_error_is_one_line_and_status_2(capsys):
    parser = OneLineParser(prog="tool")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run").add_argument("--num", type=int)
    with pytest.raises(SystemExit) as exit:
        parser.parse_args(["run", "--num", "many"])
    assert exit.value.code == 2
    assert capsys.readouterr().err == "tool run: error: argument --num: invalid int value: 'many'\n"


@pytest.mark.parametrize(
    "main, argv, message",
    [
        (code_main, ["infill", "f.py", "--num", "0"], "dlm-code infill: error: argument --num: expected a positive integer"),
        (code_main, ["nosuch"], "dlm-code: error: argument subcommand: invalid choice: 'nosuch'"),
        (protein_main, ["design", "--num", "2"], "dlm-protein design: error: the following arguments are required: --length"),
        (protein_main, ["score"], "dlm-protein score: error: the following arguments are required: FASTA"),
        (bench_main, ["forward", "--batch", "x"], "dlm-bench forward: error: argument --batch: invalid int value: 'x'"),
    ],
)
def test_every_cli_answers_a_usage_error_in_one_line(capsys, main, argv, message):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1

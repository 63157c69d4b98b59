"""``dlm-protein``: one subcommand a task (``corpus`` now; ``design``, ``score``, ``demo`` to come).

Each subcommand is an ``add_<name>`` function that declares its arguments and a
``run_<name>`` function that does the work and returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from apps.protein.corpus import DEFAULT_SOURCE, CorpusConfig, CorpusError, build_corpus
from apps.protein.tools import ToolError

PEOPLE_ERRORS = (CorpusError, ToolError)


def add_corpus(subparsers: argparse._SubParsersAction) -> None:
    defaults = CorpusConfig()
    parser = subparsers.add_parser(
        "corpus",
        help="build the Swiss-Prot training corpus (train/validation/test split by identity cluster)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write (a datasets.DatasetDict)")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="metastudent-data dataset folder")
    parser.add_argument("--min-len", type=int, default=defaults.min_len, help="shortest sequence kept")
    parser.add_argument("--max-len", type=int, default=defaults.max_len, help="longest sequence kept")
    parser.add_argument("--identity", type=float, default=defaults.identity, help="mmseqs --min-seq-id")
    parser.add_argument(
        "--validation-fraction", type=float, default=defaults.validation_fraction, help="share of clusters"
    )
    parser.add_argument("--test-fraction", type=float, default=defaults.test_fraction, help="share of clusters")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="mmseqs threads")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.set_defaults(run=run_corpus)


def run_corpus(args: argparse.Namespace, argv: Sequence[str]) -> int:
    try:
        config = CorpusConfig(
            source=args.source,
            min_len=args.min_len,
            max_len=args.max_len,
            identity=args.identity,
            validation_fraction=args.validation_fraction,
            test_fraction=args.test_fraction,
            threads=args.threads,
        )
    except ValueError as error:
        raise CorpusError(str(error)) from None
    command = shlex.join(["dlm-protein", *argv])
    start = time.monotonic()
    summary = build_corpus(args.out, config, command=command, overwrite=args.overwrite)
    print(json.dumps({"counts": summary["counts"], "splits": summary["splits"]}, indent=2))
    print(f"wrote {args.out} in {time.monotonic() - start:.0f} s", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlm-protein", description="Protein design with masked diffusion LMs.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_corpus(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, argv)
    except PEOPLE_ERRORS as error:
        print(f"dlm-protein {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

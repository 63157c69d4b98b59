"""``dlm-protein``: one subcommand a task: ``corpus``, ``train-scorer``, ``design``, ``score``, ``demo``, ``eval``,
``dashboard``.

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
from dataclasses import asdict, replace
from pathlib import Path

from apps.protein.antibody.humanize import HumanizeError
from apps.protein.antibody.numbering import NumberingError
from apps.protein.antibody.redesign import RedesignError
from apps.protein.corpus import DEFAULT_SOURCE, CorpusConfig, CorpusError, build_corpus
from apps.protein.design import (
    DEFAULT_GO_MODEL,
    DEFAULT_MODEL,
    DEFAULT_SAMPLER,
    DEFAULT_SCORER,
    DEMO,
    ORDER_NOISE,
    Design,
    DesignConfig,
    DesignError,
    design,
    load_scorer,
    model_folder,
)
from apps.protein.fasta import FastaError, Record, design_record, format_fasta, read_fasta, write_fasta
from apps.protein.go import TermError
from apps.protein.properties import properties
from apps.protein.tools import ToolError
from shared_dlm import (
    STRATEGIES,
    DeviceError,
    OneLineParser,
    OutputError,
    check_device,
    check_output,
    provenance,
    registered_names,
)

FOLDER_OUTPUTS = ("corpus", "train-scorer", "train-go")  # the subcommands whose --out is a folder they write
PEOPLE_ERRORS = (CorpusError, ToolError, DesignError, FastaError, TermError, OutputError, NumberingError, RedesignError,
                 HumanizeError)


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


def add_train_scorer(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-scorer",
        help="train the ESM-2 scorer with ESM's masked-LM objective (resumes a stopped run)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="a corpus folder written by `dlm-protein corpus`")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, and model/ at the end")
    parser.add_argument("--config", type=Path, default=None, help="recipe YAML (default: apps/protein/scorer_recipe.yaml)")
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="a scorer folder (e.g. apps/protein/models/scorer) whose weights and step start a new run; "
        "a run folder with checkpoints resumes instead",
    )
    parser.add_argument("--max-steps", type=int, default=None, help="override the recipe's max_steps")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop with a checkpoint after this long")
    parser.set_defaults(run=run_train_scorer)


def _check_corpus(data: Path) -> None:
    if not (data / "dataset_dict.json").is_file():
        raise CorpusError(f"{data}: not a corpus folder (no dataset_dict.json); build one with `dlm-protein corpus`")


def _train(trainer, out: Path) -> int:
    """Run a trainer to its end (or its time limit) and print its last metrics and the model folder, if written."""
    metrics = trainer.train()
    model = out / "model"
    print(json.dumps({**metrics, "step": trainer.step, "model": str(model) if model.is_dir() else None}, indent=2))
    return 0


def run_train_scorer(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.scorer_train import RECIPE, build_trainer

    _check_corpus(args.data)
    if args.init_from is not None and not (args.init_from / "config.json").is_file():
        raise DesignError(f"--init-from {args.init_from}: not a scorer folder (no config.json)")
    trainer = build_trainer(args.data, args.out, args.config or RECIPE, args.max_steps, args.max_minutes, args.init_from)
    return _train(trainer, args.out)


def add_train_go(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-go",
        help="train a GO-conditioned generator (GO terms as control tokens), warm-started from a generator",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="a corpus folder written by `dlm-protein corpus`")
    parser.add_argument("--out", type=Path, required=True, help="run folder: vocabulary, checkpoints, and model/ at the end")
    parser.add_argument("--config", type=Path, default=None, help="recipe YAML (default: apps/protein/go_recipe.yaml)")
    parser.add_argument("--init", type=Path, default=None, help="generator folder to start from (default: the recipe's go.init)")
    parser.add_argument("--max-steps", type=int, default=None, help="override the recipe's max_steps")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop with a checkpoint after this long")
    parser.set_defaults(run=run_train_go)


def run_train_go(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.go_train import RECIPE, build_trainer

    _check_corpus(args.data)
    if args.init is not None and not (args.init / "config.json").is_file():
        raise DesignError(f"--init {args.init}: not a generator folder (no config.json)")
    trainer = build_trainer(args.data, args.out, args.config or RECIPE, args.max_steps, args.max_minutes, args.init)
    return _train(trainer, args.out)


def _scorer(value: str) -> str | None:
    return None if value.lower() == "none" else value


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help="generator: a registered name or a model folder")
    parser.add_argument(
        "--scorer", "--esm", type=_scorer, default=DEFAULT_SCORER,
        help="ESM-2 scorer: a registered name, a save_esm2 folder, a fair-esm checkpoint, an esm.pretrained name in "
        "the torch-hub cache, or 'none' to skip ESM scoring",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seeds the motif placements and the sampler")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def _design_settings(parser: argparse.ArgumentParser) -> None:
    """The flags of a DesignConfig's settings besides --num and --seed (``design_config`` reads them)."""
    parser.add_argument("--steps", type=int, help="denoising steps (None: one per generated residue)")
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER, help=f"sampling strategy: {', '.join(sorted(STRATEGIES))}")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature, 0 is greedy")
    parser.add_argument(
        "--order-noise", type=float, default=None, metavar="TAU",
        help=f"confidence-ordered samplers (confidence, threshold, factor, fixed): Gumbel noise on their ranking, "
        f"fading over the steps (default {ORDER_NOISE}; 0 ranks by confidence alone, which collapses designs to "
        "runs of one residue)",
    )  # fmt: skip
    parser.add_argument(
        "--cache", action="store_true",
        help="reuse the context's keys and values between full forwards (every 4 steps): faster, designs close to "
        "the uncached ones; with --steps below the length, the fast setting (README, Fast sampling)",
    )  # fmt: skip
    parser.add_argument("--forbid", default="", metavar="RESIDUES", help="residues never placed outside the motifs, e.g. C")
    parser.add_argument(
        "--esm-remask", type=float, metavar="THRESHOLD",
        help="remask generated residues whose ESM-2 log-probability is below THRESHOLD while steps remain (e.g. -3)",
    )  # fmt: skip
    parser.add_argument(
        "--go", action="append", default=[], metavar="GO:ID",
        help="design for this Gene Ontology term (repeatable or comma-separated; `dlm-protein terms` lists them); "
        f"uses the GO-conditioned generator {DEFAULT_GO_MODEL!r} unless --model is given",
    )  # fmt: skip
    parser.add_argument(
        "--guidance", type=float, default=None, metavar="W",
        help="classifier-free guidance weight for --go (>= 0; 0 ignores the terms, 1 plain conditioning, >1 stronger; default 1)",
    )  # fmt: skip


def design_config(args: argparse.Namespace, num: int) -> DesignConfig:
    """The one place the flags become a DesignConfig (``design`` and ``demo``)."""
    return DesignConfig(
        num=num, sampler=args.sampler, steps=args.steps, temperature=args.temperature, order_noise=args.order_noise,
        cache=args.cache, forbid=args.forbid, esm_remask=args.esm_remask, go=tuple(go_terms(args.go)),
        guidance=args.guidance, seed=args.seed,
    )  # fmt: skip


def add_design(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "design",
        help="design proteins that keep given motifs, scored with ESM-2 and ranked",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--length", type=int, required=True, help="residues per design")
    parser.add_argument(
        "--motif", action="append", default=[], metavar="SPEC",
        help="POS:RESIDUES (fixed) or START-END:RESIDUES (floating), 1-based, X = any; repeatable",
    )  # fmt: skip
    parser.add_argument("--num", type=int, default=16, help="designs to make")
    parser.add_argument(
        "--out", type=Path,
        help="a .fasta/.fa/.faa file to write, ranked (whole or not at all); or a folder, named without a suffix, for "
        "a large run in shards (FASTA + JSON lines each; resumable, damaged shards made again; split between the "
        "processes of `accelerate launch`). Any other name (designs.txt) is refused; checked before any design is made",
    )  # fmt: skip
    parser.add_argument("--shard-size", type=int, default=None, help="designs per shard when --out is a folder (default 1000)")
    parser.add_argument("--json", action="store_true", help="print the designs as a JSON list")
    _model_arguments(parser)
    parser.add_argument("--reference", type=Path, metavar="FASTA", help="natural sequences for embedding similarity")
    _design_settings(parser)
    parser.set_defaults(run=run_design)


FASTA_SUFFIXES = (".fasta", ".fa", ".faa")


def output_kind(out: Path) -> str:
    """What ``design --out`` writes: one FASTA file for a FASTA name, a folder of shards for a name without a
    suffix; any other name is refused rather than guessed at."""
    if out.suffix.lower() in FASTA_SUFFIXES:
        return "file"
    if out.suffix:
        raise DesignError(f"--out {out}: neither a FASTA file nor a folder of shards: use a name ending in "
                          f"{', '.join(FASTA_SUFFIXES)} for one file, or a name without a suffix for a folder of shards")
    return "folder"


def run_design(args: argparse.Namespace, argv: Sequence[str]) -> int:
    sharded = False
    if args.out is not None:  # before any model is loaded or design made
        kind = output_kind(args.out)
        check_output(args.out, kind)
        sharded = kind == "folder"
    if args.shard_size is not None and not sharded:
        raise DesignError("--shard-size needs --out FOLDER (a large run in shards), not a FASTA file")
    reference = None if args.reference is None else [r.sequence for r in read_fasta(args.reference)]
    config = design_config(args, args.num)
    if sharded:
        return run_sharded(args, config, reference)
    start = time.monotonic()
    designs = design(
        args.length, args.motif, config, generator=args.model, scorer=args.scorer, reference=reference, device=args.device
    )
    records = [design_record(d, config) for d in designs]
    if args.out is not None:
        write_fasta(args.out, records)
        print(f"wrote {len(records)} designs to {args.out} in {time.monotonic() - start:.1f} s", file=sys.stderr)
    if args.json:
        print(json.dumps([d.as_dict() for d in designs], indent=2))
    elif args.out is None:
        for record in records:
            print(f">{record.description}\n{record.sequence}")
    return 0


def run_sharded(args: argparse.Namespace, config: DesignConfig, reference: list[str] | None) -> int:
    """``design --out FOLDER``: the designs in resumable shards, this process's share of them (shards.py)."""
    from apps.protein.design import load_generator, pick_generator
    from apps.protein.shards import DEFAULT_SHARD_SIZE, Process, check_folder, run_record, run_request, run_shards

    process = Process.from_environment()
    device = args.device
    if device == "cuda" and process.world > 1:
        device = f"cuda:{process.local_rank}"
    request = run_request(args.length, args.motif, config, args.model, args.scorer, args.reference)
    shard_size = args.shard_size or DEFAULT_SHARD_SIZE
    check_folder(args.out, run_record(request, config, shard_size))  # another run or a damaged run.json: said now
    generator = load_generator(pick_generator(args.model, config.go), device)  # loaded once for every shard of this process
    scorer = load_scorer(args.scorer, device, reference)

    def make(shard: DesignConfig) -> list[Design]:
        return design(args.length, args.motif, shard, generator=generator, scorer=scorer, device=device)

    start = time.monotonic()
    summary = run_shards(
        args.out, config, shard_size, request, make, process,
        log=lambda message: print(message, file=sys.stderr),
    )  # fmt: skip
    print(
        f"process {process.rank} of {process.world}: {summary['made']} shards written"
        + (f" ({summary['redone']} of them damaged ones made again)" if summary["redone"] else "")
        + f", {summary['skipped_complete']} already complete, of its {summary['mine']} ({summary['shards']} in the run)"
        f" in {time.monotonic() - start:.1f} s",
        file=sys.stderr,
    )
    return 0


def go_terms(values: Sequence[str]) -> list[str]:
    """--go values, each one term or several separated by commas, in order, without repeats."""
    terms = [t.strip() for value in values for t in value.split(",") if t.strip()]
    return list(dict.fromkeys(terms))


def add_terms(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "terms",
        help="look up the GO terms a GO-conditioned generator knows, by id or by words of their name",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("query", nargs="?", default="", help="a GO id (or its start, GO:00036) or words of the name; none lists the most common")
    parser.add_argument("--model", default=DEFAULT_GO_MODEL, help="the GO-conditioned generator: a registered name or a folder")
    parser.add_argument("--limit", type=int, default=20, help="at most this many terms")
    parser.add_argument("--json", action="store_true", help="print the terms as a JSON list")
    parser.set_defaults(run=run_terms)


def run_terms(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.go import TermVocabulary

    if args.limit < 1:
        raise DesignError(f"--limit must be at least 1, got {args.limit}")
    folder = model_folder(args.model)
    if folder is None:
        raise DesignError(f"--model {args.model}: no such folder or registered model (registered: {', '.join(registered_names())})")
    try:
        vocabulary = TermVocabulary.load(folder)
    except FileNotFoundError as err:
        raise DesignError(str(err)) from None
    found = vocabulary.search(args.query, limit=args.limit)
    if args.json:
        print(json.dumps([{**asdict(t), "token": vocabulary.token(t.id)} for t in found], indent=2))
        return 0
    if not found:
        print(f"no term of the {len(vocabulary)} in {folder} matches {args.query!r}", file=sys.stderr)
        return 1
    print(f"{'id':<12} {'namespace':<19} {'proteins':>8}  name")
    for term in found:
        print(f"{term.id:<12} {term.namespace:<19} {term.count:>8}  {term.name}")
    return 0


def add_score(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score the protein sequences of a FASTA file with ESM-2 and ProtParam",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("fasta", type=Path, metavar="FASTA", help="sequences to score (20 standard residues)")
    parser.add_argument("--reference", type=Path, metavar="FASTA", help="natural sequences for embedding similarity")
    parser.add_argument(
        "--scorer", "--esm", default=DEFAULT_SCORER,
        help="ESM-2: a registered name, a save_esm2 folder, a fair-esm checkpoint or a cached esm.pretrained name",
    )
    parser.add_argument(
        "--window", type=int, default=None, metavar="TOKENS",
        help="tokens each residue's pseudo-likelihood sees; longer sequences are scored in windows "
        "(default: the context the scorer was trained on; 0: always the whole sequence)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per sequence")
    parser.set_defaults(run=run_score)


def _window(tokens: int | None) -> int | None | str:
    """--window: None (not given) is the scorer's training context, 0 the whole sequence."""
    return "trained" if tokens is None else (None if tokens == 0 else tokens)


def run_score(args: argparse.Namespace, argv: Sequence[str]) -> int:
    records = read_fasta(args.fasta)
    reference = None if args.reference is None else [r.sequence for r in read_fasta(args.reference)]
    scorer = load_scorer(args.scorer, args.device, reference, _window(args.window))
    scores = scorer.score([r.sequence for r in records])
    rows = [{"id": r.id, **s, **properties(r.sequence).as_dict()} for r, s in zip(records, scores)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ["id", "length", "pseudo_perplexity", "mean_log_prob"] + (["embedding_similarity"] if reference else [])
    print("\t".join(columns))
    for row in rows:
        print("\t".join(_cell(row[c]) for c in columns))
    return 0


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="design from the bundled example (a zinc-binding motif and a floating linker) and print a table",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _model_arguments(parser)
    parser.add_argument("--num", type=int, help="designs to make (default: the example's)")
    _design_settings(parser)
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace, argv: Sequence[str]) -> int:
    example = json.loads(DEMO.read_text())
    reference = read_fasta(DEMO.parent / example["reference"])
    print(f"{example['description']}: length {example['length']}, motifs {' '.join(example['motifs'])}", file=sys.stderr)
    config = design_config(args, args.num or example["num"])
    designs = design(
        example["length"], example["motifs"], config, generator=args.model, scorer=args.scorer,
        reference=[r.sequence for r in reference], device=args.device,
    )  # fmt: skip
    print(design_table(designs))
    return 0


def design_table(designs: Sequence[Design]) -> str:
    """Rank, key scores and sequence, one design a line; motif residues in lower case."""
    columns = [
        ("rank", "rank", "d"), ("pseudo_perplexity", "ppl", ".2f"), ("embedding_similarity", "sim", ".3f"),
        ("generator_log_prob", "gen_lp", ".3f"), ("motif_recovery", "motifs", ".2f"),
    ]  # fmt: skip
    columns = [c for c in columns if c[0] == "rank" or c[0] in designs[0].scores]
    lines = ["  ".join(f"{title:>8}" for _, title, _ in columns) + "  sequence"]
    for d in designs:
        values = {"rank": d.rank, **d.scores}
        fixed = {p for m in d.motifs for p, r in zip(range(m.start, m.end + 1), m.residues) if r != "X"}
        sequence = "".join(r.lower() if p in fixed else r for p, r in enumerate(d.sequence, start=1))
        lines.append("  ".join(f"{values[key]:>8{fmt}}" for key, _, fmt in columns) + f"  {sequence}")
    return "\n".join(lines)


def add_eval(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="`eval design`: check the scorer (natural vs shuffled) and measure designs against trivial baselines; "
        "`eval go`: GO-conditioned designs against unconditioned ones, under a probe and homology; "
        "`eval go-elbo`: held-out ELBO of a GO generator without and with each protein's terms",
    )
    targets = parser.add_subparsers(dest="target", required=True, metavar="TARGET")
    add_eval_design(targets)
    add_eval_go(targets)
    add_eval_go_elbo(targets)
    add_eval_antibody(targets)


def add_eval_antibody(targets: argparse._SubParsersAction) -> None:
    parser = targets.add_parser(
        "antibody",
        help="antibody redesign recovery, CDR3 pseudo-log-likelihoods and humanization against trivial baselines",
        description="On the antibody evaluation set (`dlm-protein antibody evalset`): recovery of CDR3, of the CDRs "
        "and of the frameworks when each is redesigned, by AntiBERTy and Sapiens beside AntiBERTy's one-shot argmax "
        "and per-IMGT-position profiles (leave one cluster out); AntiBERTy's log-probability of CDR3 for native, "
        "shuffled and designed chains; humanization of the non-human chains beside a CDR graft.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--evalset", type=Path, default=Path("data/antibody"), help="folder written by `dlm-protein antibody evalset`")
    parser.add_argument("--sample", type=int, help="chains to evaluate (the same ones every run); default all")
    parser.add_argument("--num", type=int, default=4, help="designs a chain and task")
    parser.add_argument("--max-steps", type=int, default=24, help="most denoising steps a redesign takes")
    parser.add_argument("--sampler", default=None, help="redesign's sampling strategy (default: redesign's own)")
    parser.add_argument("--temperature", type=float, default=None, help="redesign's temperature (default: redesign's own)")
    parser.add_argument("--order-noise", type=float, default=None, metavar="TAU",
                        help="confidence-ordered samplers: Gumbel noise on their ranking (default: redesign's own)")
    parser.add_argument("--models", default="antiberty,sapiens", help="comma-separated: antiberty, sapiens")
    parser.add_argument("--tasks", default="cdr3,cdrs,frameworks", help="comma-separated: cdr3, cdrs, frameworks")
    parser.add_argument("--no-humanize", action="store_true", help="skip the humanization figures")
    parser.add_argument("--no-redesign", action="store_true", help="skip the redesign figures (humanization only)")
    parser.add_argument("--no-pll", action="store_true", help="skip the CDR3 log-likelihoods (most of a CDR3 run's time)")
    parser.add_argument("--chain", choices=("H", "L"), help="only chains of this type (H: heavy, L: light)")
    parser.add_argument("--seed", type=int, default=0, help="seeds every design and sample")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(run=run_eval_antibody)


def run_eval_antibody(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.antibody.evalset import EvalSetError, load_evalset
    from apps.protein.antibody.evaluate import evaluate_antibodies, model_files

    try:
        evalset = load_evalset(args.evalset)
    except EvalSetError as error:
        raise DesignError(str(error)) from None
    from apps.protein.antibody import DEFAULT_CONFIG
    from apps.protein.antibody.evaluate import MODELS, TASKS

    models, tasks = [m for m in args.models.split(",") if m], [t for t in args.tasks.split(",") if t]
    if args.no_redesign:
        tasks = []
    for value, known, flag in ((models, MODELS, "--models"), (tasks, TASKS, "--tasks")):
        if (not value and flag == "--models") or set(value) - set(known) or (not value and not args.no_redesign):
            raise DesignError(f"{flag} {','.join(value)}: expected a comma-separated choice of {', '.join(known)}")
    config = replace(DEFAULT_CONFIG, sampler=args.sampler or DEFAULT_CONFIG.sampler,
                     temperature=DEFAULT_CONFIG.temperature if args.temperature is None else args.temperature,
                     order_noise=DEFAULT_CONFIG.order_noise if args.order_noise is None else args.order_noise)  # fmt: skip
    report = evaluate_antibodies(evalset, sample=args.sample, num=args.num, models=models, tasks=tasks,
                                 max_steps=args.max_steps, seed=args.seed, config=config,
                                 humanization=not args.no_humanize, chain=args.chain, pll=not args.no_pll,
                                 log=lambda line: print(line, file=sys.stderr))  # fmt: skip
    report["evalset"] = {k: evalset.origin.get(k) for k in ("source", "licence", "built", "rule", "all")}
    report["provenance"] = provenance(model_files(), "cpu", args.command_line)
    print(json.dumps(report, indent=2) if args.json else json.dumps(report["redesign_recovery"], indent=2))
    return 0


def _eval_arguments(parser: argparse.ArgumentParser, model: str) -> None:
    """The flags every ``eval`` target takes: the corpus, the generator, the seed, the device and ``--json``."""
    parser.add_argument("--data", type=Path, default=Path("data/protein"), help="a corpus folder written by `dlm-protein corpus`")
    parser.add_argument("--model", default=model, help="generator: a registered name or a model folder")
    parser.add_argument("--seed", type=int, default=0, help="seeds every sample, shuffle and design")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _eval_design_arguments(parser: argparse.ArgumentParser, threads: int) -> None:
    """The flags of the targets that make designs, score them and search them against the training split."""
    parser.add_argument(
        "--scorer", "--esm", default=DEFAULT_SCORER,
        help="ESM-2: a registered name, a save_esm2 folder, a fair-esm checkpoint or a cached esm.pretrained name",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, help="denoising steps (None: one per generated residue)")
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER, help=f"sampling strategy: {', '.join(sorted(STRATEGIES))}")
    parser.add_argument("--threads", type=int, default=threads, help="mmseqs threads")
    parser.add_argument(
        "--workdir", type=Path, help="folder that keeps the training-set search database between runs (None: a temporary one)"
    )


def add_eval_design(targets: argparse._SubParsersAction) -> None:
    from apps.protein.evaluate import EXTERNAL_TEST_FASTA, EvalConfig

    defaults = EvalConfig()
    parser = targets.add_parser(
        "design",
        help="check the scorer (natural vs shuffled) and measure designs against trivial baselines",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _eval_arguments(parser, DEFAULT_MODEL)
    _eval_design_arguments(parser, defaults.threads)
    parser.add_argument("--num-natural", type=int, default=defaults.num_natural, help="sequences a scorer-check set")
    parser.add_argument(
        "--window", type=int, default=None, metavar="TOKENS",
        help="the scorer's pseudo-likelihood window (default: its training context; 0: whole sequences)",
    )  # fmt: skip
    parser.add_argument("--num-designs", type=int, default=defaults.num_designs, help="sequences a generation set")
    parser.add_argument(
        "--max-length", type=int, default=defaults.max_length, help="longest natural sequence sampled (PPPL costs L^2)"
    )
    parser.add_argument("--temperature", type=float, default=defaults.temperature, help="sampling temperature, 0 is greedy")
    parser.add_argument(
        "--compare-temperature", type=float, action="append", default=[], metavar="T",
        help="also make and measure a design set at this temperature (repeatable): rows designs_tT",
    )  # fmt: skip
    parser.add_argument("--external", type=Path, default=EXTERNAL_TEST_FASTA, help="external test FASTA (.gz)")
    parser.set_defaults(run=run_eval_design)


def run_eval_design(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.evaluate import EvalConfig, evaluate
    from apps.protein.report import format_report

    try:
        config = EvalConfig(
            num_natural=args.num_natural,
            num_designs=args.num_designs,
            max_length=args.max_length,
            seed=args.seed,
            steps=args.steps,
            sampler=args.sampler,
            temperature=args.temperature,
            compare_temperatures=tuple(args.compare_temperature),
            threads=args.threads,
        )
    except ValueError as error:
        raise DesignError(str(error)) from None
    report = evaluate(
        args.data,
        model=args.model,
        scorer=args.scorer,
        config=config,
        workdir=args.workdir,
        external=args.external,
        device=args.device,
        window=_window(args.window),
    )
    report["provenance"] = provenance({"generator": args.model, "scorer": args.scorer}, args.device, args.command_line)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def add_eval_go(targets: argparse._SubParsersAction) -> None:
    from apps.protein.go_eval import GoEvalConfig

    defaults = GoEvalConfig()
    parser = targets.add_parser(
        "go",
        help="GO-conditioned designs against unconditioned ones, under a probe and homology",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _eval_arguments(parser, DEFAULT_GO_MODEL)
    _eval_design_arguments(parser, defaults.threads)
    parser.add_argument("--terms", default=",".join(defaults.terms), help="GO terms to condition on, comma-separated")
    parser.add_argument("--length", type=int, default=defaults.length, help="residues per design")
    parser.add_argument("--num", type=int, default=defaults.num, help="designs per term, and unconditioned designs")
    parser.add_argument("--guidance", type=float, default=defaults.guidance, help="classifier-free guidance weight")
    parser.add_argument(
        "--compare-guidance", type=float, action="append", default=[], metavar="W",
        help="also condition on every term with this weight, from the same seeds (repeatable; probe only)",
    )  # fmt: skip
    parser.add_argument("--motif-num", type=int, default=defaults.motif_num, help="designs per motif + term pair (0: none)")
    parser.add_argument(
        "--save-probes", type=Path, metavar="FILE",
        help="save the fitted probes (go_probes.json beside a GO generator is what the dashboard reads)",
    )  # fmt: skip
    parser.set_defaults(run=run_eval_go)


def run_eval_go(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.go_eval import GoEvalConfig, evaluate_go
    from apps.protein.report import format_go_report

    terms = tuple(go_terms([args.terms]))
    for name in ("length", "num"):
        if getattr(args, name) < 1:
            raise DesignError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.guidance < 0:
        raise DesignError(f"--guidance must be >= 0, got {args.guidance}")
    if not terms:
        raise DesignError("--terms: give at least one GO term")
    pairs = GoEvalConfig.motif_pairs if args.motif_num > 0 else ()
    try:
        config = GoEvalConfig(
            terms=terms, length=args.length, num=args.num, guidance=args.guidance,
            compare_guidance=tuple(args.compare_guidance), steps=args.steps, sampler=args.sampler, motif_pairs=pairs,
            motif_num=max(args.motif_num, 1), seed=args.seed, threads=args.threads,
        )  # fmt: skip
    except ValueError as error:
        raise DesignError(f"--guidance / --compare-guidance: {error}") from None
    report = evaluate_go(args.data, model=args.model, scorer=args.scorer, config=config, workdir=args.workdir,
                         device=args.device, save_probes=args.save_probes)  # fmt: skip
    report["provenance"] = provenance({"generator": report["settings"]["model"], "scorer": args.scorer}, args.device, args.command_line)
    print(json.dumps(report, indent=2) if args.json else format_go_report(report))
    return 0


def add_eval_go_elbo(targets: argparse._SubParsersAction) -> None:
    parser = targets.add_parser(
        "go-elbo",
        help="held-out ELBO of a GO generator without and with each protein's terms",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _eval_arguments(parser, DEFAULT_GO_MODEL)
    parser.add_argument(
        "--proteins", type=int, default=None, help="a seeded sample of this many validation proteins (None: all)"
    )
    parser.set_defaults(run=run_eval_go_elbo)


def run_eval_go_elbo(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.go_eval import term_elbo
    from apps.protein.report import format_go_elbo

    if args.proteins is not None and args.proteins < 1:
        raise DesignError(f"--proteins must be at least 1, got {args.proteins}")
    try:
        report = term_elbo(args.data, model=args.model, proteins=args.proteins, seed=args.seed, device=args.device)
    except ValueError as error:
        raise DesignError(str(error)) from None
    report["provenance"] = provenance({"generator": report["model"]}, args.device, args.command_line)
    print(json.dumps(report, indent=2) if args.json else format_go_elbo(report))
    return 0


def add_dashboard(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboard", help="start the design dashboard (streamlit run dashboards/protein_app.py)"
    )
    parser.add_argument("--port", type=int, help="port to serve on (default: Streamlit's, 8501)")
    parser.add_argument("--headless", action="store_true", help="do not open a browser")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    parser.set_defaults(run=run_dashboard)


def run_dashboard(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from shared_dlm import run_streamlit

    page = Path(__file__).resolve().parents[2] / "dashboards" / "protein_app.py"  # beside the apps package
    run_streamlit(page, args.port, args.headless, args.host)
    return 0


def add_antibody(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "antibody", help="antibody chains on pretrained antibody language models (AntiBERTy, Sapiens)"
    )
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    score = tasks.add_parser(
        "score",
        help="AntiBERTy pseudo-log-likelihood, Sapiens humanness and the closest human V gene of each chain",
        description="Score each chain of a FASTA file (one record a chain, VH or VL, the type detected by IMGT "
        "numbering) over its variable domain: AntiBERTy's mean log-probability of each residue masked in turn, "
        "Sapiens humanness (the mean probability of each residue masked in turn, under the Sapiens model of the "
        "chain's type) and the identity to the closest human V gene.",
    )
    score.add_argument("fasta", type=Path, help="one record a chain")
    score.add_argument(
        "--scorer", "--esm", type=_scorer, default=DEFAULT_SCORER,
        help="ESM-2 scorer for its pseudo-perplexity too (as dlm-protein score), or 'none'",
    )  # fmt: skip
    score.add_argument("--device", default="cpu", help="torch device of the ESM-2 scorer")
    score.add_argument("--json", action="store_true", help="print the scores as JSON, every residue's too")
    score.set_defaults(run=run_antibody_score)
    add_antibody_design(tasks)
    add_antibody_humanize(tasks)
    dashboard = tasks.add_parser("dashboard", help="start the antibody dashboard (streamlit run dashboards/antibody_app.py)")
    dashboard.add_argument("--port", type=int, help="port to serve on (default: Streamlit's, 8501)")
    dashboard.add_argument("--headless", action="store_true", help="do not open a browser")
    dashboard.add_argument("--host", default="127.0.0.1",
                           help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    dashboard.set_defaults(run=run_antibody_dashboard)
    evalset = tasks.add_parser(
        "evalset",
        help="build the antibody evaluation set: complete V domains of the packaged Swiss-Prot, split by identity cluster",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    evalset.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="metastudent-data dataset folder")
    evalset.add_argument("--out", type=Path, default=Path("data/antibody"), help="folder to write (built beside it, then renamed)")
    evalset.add_argument("--overwrite", action="store_true", help="replace an existing set")
    evalset.set_defaults(run=run_antibody_evalset)


def run_antibody_dashboard(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from shared_dlm import run_streamlit

    page = Path(__file__).resolve().parents[2] / "dashboards" / "antibody_app.py"  # beside the apps package
    run_streamlit(page, args.port, args.headless, args.host)
    return 0


def run_antibody_evalset(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.antibody.evalset import EvalSetError, build_evalset

    try:
        summary = build_evalset(args.source, args.out, overwrite=args.overwrite)
    except EvalSetError as error:
        raise DesignError(str(error)) from None
    print(json.dumps({k: summary[k] for k in ("all", "reference", "test") if k in summary}, indent=2))
    return 0


def _antibody_records(path: Path) -> list:
    """The records of an antibody FASTA, each numbered (IMGT) before any work: a bad record fails at once."""
    from apps.protein.antibody import NumberingError, number

    records = read_fasta(path)
    numbered = []
    for record in records:
        try:
            numbered.append(number(record.sequence))
        except NumberingError as error:
            raise NumberingError(f"{path}: record {record.id}: {error}") from None
    return list(zip(records, numbered))


def _length_range(value: str) -> tuple[int, int]:
    try:
        low, _, high = value.partition("-")
        return int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX residues, e.g. 10-14, got {value!r}") from None


def add_antibody_design(tasks: argparse._SubParsersAction) -> None:
    from apps.protein.antibody import ANTIBERTY, DEFAULT_CONFIG

    parser = tasks.add_parser(
        "design",
        help="redesign named regions of antibody chains (CDRs, frameworks, IMGT ranges), everything else fixed",
        description="Redesign regions of each chain of a FASTA file (one record a chain, VH or VL, the type detected "
        "by IMGT numbering) with a pretrained antibody language model as the denoiser. Each region applies to the "
        "records of its chain (cdrh3: heavy, cdrl1: light, H:105-117: heavy).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("fasta", type=Path, help="one record a chain")
    parser.add_argument(
        "--redesign", action="append", required=True, metavar="REGION",
        help="cdrh1-3, cdrl1-3, frh1-4, frl1-4, or an IMGT range such as H:105-117; repeatable",
    )  # fmt: skip
    parser.add_argument("--length-range", type=_length_range, metavar="MIN-MAX",
                        help="let the one redesigned CDR take any length in MIN-MAX residues")
    parser.add_argument("--num", type=int, default=DEFAULT_CONFIG.num, help="designs per chain")
    parser.add_argument("--model", default=ANTIBERTY, choices=("antiberty", "sapiens"),
                        help="denoiser: AntiBERTy, or the Sapiens model of the chain's type")
    parser.add_argument("--sampler", default=DEFAULT_CONFIG.sampler, help=f"sampling strategy: {', '.join(sorted(STRATEGIES))}")
    parser.add_argument("--steps", type=int, help="denoising steps (None: one per generated residue)")
    parser.add_argument("--temperature", type=float, default=DEFAULT_CONFIG.temperature, help="sampling temperature")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler")
    parser.add_argument("--out", type=Path, help="FASTA file to write the designs to (whole or not at all)")
    parser.add_argument("--json", action="store_true", help="print the designs as JSON")
    parser.set_defaults(run=run_antibody_design)


def run_antibody_design(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.antibody import RedesignError, redesign
    from apps.protein.antibody.numbering import region_chain
    from apps.protein.antibody.redesign import generator_for, redesign_indices

    if args.out is not None:
        check_output(args.out, "file")
    chains = _antibody_records(args.fasta)
    for spec in args.redesign:  # each region goes to the records of its chain
        chain = region_chain(spec)
        if chain is None:
            raise RedesignError(f"--redesign {spec}: unknown region: expected cdrh1-3, cdrl1-3, frh1-4, frl1-4, or an "
                                "IMGT range such as H:105-117")  # fmt: skip
        if not any(n.chain == chain for _, n in chains):
            raise RedesignError(f"--redesign {spec}: a region of the {'heavy' if chain == 'H' else 'light'} chain, and "
                                f"{args.fasta} holds none")  # fmt: skip
    config = replace(_antibody_config(args), num=args.num)
    requests = []
    for record, numbered in chains:
        regions = [r for r in args.redesign if region_chain(r) == numbered.chain]
        if not regions:
            continue
        try:
            indices = redesign_indices(numbered, regions)
        except RedesignError as error:
            raise RedesignError(f"{args.fasta}: record {record.id}: {error}") from None
        longest = generator_for(args.model, numbered.chain).spec.max_len - 2
        grown = len(record.sequence) - len(indices) + (args.length_range[1] if args.length_range else len(indices))
        if grown > longest:
            raise RedesignError(f"{args.fasta}: record {record.id}: {grown} residues; {args.model} reads at most {longest}")
        requests.append((record, numbered, regions))
    out_records, listed = [], []
    for record, numbered, regions in requests:
        try:
            designs = redesign(record.sequence, regions, config, generator=args.model, length_range=args.length_range,
                               numbered=numbered)  # fmt: skip
        except RedesignError as error:
            raise RedesignError(f"{args.fasta}: record {record.id}: {error}") from None
        for d in designs:
            name = f"{record.id}_design_{d.rank}"
            header = (f"{name} parent={record.id} regions={','.join(regions)} redesigned={d.redesigned} "
                      f"log_prob={d.generator_log_prob:.4g} model={args.model} seed={args.seed} sample={d.sample}")  # fmt: skip
            out_records.append(Record(name, header, d.sequence))
            listed.append({"id": name, "parent": record.id, **d.as_dict()})
    if args.out is not None:
        write_fasta(args.out, out_records)
    if args.json:
        print(json.dumps(listed, indent=2))
    elif args.out is None:
        print(format_fasta(out_records), end="")
    return 0


def _antibody_config(args: argparse.Namespace):
    from apps.protein.antibody import DEFAULT_CONFIG

    return replace(DEFAULT_CONFIG, sampler=args.sampler, steps=args.steps, temperature=args.temperature, seed=args.seed)


def add_antibody_humanize(tasks: argparse._SubParsersAction) -> None:
    from apps.protein.antibody import HumanizeConfig

    defaults = HumanizeConfig()
    parser = tasks.add_parser(
        "humanize",
        help="humanize antibody chains: frameworks redesigned toward the human repertoire, CDRs kept",
        description="Humanize each chain of a FASTA file (one record a chain, VH or VL of a non-human antibody, the "
        "type detected by IMGT numbering) with the Sapiens model of its type; every CDR residue is kept. The output "
        "holds one humanized record per input record, in the same order, with the same header line.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("fasta", type=Path, help="one record a chain")
    parser.add_argument("--method", default=defaults.method, choices=("masked", "diffusion"),
                        help="masked: each framework residue masked in turn, the most human residue taken; diffusion: "
                        "the least human framework positions resampled by the diffusion sampler, kept if more human")  # fmt: skip
    parser.add_argument("--keep-vernier", action="store_true", help="keep the Vernier-zone residues as well as the CDRs")
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help="most mask-sample-keep rounds")
    parser.add_argument("--threshold", type=float, default=defaults.threshold,
                        help="masked: change only residues Sapiens gives a probability below this")
    parser.add_argument("--seed", type=int, default=0, help="seeds the diffusion method's sampler")
    parser.add_argument("--out", type=Path, help="FASTA file to write the humanized chains to (whole or not at all)")
    parser.add_argument("--json", action="store_true", help="print each chain's mutations and scores as JSON")
    parser.set_defaults(run=run_antibody_humanize)


def run_antibody_humanize(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.antibody import HumanizeConfig, humanize

    if args.out is not None:
        check_output(args.out, "file")
    config = HumanizeConfig(method=args.method, rounds=args.rounds, keep_vernier=args.keep_vernier,
                            threshold=args.threshold, design=replace(HumanizeConfig().design, seed=args.seed))  # fmt: skip
    chains = _antibody_records(args.fasta)
    results = [humanize(record.sequence, config, numbered) for record, numbered in chains]
    out_records = [Record(record.id, record.description, h.sequence) for (record, _), h in zip(chains, results)]
    if args.out is not None:
        write_fasta(args.out, out_records)
    if args.json:
        print(json.dumps([{"id": r.id, "description": r.description, **h.as_dict()} for (r, _), h in zip(chains, results)],
                         indent=2))  # fmt: skip
    elif args.out is None:
        print(format_fasta(out_records), end="")
    else:
        for (record, _), h in zip(chains, results):
            print(f"{record.id}: {len(h.mutations)} mutations, humanness {h.humanness_before:.3f} -> {h.humanness_after:.3f}",
                  file=sys.stderr)  # fmt: skip
    return 0


def run_antibody_score(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from apps.protein.antibody.scores import score_chain

    chains = _antibody_records(args.fasta)  # every chain numbered before any is scored: a bad record fails at once
    records = [record for record, _ in chains]
    esm = load_scorer(args.scorer, args.device)
    scores = [score_chain(r.sequence, n, esm) for r, n in chains]
    if args.json:
        print(json.dumps([{"id": r.id, "description": r.description, **s.as_dict()} for r, s in zip(records, scores)],
                         indent=2))  # fmt: skip
        return 0
    print(f"{'id':24}{'chain':>6}{'species':>9}  {'closest human V gene':22}{'identity':>9}{'AntiBERTy PLL':>15}"
          f"{'humanness':>11}{'ESM-2 PPPL':>12}")  # fmt: skip
    for record, s in zip(records, scores):
        gene = s.v_gene or "-"
        identity = f"{s.v_identity:.3f}" if s.v_identity is not None else "-"
        pppl = f"{s.esm['pseudo_perplexity']:.2f}" if s.esm else "-"
        print(f"{record.id[:23]:24}{s.chain_type:>6}{s.species:>9}  {gene:22}{identity:>9}{s.antiberty_pll:15.3f}"
              f"{s.humanness:11.3f}{pppl:>12}")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="dlm-protein", description="Protein design with masked diffusion LMs.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_corpus(subparsers)
    add_train_scorer(subparsers)
    add_train_go(subparsers)
    add_design(subparsers)
    add_terms(subparsers)
    add_score(subparsers)
    add_antibody(subparsers)
    add_demo(subparsers)
    add_eval(subparsers)
    add_dashboard(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["dlm-protein", *argv])  # as run, for the provenance of a figure
    try:
        if getattr(args, "device", None) is not None:  # before any model is loaded
            args.device = str(check_device(args.device))
        if args.command in FOLDER_OUTPUTS:  # before any work (design checks its own --out: a file or a folder)
            check_output(args.out, "folder")
        if getattr(args, "save_probes", None) is not None:
            check_output(args.save_probes, "file")
        return args.run(args, argv)
    except (*PEOPLE_ERRORS, DeviceError) as error:
        print(f"dlm-protein {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

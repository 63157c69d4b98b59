"""`dlm-bench`: benchmarks that print ratios measured in one run (`forward`: the denoiser's ceiling; `sample`: samplers;
`serve`: the infill server under load), and `results`: docs/results.md from the figure JSONs."""

from __future__ import annotations

import json
import math
import shlex
import sys

import torch

from shared_dlm import DeviceError, OneLineParser, check_device, provenance


def forward_command(args) -> None:
    from dataclasses import asdict

    from bench.forward import bench_forward, bench_peers, device_name
    from shared_dlm import DenoiserConfig

    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"dlm-bench forward: --threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.peers and not 1 <= args.masked <= args.length:
        raise SystemExit(f"dlm-bench forward: --masked must lie in [1, --length {args.length}], got {args.masked}")
    device = torch.device(args.device)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}[args.dtype]
    config = DenoiserConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
        intermediate_size=args.intermediate or 4 * args.hidden, max_position_embeddings=args.length,
    )
    if args.peers:
        results = [asdict(bench_peers(config, b, args.length, args.masked, device, dtype, args.seconds)) for b in args.batch]
    else:
        results = [asdict(bench_forward(config, b, args.length, device, dtype, args.seconds)) for b in args.batch]
    if args.json:
        benchmark = "forward-peers" if args.peers else "forward"
        figure = {"benchmark": benchmark, "results": results, "provenance": provenance({}, device_name(device), args.command_line)}
        print(json.dumps(figure, indent=2))
        return
    for r in results:
        if args.peers:
            print(f"{r['device']} {r['dtype']} batch {r['batch']} x {r['length']}, sparse: logits at {r['masked']} positions a row")
            for name, speed in r["tokens_per_s"].items():
                print(f"  {name:16s} {speed:9,.0f} tokens/s")
            print("  " + ", ".join(f"{pair} {ratio:.2f}x" for pair, ratio in r["ratios"].items()))
            continue
        mfu = f"{100 * r['mfu']:.1f}% of bf16 peak" if r["mfu"] is not None else "peak unknown"
        print(f"{r['device']} {r['dtype']} batch {r['batch']} x {r['length']}: {r['tokens_per_s']:,.0f} tokens/s, "
              f"{r['flops_per_s'] / 1e12:.2f} TFLOP/s ({mfu})")


TASK_DEFAULTS = {  # inputs, rows per input, temperature: the apps' own defaults where they have one
    "code": {"num_inputs": 20},  # rows per hole length, temperature and model: the code app's (InfillConfig)
    "protein": {"num_inputs": 4, "num": 8, "temperature": 1.0, "model": "protein-default"},
}


def _code_task(args, device: torch.device):
    """The code task on its model, with the code app's decoding defaults; errors say what to pass."""
    from apps.code import DEFAULT_MODEL, InfillConfig, resolve_model
    from bench.sample_code import CodeTask

    model = args.model or DEFAULT_MODEL
    num_inputs, num = args.num_inputs or TASK_DEFAULTS["code"]["num_inputs"], args.num or InfillConfig.num
    temperature = InfillConfig.temperature if args.temperature is None else args.temperature
    try:
        task = CodeTask(resolve_model(model, device), num_inputs, args.seed, num, temperature)  # or not a code model
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"dlm-bench sample: {err}") from None
    return task, model


def _task(args, device: torch.device):
    """The benchmark task with its models loaded; errors say what to pass."""
    if args.task == "code":
        return _code_task(args, device)
    defaults = TASK_DEFAULTS[args.task]
    model = args.model or defaults["model"]
    num_inputs = args.num_inputs or defaults["num_inputs"]
    num = args.num or defaults["num"]
    temperature = defaults["temperature"] if args.temperature is None else args.temperature
    from apps.protein import DesignConfig, DesignError, load_generator, load_scorer
    from bench.sample_protein import ProteinTask

    scorer = None if args.scorer.lower() == "none" else args.scorer
    try:
        generator, esm = load_generator(model, device), load_scorer(scorer, device)
    except DesignError as err:
        raise SystemExit(f"dlm-bench sample: {err}") from None
    return ProteinTask(generator, esm, num_inputs, DesignConfig(num=num, temperature=temperature, seed=args.seed)), model


def sample_command(args) -> None:
    from dataclasses import asdict

    from bench.forward import device_name
    from bench.sample import MODES, Settings, bench_sample

    for name in ("num_inputs", "num", "refresh_every", "block_length", "tokens_per_step"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise SystemExit(f"dlm-bench sample: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not 0.0 <= args.threshold <= 1.0:
        raise SystemExit(f"dlm-bench sample: --threshold must lie in [0, 1], got {args.threshold}")
    noise = args.order_noise
    if noise is None:  # the app's own: design's for protein; code ranks by confidence alone
        from apps.protein import ORDER_NOISE

        noise = ORDER_NOISE if args.task == "protein" else 0.0
    if not (noise >= 0.0 and math.isfinite(noise)):
        raise SystemExit(f"dlm-bench sample: --order-noise must be a finite number >= 0, got {noise}")
    device = torch.device(args.device)
    task, model = _task(args, device)
    settings = Settings(args.threshold, args.refresh_every, args.block_length, args.compile, noise, args.tokens_per_step)
    report = {"task": args.task, "device": device_name(device), "model": str(model), **bench_sample(task, settings)}
    report["settings"] = {
        **asdict(settings),
        "num_inputs": task.num_inputs,
        "rows_per_input": task.num * (len(task.lengths()) if args.task == "code" else 1),
        "temperature": task.temperature,
        "seed": args.seed,
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **({"hole_lengths": task.lengths(), "inputs": "HumanEval single-line infilling"} if args.task == "code" else
           {"length": task.length, "motif": task.motif, "scorer": args.scorer}),
    }  # fmt: skip
    models = {"model": model, **({"scorer": args.scorer} if args.task == "protein" and args.scorer.lower() != "none" else {})}
    report["provenance"] = provenance(models, report["device"], args.command_line)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.task} on {report['device']}, model {model}")
    for mode in MODES:
        r = report["modes"][mode]
        quality = ", ".join(f"{k} {v:.3f}" for k, v in r["quality"].items())
        remask = f", remasker {100 * r['remask_share']:.1f}% of the time" if "remask_share" in r else ""
        print(f"  {mode:15s} {r['tokens_per_s']:9.1f} tokens/s  {r['forwards_per_token']:.3f} forwards/token  "
              f"x{report['speedups'][mode]:.2f}  {quality}{remask}")


def serve_command(args) -> None:
    from apps.code import (
        BatchInfiller,
        InfillConfig,
        Infiller,
        ServeConfig,
        create_app,
        resolve_model,
    )
    from bench.serve import load_test, report

    torch.set_num_threads(args.threads)
    config = InfillConfig(syntax_remask=not args.no_syntax_remask)
    infiller = BatchInfiller(Infiller(resolve_model(args.model, args.device), config))
    config = ServeConfig(model_name=args.model, max_batch_rows=args.max_batch_rows, max_wait_ms=args.max_wait_ms,
                         max_queue=args.max_queue)  # fmt: skip
    results = load_test(create_app(infiller, config), args.model, args.concurrency, args.requests, args.max_tokens)
    settings = {**vars(args), "device": str(args.device), "torch_threads": torch.get_num_threads()}
    settings.pop("run")
    out = report(results, settings)
    out["provenance"] = provenance({"model": args.model}, args.device, args.command_line)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for r in out["results"]:
        print(f"concurrency {r['concurrency']:3d}: {r['requests_per_s']:6.2f} requests/s (x{r['speedup']:.2f}), "
              f"p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s, {r['ok']}/{r['requests']} ok, {r['refused']} refused, "
              f"{r['lost']} lost, {r['batches']} batches (mean {r['mean_batch']:.1f} requests)")


def antibody_command(args) -> None:
    from bench.antibody import run

    torch.set_num_threads(args.threads)
    out = run(num=args.num, repeats=args.repeats, seed=args.seed)
    out["provenance"] = provenance({"generator": "protein-default"}, "cpu", args.command_line)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(out["task"])
    for name, row in out["cdrh3_redesign"].items():
        print(f"  {name:16s} {row['seconds']:7.2f} s  {row['designs_per_s']:6.2f} designs/s  "
              f"x{row['ratio_to_protein_generator']:.2f} the protein generator's speed")
    for method, seconds in out["humanize_okt3_pair_seconds"].items():
        print(f"  humanize OKT3 VH+VL ({method}): {seconds:.2f} s")


def results_command(args) -> None:
    from bench.results import write

    if write(check=args.check):
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="dlm-bench", description="Benchmarks of the diffusion suite.")
    sub = parser.add_subparsers(dest="command", required=True)
    fwd = sub.add_parser("forward", help="denoiser forward tokens/s and FLOP/s utilisation")
    fwd.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    fwd.add_argument("--dtype", choices=["bf16", "fp32", "fp16"], default="bf16" if torch.cuda.is_available() else "fp32")
    fwd.add_argument("--batch", type=int, nargs="+", default=[1, 8, 64])
    fwd.add_argument("--length", type=int, default=256)
    fwd.add_argument("--hidden", type=int, default=512)
    fwd.add_argument("--layers", type=int, default=8)
    fwd.add_argument("--heads", type=int, default=8)
    fwd.add_argument("--intermediate", type=int, default=None)
    fwd.add_argument("--vocab", type=int, default=8192)
    fwd.add_argument("--seconds", type=float, default=3.0, help="time per batch size (per model with --peers)")
    fwd.add_argument(
        "--peers", action="store_true",
        help="beside ModernBERT and BERT of the same shape, dense and with logits only at --masked positions",
    )  # fmt: skip
    fwd.add_argument("--masked", type=int, default=16, help="--peers: positions a row the sparse forward returns logits at")
    fwd.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    fwd.add_argument("--json", action="store_true")
    fwd.set_defaults(run=forward_command)
    smp = sub.add_parser("sample", help="sampler tokens/s: one token per step, parallel, parallel with cached context")
    smp.add_argument("--task", choices=["code", "protein"], required=True)
    smp.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    smp.add_argument("--model", default=None, help="model folder or registered name (default: code-default / protein-default)")
    smp.add_argument("--scorer", default="protein-scorer-default", help="protein: ESM-2 scorer folder or name, or none")
    smp.add_argument("--num-inputs", type=int, default=None, help="HumanEval tasks (default 20) or protein seeds (default 4)")
    smp.add_argument("--num", type=int, default=None, help="rows per input: per hole length for code (4), designs for protein (8)")
    smp.add_argument("--seed", type=int, default=0)
    smp.add_argument("--threshold", type=float, default=0.9, help="confidence threshold of the parallel modes")
    smp.add_argument(
        "--tokens-per-step", type=int, default=None, metavar="K",
        help="parallel modes: the model-free alternative, k tokens a step (fixed), instead of the threshold",
    )  # fmt: skip
    smp.add_argument("--refresh-every", type=int, default=4, help="full forward at least every this many steps (cache)")
    smp.add_argument("--block-length", type=int, default=None, help="semi-autoregressive blocks for every mode")
    smp.add_argument("--temperature", type=float, default=None, help="default: the app's (code 0.5, protein 1.0)")
    smp.add_argument(
        "--order-noise", type=float, default=None,
        help="Gumbel noise on the confidence ranking of both modes; default: the app's (code 0, protein 4.5)",
    )  # fmt: skip
    smp.add_argument("--compile", action="store_true", help="torch.compile the denoiser (GPU)")
    smp.add_argument("--json", action="store_true")
    smp.set_defaults(run=sample_command)
    srv = sub.add_parser("serve", help="load test of dlm-code serve on loopback: requests/s and latency by concurrency")
    srv.add_argument("--model", default="code-default")
    srv.add_argument("--device", default="cpu")
    srv.add_argument("--requests", type=int, default=64, help="requests sent at each concurrency")
    srv.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    srv.add_argument("--max-tokens", type=int, default=16)
    srv.add_argument("--max-batch-rows", type=int, default=64)
    srv.add_argument("--max-wait-ms", type=float, default=10.0)
    srv.add_argument("--max-queue", type=int, default=64)
    srv.add_argument("--threads", type=int, default=1, help="torch threads of the model")
    srv.add_argument("--no-syntax-remask", action="store_true")
    srv.add_argument("--json", action="store_true")
    srv.set_defaults(run=serve_command)

    ab = sub.add_parser("antibody", help="antibody models: CDR-H3 redesign designs/s against the protein generator, humanization s")
    ab.add_argument("--num", type=int, default=8, help="designs a redesign call")
    ab.add_argument("--repeats", type=int, default=3, help="timed calls a row (median)")
    ab.add_argument("--threads", type=int, default=1, help="torch threads")
    ab.add_argument("--seed", type=int, default=0)
    ab.add_argument("--json", action="store_true")
    ab.set_defaults(run=antibody_command)
    res = sub.add_parser("results", help="write docs/results.md from the figure JSONs in docs/figures/")
    res.add_argument("--check", action="store_true", help="only check that docs/results.md is up to date (exit 1 if not)")
    res.set_defaults(run=results_command)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["dlm-bench", *argv])  # as run, for the provenance of a figure
    if getattr(args, "device", None) is not None:  # before any model is loaded
        try:
            args.device = str(check_device(args.device))
        except DeviceError as error:
            raise SystemExit(f"dlm-bench {args.command}: {error}") from None
    args.run(args)


if __name__ == "__main__":
    main()

"""`dlm-bench`: benchmarks that print ratios measured in one run."""

from __future__ import annotations

import argparse
import json

import torch


def forward_command(args) -> None:
    from dataclasses import asdict

    from bench.forward import bench_forward
    from shared_dlm import DenoiserConfig

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("dlm-bench: --device cuda was asked for but no CUDA device is visible")
    device = torch.device(args.device)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}[args.dtype]
    config = DenoiserConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
        intermediate_size=args.intermediate or 4 * args.hidden, max_position_embeddings=args.length,
    )
    results = [asdict(bench_forward(config, b, args.length, device, dtype, args.seconds)) for b in args.batch]
    if args.json:
        print(json.dumps({"benchmark": "forward", "results": results}, indent=2))
        return
    for r in results:
        mfu = f"{100 * r['mfu']:.1f}% of bf16 peak" if r["mfu"] is not None else "peak unknown"
        print(f"{r['device']} {r['dtype']} batch {r['batch']} x {r['length']}: {r['tokens_per_s']:,.0f} tokens/s, "
              f"{r['flops_per_s'] / 1e12:.2f} TFLOP/s ({mfu})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dlm-bench", description="Benchmarks of the diffusion suite.")
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
    fwd.add_argument("--seconds", type=float, default=3.0, help="time per batch size")
    fwd.add_argument("--json", action="store_true")
    fwd.set_defaults(run=forward_command)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()

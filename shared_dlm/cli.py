"""`dlm-train` (train a denoiser from a YAML file and/or flags) and `dlm-sample` (sample from one)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import yaml

from shared_dlm.arguments import OneLineParser


def _config_parser():
    from shared_dlm.train import TrainConfig

    parser = OneLineParser(
        prog="dlm-train",
        description="Train a masked-diffusion denoiser. Settings come from --config (YAML) and are overridden by flags; "
        "a run resumes from the latest checkpoint in its output_dir.",
    )
    parser.add_argument("--config", type=Path, help="YAML file of TrainConfig settings")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.name == "model":
            parser.add_argument(flag, nargs="+", metavar="KEY=VALUE", help="model settings, e.g. hidden_size=256")
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif isinstance(default, list):
            parser.add_argument(flag, nargs="+")
        else:
            kind = {int: int, float: float}.get(type(default), str)
            if f.name == "max_minutes":
                kind = float
            parser.add_argument(flag, type=kind, default=None, help=f"default: {default}")
    return parser


def parse_train_config(argv: list[str] | None = None):
    """TrainConfig from a recipe (``read_recipe``: a YAML file of its settings) and flags (flags win; ``--model``
    KEY=VALUE pairs update the recipe's model settings)."""
    from shared_dlm.recipe import read_recipe
    from shared_dlm.train import TrainConfig

    args = _config_parser().parse_args(argv)
    try:
        config = read_recipe(args.config)[0] if args.config else TrainConfig()
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"dlm-train: {err}") from None
    values: dict = {}
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if f.name == "model":
            model = dict(config.model)
            for item in value:
                key, sep, raw = item.partition("=")
                if not sep:
                    raise SystemExit(f"dlm-train: --model takes KEY=VALUE, got {item!r}")
                model[key] = yaml.safe_load(raw)
            value = model
        values[f.name] = value
    return dataclasses.replace(config, **values)


def train_main(argv: list[str] | None = None) -> None:
    from shared_dlm.train import build_from_config

    config = parse_train_config(argv)
    try:
        trainer = build_from_config(config)
    except (ValueError, FileNotFoundError, OSError) as err:
        raise SystemExit(f"dlm-train: {err}") from None
    metrics = trainer.train()
    if trainer.accelerator.is_main_process:
        print(json.dumps({"step": trainer.step, **metrics}))


def sample_main(argv: list[str] | None = None) -> None:
    import torch

    from shared_dlm import Canvas, CanvasError, SamplerConfig, generate, load, make_strategy

    parser = OneLineParser(prog="dlm-sample", description="Sample sequences from a denoiser folder or registered name.")
    parser.add_argument("model", help="model folder written by save_pretrained, or a registered name")
    parser.add_argument("--length", type=int, default=32, help="positions to generate")
    parser.add_argument("--num", type=int, default=4, help="number of samples (one batch)")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--sampler", default="confidence", help="ancestral, confidence or remdm")
    parser.add_argument("--confidence", choices=["prob", "margin", "entropy"], default=None,
                        help="confidence measure of the confidence sampler (default prob)")
    parser.add_argument("--block-length", type=int, default=None, help="semi-autoregressive blocks of this size")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of one sample a line")
    args = parser.parse_args(argv)
    try:
        loaded = load(args.model, device=args.device)
        config = SamplerConfig(
            steps=args.steps,
            strategy=make_strategy(args.sampler, block_length=args.block_length,
                                   **({"measure": args.confidence} if args.confidence else {})),
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
        )
        canvas = Canvas.blank(args.num, args.length, loaded.model.spec, device=args.device)
        generator = torch.Generator(device=args.device).manual_seed(args.seed)
        out = generate(loaded.model, canvas, config, generator=generator)
    except (ValueError, FileNotFoundError, CanvasError, RuntimeError) as err:
        raise SystemExit(f"dlm-sample: {err}") from None
    ids = out.ids.tolist()
    texts = [loaded.tokenizer.decode(row) for row in ids] if loaded.tokenizer is not None else ids
    if args.json:
        print(json.dumps({"samples": texts, "mean_logp": out.logp.sum(-1).div(args.length).tolist()}))
    else:
        for text in texts:
            print(text if isinstance(text, str) else " ".join(map(str, text)))


if __name__ == "__main__":
    train_main(sys.argv[1:])

"""Share of balanced strings among samples of a trained bracket model, per sampler, and the share of
distinct samples (a sampler that repeats one safe string scores high on the first and low on the second),
beside two baselines: the same architecture untrained, and the training set's unigram frequencies.

python examples/brackets/evaluate.py runs/brackets/model [--num 500]
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import torch

from shared_dlm import Ancestral, Blocks, Canvas, Confidence, Denoiser, ReMDM, SamplerConfig, generate, load


def balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += {"(": 1, ")": -1}.get(c, 10**6)
        if depth < 0 or depth >= 10**6:
            return False
    return depth == 0


def scores(texts: list[str]) -> dict[str, float]:
    return {"balanced": sum(map(balanced, texts)) / len(texts), "distinct": len(set(texts)) / len(texts)}


def share(model, tokenizer, num: int, length: int, config: SamplerConfig) -> dict[str, float]:
    out = generate(model, Canvas.blank(num, length, model.spec), config, generator=torch.Generator().manual_seed(0))
    return scores([tokenizer.decode(row) for row in out.ids.tolist()])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--length", type=int, default=16)
    args = parser.parse_args()
    loaded = load(args.model)
    model, tok = loaded.model, loaded.tokenizer
    samplers = {
        "confidence (LLaDA), 16 steps": SamplerConfig(steps=16, strategy=Confidence()),
        "confidence, margin, 16 steps": SamplerConfig(steps=16, strategy=Confidence("margin")),
        "blocks of 4 + confidence, 16 steps": SamplerConfig(steps=16, strategy=Blocks(Confidence(), 4)),
        "ancestral (MDLM), 16 steps": SamplerConfig(steps=16, strategy=Ancestral()),
        "ancestral (MDLM), 128 steps": SamplerConfig(steps=128, strategy=Ancestral()),
        "ReMDM eta=0.05, 128 steps": SamplerConfig(steps=128, strategy=ReMDM(eta=0.05)),
    }
    results = {name: share(model, tok, args.num, args.length, cfg) for name, cfg in samplers.items()}
    torch.manual_seed(0)
    untrained = Denoiser(model.config).eval()
    results["baseline: untrained model, confidence"] = share(untrained, tok, args.num, args.length, samplers["confidence (LLaDA), 16 steps"])
    train = Path(__file__).with_name("train.txt").read_text().split()
    counts = Counter("".join(train))
    rng = random.Random(0)
    draws = ["".join(rng.choices(list(counts), weights=list(counts.values()), k=args.length)) for _ in range(args.num)]
    results["baseline: unigram frequencies"] = scores(draws)
    results["reference: training strings"] = scores(train[: args.num])
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

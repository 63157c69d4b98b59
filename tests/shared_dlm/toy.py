"""A toy language for training tests: balanced brackets of fixed length (Dyck words)."""

from __future__ import annotations

import random

import datasets

from shared_dlm.tokenizer import char_tokenizer

LENGTH = 16


def bracket_tokenizer():
    return char_tokenizer(["<mask>", "<pad>", "(", ")"])


def dyck_word(rng: random.Random, length: int = LENGTH) -> str:
    out, depth = [], 0
    for i in range(length):
        if depth == 0:
            c = "("
        elif depth == length - i:
            c = ")"
        else:
            c = rng.choice("()")
        depth += 1 if c == "(" else -1
        out.append(c)
    return "".join(out)


def balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += 1 if c == "(" else -1 if c == ")" else 10**6
        if depth < 0 or depth >= 10**6:
            return False
    return depth == 0


def bracket_dataset(n: int, tokenizer, seed: int = 0) -> datasets.Dataset:
    rng = random.Random(seed)
    return datasets.Dataset.from_dict({"input_ids": [tokenizer(dyck_word(rng))["input_ids"] for _ in range(n)]})

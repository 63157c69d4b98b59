"""Writes the toy data of the quick start: balanced-bracket strings of length 16 and a character tokenizer.

Generated here, no outside source: `python examples/brackets/make_data.py` rewrites the same files (seeded).
"""

from __future__ import annotations

import random
from pathlib import Path

from shared_dlm import char_tokenizer

LENGTH = 16


def dyck_word(rng: random.Random, length: int = LENGTH) -> str:
    """A random balanced string: '(' when nothing is open, ')' when the rest must close, else a coin flip."""
    out, depth = [], 0
    for i in range(length):
        c = "(" if depth == 0 else ")" if depth == length - i else rng.choice("()")
        depth += 1 if c == "(" else -1
        out.append(c)
    return "".join(out)


def main() -> None:
    here = Path(__file__).parent
    rng = random.Random(0)
    (here / "train.txt").write_text("\n".join(dyck_word(rng) for _ in range(4000)) + "\n")
    (here / "valid.txt").write_text("\n".join(dyck_word(rng) for _ in range(256)) + "\n")
    char_tokenizer(["<mask>", "<pad>", "(", ")"]).save_pretrained(here / "tokenizer")


if __name__ == "__main__":
    main()

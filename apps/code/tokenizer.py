"""The code tokenizer: byte-level BPE (GPT-2 style) trained on the corpus, saved as a HF fast tokenizer.

Byte-level, with no normaliser, so every string round-trips exactly (tabs, trailing
spaces, ``\\r\\n``, any Unicode). Special tokens take the first ids:

- ``<pad>``: padding outside the sequence; ``<mask>``: the absorbing state of the diffusion;
- ``<eoi>``: end of infill, fills the unused slots of a hole whose length is not known;
- ``<expand>``: a slot that should grow into several tokens (DreamOn-style variable length);
- ``<bos>``, ``<eos>``, ``<unk>``.

Text never turns into special ids (``split_special_tokens``): code that contains the
literal string "<mask>" is encoded as its bytes; special ids are placed by code only,
by id (``tokenizer.mask_token_id``, ``tokenizer.eoi_token_id``, ...).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from apps.code.corpus import is_held_out, load_corpus

# Attribute name -> token, in id order (pad is 0).
SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "eoi_token": "<eoi>",
    "expand_token": "<expand>",
    "bos_token": "<bos>",
    "eos_token": "<eos>",
    "unk_token": "<unk>",
}
_NAMED = ("pad_token", "mask_token", "bos_token", "eos_token", "unk_token")  # transformers' own attributes
STATS_FILE = "TRAINING.json"


@dataclass(frozen=True)
class TokenizerConfig:
    """How to train the tokenizer. 8192 keeps the shipped model small."""

    vocab_size: int = 8192
    min_frequency: int = 2
    held_out_fraction: float = 0.02  # corpus files kept out of training, to measure compression on


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig = TokenizerConfig()) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts``, with the special tokens set."""
    minimum = len(pre_tokenizers.ByteLevel.alphabet()) + len(SPECIAL_TOKENS)
    if config.vocab_size < minimum:
        raise ValueError(
            f"vocab_size must be at least {minimum} (256 bytes and the special tokens), got {config.vocab_size}"
        )
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    return wrap(backend)


def wrap(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """The transformers face of a trained ``tokenizers`` object, with our special tokens named."""
    named = {key: SPECIAL_TOKENS[key] for key in _NAMED}
    extra = {key: token for key, token in SPECIAL_TOKENS.items() if key not in _NAMED}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        extra_special_tokens=extra,  # exposes tokenizer.eoi_token(_id) and tokenizer.expand_token(_id)
        clean_up_tokenization_spaces=False,  # it would delete the space in "a ." and break round trips
        split_special_tokens=True,
        **named,
    )


def load_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    """A tokenizer saved by ``train_from_corpus`` (or ``save_pretrained``), checked for our special tokens."""
    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"no tokenizer at {path}: train one with `dlm-code tokenizer --corpus data/code --out {path}`"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    missing = [token for token in SPECIAL_TOKENS.values() if token not in tokenizer.get_vocab()]
    if missing:
        raise ValueError(
            f"tokenizer at {path} lacks the special tokens {missing}; retrain it with `dlm-code tokenizer`"
        )
    return tokenizer


def bytes_per_token(tokenizer: PreTrainedTokenizerFast, texts: Iterable[str]) -> tuple[int, int]:
    """(UTF-8 bytes, tokens) over ``texts``: their ratio is the compression."""
    n_bytes = n_tokens = 0
    for text in texts:
        n_bytes += len(text.encode("utf-8"))
        n_tokens += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return n_bytes, n_tokens


def train_from_corpus(corpus: Path, out: Path, config: TokenizerConfig = TokenizerConfig()) -> dict:
    """Train on a built corpus minus its held-out slice, save to ``out``, and record the compression."""
    started = time.monotonic()
    dataset = load_corpus(corpus)
    held = [is_held_out(sha, config.held_out_fraction) for sha in dataset["sha256"]]
    train_rows = [i for i, h in enumerate(held) if not h]
    test_rows = [i for i, h in enumerate(held) if h]
    if not train_rows:
        raise ValueError(f"no training files left in {corpus} after holding out {config.held_out_fraction:.0%}")

    def texts(rows: list[int]) -> Iterator[str]:
        for start in range(0, len(rows), 1000):
            yield from dataset.select(rows[start : start + 1000])["text"]

    tokenizer = train_tokenizer(texts(train_rows), config)
    n_bytes, n_tokens = bytes_per_token(tokenizer, texts(test_rows))
    out = Path(out)
    tokenizer.save_pretrained(str(out))
    stats = {
        "corpus": str(corpus),
        "vocab_size": len(tokenizer),
        "special_ids": {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS.values()},
        "train_files": len(train_rows),
        "held_out_files": len(test_rows),
        "held_out_bytes": n_bytes,
        "held_out_tokens": n_tokens,
        "bytes_per_token": round(n_bytes / n_tokens, 3) if n_tokens else None,  # None: empty held-out slice
        "tokenizer_json_bytes": (out / "tokenizer.json").stat().st_size,
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
    return stats

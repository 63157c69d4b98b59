"""The fill-in-the-middle window shared by training and inference: which prefix and suffix tokens sit around a hole.

A row is ``[<bos>] prefix tokens | hole slots | suffix tokens [<eos>]`` in at most the model's window of
positions. ``<bos>`` marks a prefix that reaches the start of the file and ``<eos>`` a suffix that reaches
its end. Context that does not fit is cut far from the hole: the budget is split evenly between the two
sides, and a side shorter than its half leaves the rest to the other. The prefix and the suffix are
tokenized apart (as a user's file around a hole is), and only a stretch of text near the hole is tokenized,
so a window costs the same in a short file and a long one. Training examples (``infill_data``) and infill
queries (``infill``) both go through ``fit_context``: the model sees at inference what it saw in training.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

CHARS_PER_TOKEN = 4  # first guess of the text a token budget needs; doubled until the budget is met


@dataclass(frozen=True)
class Context:
    """The tokens around a hole that fit the window."""

    prefix: list[int]  # ends at the hole; starts with <bos> when the whole prefix fits
    suffix: list[int]  # starts at the hole; ends with <eos> when the whole suffix fits
    truncated: bool  # some far context was cut to fit


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_tail(tokenizer: PreTrainedTokenizerBase, text: str, budget: int) -> list[int]:
    """The last ``budget`` tokens of ``text``, with ``<bos>`` in front when all of it fits."""
    if budget <= 0:
        return []
    chars = budget * CHARS_PER_TOKEN
    while True:
        whole = chars >= len(text)
        ids = _encode(tokenizer, text if whole else text[-chars:])
        ids = [tokenizer.bos_token_id, *ids] if whole else ids[1:]  # a cut text's first token may be cut too
        if whole or len(ids) >= budget:
            return ids[-budget:]
        chars *= 2


def encode_head(tokenizer: PreTrainedTokenizerBase, text: str, budget: int) -> list[int]:
    """The first ``budget`` tokens of ``text``, with ``<eos>`` after them when all of it fits."""
    if budget <= 0:
        return []
    chars = budget * CHARS_PER_TOKEN
    while True:
        whole = chars >= len(text)
        ids = _encode(tokenizer, text if whole else text[:chars])
        ids = [*ids, tokenizer.eos_token_id] if whole else ids[:-1]
        if whole or len(ids) >= budget:
            return ids[:budget]
        chars *= 2


def fit_context(tokenizer: PreTrainedTokenizerBase, prefix: str, suffix: str, budget: int) -> Context:
    """The prefix and suffix tokens nearest the hole that fit ``budget`` positions together."""
    if budget < 2:
        raise ValueError(f"the context needs at least 2 positions of the window, got {budget}")
    before, after = encode_tail(tokenizer, prefix, budget), encode_head(tokenizer, suffix, budget)
    if len(before) + len(after) > budget:
        half = budget // 2
        if len(before) < half:
            after = after[: budget - len(before)]
        elif len(after) < budget - half:
            before = before[len(before) - (budget - len(after)) :]
        else:
            before, after = before[len(before) - half :], after[: budget - half]
    truncated = before[:1] != [tokenizer.bos_token_id] or after[-1:] != [tokenizer.eos_token_id]
    return Context(before, after, truncated)

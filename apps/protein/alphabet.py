"""The ESM-2 alphabet, shared by our generator and the fair-esm scorer.

One token id means the same residue everywhere: ids come from fair-esm's
``Alphabet.from_architecture("ESM-1b")`` (the alphabet ESM-2 uses, 33 tokens), and
``build_tokenizer`` wraps the same ids as a Hugging Face tokenizer that can be saved
beside a model with ``save_pretrained`` and loaded with ``AutoTokenizer``.
"""

from __future__ import annotations

import string

import esm
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

ALPHABET = esm.data.Alphabet.from_architecture("ESM-1b")

CLS_ID: int = ALPHABET.cls_idx
PAD_ID: int = ALPHABET.padding_idx
EOS_ID: int = ALPHABET.eos_idx
UNK_ID: int = ALPHABET.unk_idx
MASK_ID: int = ALPHABET.mask_idx
VOCAB_SIZE: int = len(ALPHABET.all_toks)

STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 amino acids of the genetic code, the only letters our corpus keeps."""

RARE_RESIDUES = "XBUZO"
"""Unknown (X), ambiguous (B = D/N, Z = E/Q) and rare (U selenocysteine, O pyrrolysine)."""

STANDARD_IDS: tuple[int, ...] = tuple(ALPHABET.get_idx(r) for r in STANDARD_RESIDUES)
"""Token ids of the 20 standard residues, e.g. for the allowed set of a designed position."""


_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def upper_residues(text: str) -> str:
    """``text`` with its ASCII letters upper-cased and nothing else changed: ``str.upper`` would turn 'ß' into
    'SS' and 'ı' into 'I', residues the text never held, where ``check_residues`` should refuse them."""
    return text.translate(_ASCII_UPPER)


def check_residues(sequence: str, allowed: str = STANDARD_RESIDUES) -> str:
    """Return ``sequence`` if every letter is in ``allowed``; otherwise raise a ValueError
    that names the first bad letter and its 1-based position."""
    allowed_set = set(allowed)
    for position, letter in enumerate(sequence, start=1):
        if letter not in allowed_set:
            raise ValueError(
                f"residue {letter!r} at position {position} is not one of {allowed!r}"
                f" (in {_excerpt(sequence, position)!r})"
            )
    return sequence


def _excerpt(sequence: str, position: int, width: int = 10) -> str:
    start = max(position - 1 - width, 0)
    end = min(position + width, len(sequence))
    return ("..." if start else "") + sequence[start:end] + ("..." if end < len(sequence) else "")


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A fast tokenizer with exactly the ESM ids: one token per letter, whitespace ignored,
    special tokens such as ``<mask>`` recognised in text. Like fair-esm's batch converter
    it wraps each sequence as ``<cls> ... <eos>`` (pass ``add_special_tokens=False`` to skip)."""
    vocab = {token: ALPHABET.get_idx(token) for token in ALPHABET.all_toks}
    unk = ALPHABET.all_toks[UNK_ID]
    cls_token, eos_token = ALPHABET.all_toks[CLS_ID], ALPHABET.all_toks[EOS_ID]
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    core.post_processor = processors.TemplateProcessing(
        single=f"{cls_token} $A {eos_token}",
        pair=f"{cls_token} $A {eos_token} $B {eos_token}",
        special_tokens=[(cls_token, CLS_ID), (eos_token, EOS_ID)],
    )
    core.decoder = decoders.Fuse()
    core.add_special_tokens([token for token in ALPHABET.all_toks if len(token) > 1])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        cls_token=cls_token,
        eos_token=eos_token,
        pad_token=ALPHABET.all_toks[PAD_ID],
        unk_token=unk,
        mask_token=ALPHABET.all_toks[MASK_ID],
        clean_up_tokenization_spaces=False,
    )

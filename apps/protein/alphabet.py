"""The ESM-2 alphabet, shared by our generator and the fair-esm scorer.

One token id means the same residue everywhere: ids come from fair-esm's
``Alphabet.from_architecture("ESM-1b")`` (the alphabet ESM-2 uses, 33 tokens), and
``build_tokenizer`` wraps the same ids as a Hugging Face tokenizer that can be saved
beside a model with ``save_pretrained`` and loaded with ``AutoTokenizer``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ResidueIds:
    """How one model writes a chain: the id of each residue letter, and the ids it wraps a chain in (``<cls>``
    residues ``<eos>`` for ESM, ``[CLS]``/``[SEP]`` for AntiBERTy, ``<s>``/``</s>`` for Sapiens). The design
    pipeline places motifs in residue letters and writes the canvas through this map, so any masked LM whose
    tokenizer has one token a residue is a generator."""

    ids: Mapping[str, int]  # residue letter -> token id; every standard residue, and the rare ones the vocabulary has
    start: int
    end: int

    def __post_init__(self):
        missing = [r for r in STANDARD_RESIDUES if r not in self.ids]
        if missing:
            raise ValueError(f"the vocabulary has no token for the residues {''.join(missing)}")

    @classmethod
    def of_tokenizer(cls, tokenizer) -> ResidueIds:
        """The map read from a Hugging Face tokenizer: each residue letter as one token, the start token (cls,
        else bos) and the end token (sep, else eos). A ValueError names what the tokenizer lacks."""
        vocab = tokenizer.get_vocab()
        ids = {r: vocab[r] for r in STANDARD_RESIDUES + RARE_RESIDUES if r in vocab}
        start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        if start is None or end is None:
            raise ValueError("the tokenizer has no start (cls/bos) or end (sep/eos) token to wrap a chain in")
        return cls(ids, start, end)

    def encode(self, residues: str) -> list[int]:
        """The ids of a residue string (no start or end token)."""
        return [self.ids[r] for r in residues]

    def decode(self, ids: Sequence[int]) -> str:
        """The residue letters of ids; an id that is no residue reads as X."""
        letters = {i: r for r, i in self.ids.items()}
        return "".join(letters.get(int(i), "X") for i in ids)


ESM_IDS = ResidueIds({r: ALPHABET.get_idx(r) for r in STANDARD_RESIDUES + RARE_RESIDUES}, CLS_ID, EOS_ID)
"""The ESM alphabet's residue ids: our generators, the ESM-2 scorer and ``motifs.place``'s templates."""


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

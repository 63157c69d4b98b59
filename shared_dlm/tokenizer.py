"""A character-level Hugging Face tokenizer over a fixed vocabulary (toy languages, residues)."""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast


def char_tokenizer(
    vocab: list[str],
    *,
    mask_token: str = "<mask>",
    pad_token: str = "<pad>",
    unk_token: str | None = None,
    bos_token: str | None = None,
    eos_token: str | None = None,
) -> PreTrainedTokenizerFast:
    """A tokenizer whose ids are the positions in `vocab`: one id per character, the named specials
    among the entries. Saved with `save_pretrained`, it loads back with `AutoTokenizer`."""
    if len(set(vocab)) != len(vocab):
        raise ValueError("vocabulary entries must be distinct")
    specials = [t for t in (mask_token, pad_token, unk_token, bos_token, eos_token) if t is not None]
    missing = [t for t in specials if t not in vocab]
    if missing:
        raise ValueError(f"special tokens {missing} are not in the vocabulary")
    model = models.WordLevel({tok: i for i, tok in enumerate(vocab)}, unk_token=unk_token)
    core = Tokenizer(model)
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()  # characters join without spaces
    core.add_special_tokens(specials)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        mask_token=mask_token,
        pad_token=pad_token,
        unk_token=unk_token,
        bos_token=bos_token,
        eos_token=eos_token,
        clean_up_tokenization_spaces=False,
    )

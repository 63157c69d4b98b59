import pytest
from transformers import AutoTokenizer

from apps.code.tokenizer import SPECIAL_TOKENS, TokenizerConfig, load_tokenizer, train_tokenizer

from .conftest import PROMPT, SOLUTION, module

TRICKY = [
    "def f(x):\n\treturn x  \n",  # tab indent, trailing spaces
    "s = 'naïve café — 東京 🐍'\r\n",  # unicode and CRLF
    "x = 1 ;  y = 2 . __init__ ( ) ,\n\n\n   ",  # spaces a cleanup pass would eat
    "text = '<mask> and <pad> are just text here'\n",
    "\x00\x1b[0m\u200b\ufeff",
]


@pytest.fixture(scope="module")
def tokenizer():
    corpus = [module(name, 8) for name in ("alpha", "beta", "gamma")] + [PROMPT + SOLUTION] * 3
    return train_tokenizer(corpus, TokenizerConfig(vocab_size=400))


@pytest.mark.parametrize("text", TRICKY)
def test_any_text_round_trips(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_special_tokens_have_distinct_ids_and_never_come_from_text(tokenizer):
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS.values()}
    assert len(set(ids.values())) == len(SPECIAL_TOKENS)
    assert (tokenizer.pad_token_id, tokenizer.mask_token_id) == (ids["<pad>"], ids["<mask>"])
    assert (tokenizer.eoi_token_id, tokenizer.expand_token_id) == (ids["<eoi>"], ids["<expand>"])
    encoded = tokenizer(TRICKY[3], add_special_tokens=False)["input_ids"]
    assert not set(encoded) & set(ids.values())


def test_learns_merges_for_code(tokenizer):
    text = module("alpha", 8)
    assert len(tokenizer(text)["input_ids"]) < len(text.encode()) / 2


def test_save_and_load(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    for loaded in (AutoTokenizer.from_pretrained(tmp_path), load_tokenizer(tmp_path)):
        assert loaded.get_vocab() == tokenizer.get_vocab()
        assert (loaded.mask_token, loaded.pad_token, loaded.eoi_token_id) == ("<mask>", "<pad>", tokenizer.eoi_token_id)
        assert loaded.decode(loaded(TRICKY[3])["input_ids"]) == TRICKY[3]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="dlm-code tokenizer"):
        load_tokenizer(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="vocab_size must be at least"):
        train_tokenizer(["x"], TokenizerConfig(vocab_size=100))

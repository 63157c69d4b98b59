import esm
import pytest
from transformers import AutoTokenizer

from apps.protein.alphabet import (
    CLS_ID,
    EOS_ID,
    MASK_ID,
    PAD_ID,
    RARE_RESIDUES,
    STANDARD_IDS,
    STANDARD_RESIDUES,
    UNK_ID,
    VOCAB_SIZE,
    build_tokenizer,
    check_residues,
)

ESM = esm.data.Alphabet.from_architecture("ESM-1b")


def test_special_ids_are_esm_2s():
    assert (CLS_ID, PAD_ID, EOS_ID, UNK_ID, MASK_ID) == (
        ESM.cls_idx, ESM.padding_idx, ESM.eos_idx, ESM.unk_idx, ESM.mask_idx,
    )  # fmt: skip
    assert VOCAB_SIZE == len(ESM.all_toks) == 33


def test_residue_sets():
    assert len(STANDARD_RESIDUES) == len(set(STANDARD_RESIDUES)) == 20
    assert not set(STANDARD_RESIDUES) & set(RARE_RESIDUES)
    assert set(STANDARD_RESIDUES) | set(RARE_RESIDUES) == {t for t in ESM.all_toks if t.isalpha() and len(t) == 1}
    assert STANDARD_IDS == tuple(ESM.get_idx(r) for r in STANDARD_RESIDUES)


def test_tokenizer_ids_agree_with_esm_for_every_token():
    tokenizer = build_tokenizer()
    assert len(tokenizer) == len(ESM.all_toks)
    for token in ESM.all_toks:
        assert tokenizer.convert_tokens_to_ids(token) == ESM.get_idx(token)
        assert tokenizer(token, add_special_tokens=False)["input_ids"] == [ESM.get_idx(token)], token
    assert (tokenizer.mask_token_id, tokenizer.pad_token_id, tokenizer.cls_token_id) == (MASK_ID, PAD_ID, CLS_ID)
    assert (tokenizer.eos_token_id, tokenizer.unk_token_id) == (EOS_ID, UNK_ID)


def test_encoding_matches_esm_batch_converter():
    sequence = "MKTAYIAKQR<mask>ISFVKSHFSRQX"
    _, _, esm_tokens = ESM.get_batch_converter()([("p", sequence)])
    assert build_tokenizer()(sequence)["input_ids"] == esm_tokens[0].tolist()


def test_round_trip_and_unknown_letters():
    tokenizer = build_tokenizer()
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    ids = tokenizer(sequence)["input_ids"]
    assert ids[0] == CLS_ID and ids[-1] == EOS_ID
    assert tokenizer.decode(ids, skip_special_tokens=True) == sequence
    assert tokenizer.decode(tokenizer("MK<mask>T", add_special_tokens=False)["input_ids"]) == "MK<mask>T"
    assert tokenizer("MJK", add_special_tokens=False)["input_ids"] == [ESM.get_idx("M"), UNK_ID, ESM.get_idx("K")]


def test_padding_uses_the_pad_id():
    batch = build_tokenizer()(["MK", "MKTL"], padding=True)
    assert batch["input_ids"][0][-2:] == [PAD_ID, PAD_ID]
    assert batch["attention_mask"][0] == [1, 1, 1, 1, 0, 0]


def test_save_and_load_with_auto_tokenizer(tmp_path):
    build_tokenizer().save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    sequence = "MKTAYIAK<mask>R"
    assert loaded(sequence)["input_ids"] == build_tokenizer()(sequence)["input_ids"]
    assert loaded.mask_token_id == MASK_ID and loaded.pad_token_id == PAD_ID
    assert loaded.decode(loaded(sequence)["input_ids"], skip_special_tokens=True) == "MKTAYIAKR"


def test_check_residues_names_the_bad_letter_and_position():
    assert check_residues("MKTAY") == "MKTAY"
    with pytest.raises(ValueError, match=r"'J' at position 4"):
        check_residues("MKTJAY")
    with pytest.raises(ValueError, match=r"'X' at position 2"):
        check_residues("MXT")
    assert check_residues("MXT", allowed=STANDARD_RESIDUES + "X") == "MXT"

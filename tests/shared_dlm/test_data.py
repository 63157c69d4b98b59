import json

import pytest
import torch

from shared_dlm.data import Collator, load_files, read_fasta, tokenize
from shared_dlm.tokenizer import char_tokenizer

TOKENIZER = char_tokenizer(["<mask>", "<pad>", "<eos>", *"ACDEFGHIKLMNPQRSTVWY"], eos_token="<eos>")


def test_fasta_records_join_wrapped_lines(tmp_path):
    path = tmp_path / "x.fasta"
    path.write_text(">P1 first protein\nMKV\nLLA\n\n>P2\nGG\n")
    assert list(read_fasta([str(path)])) == [
        {"id": "P1", "description": "P1 first protein", "text": "MKVLLA"},
        {"id": "P2", "description": "P2", "text": "GG"},
    ]


def test_not_fasta_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "bad.fasta"
    path.write_text("MKV\n>P1\nAA\n")
    with pytest.raises(ValueError, match="bad.fasta:1: not FASTA"):
        list(read_fasta([str(path)]))


def test_load_text_jsonl_and_fasta(tmp_path):
    (tmp_path / "a.txt").write_text("MKV\nAAG\n")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps({"text": s}) for s in ["MK", "GGA", "W"]))
    (tmp_path / "c.fasta").write_text(">a\nMK\n>b\nWW\n")
    assert load_files([str(tmp_path / "a.txt")])["text"] == ["MKV", "AAG"]
    assert len(load_files([str(tmp_path / "b.jsonl")])) == 3
    assert load_files([str(tmp_path / "c.fasta")])["text"] == ["MK", "WW"]
    with pytest.raises(ValueError, match="mix formats"):
        load_files([str(tmp_path / "a.txt"), str(tmp_path / "c.fasta")])
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_files([str(tmp_path / "missing.txt")])
    with pytest.raises(ValueError, match="cannot tell the format"):
        (tmp_path / "d.csv").write_text("x")
        load_files([str(tmp_path / "d.csv")])


def test_packing_joins_documents_with_eos_and_cuts_chunks(tmp_path):
    (tmp_path / "a.txt").write_text("MKV\nAAG\nWWWW\n")
    packed = tokenize(load_files([str(tmp_path / "a.txt")]), TOKENIZER, seq_len=4, packing=True)
    eos = TOKENIZER.eos_token_id
    flat = [t for row in packed["input_ids"] for t in row]
    assert all(len(row) == 4 for row in packed["input_ids"])
    docs = [TOKENIZER(s, add_special_tokens=False)["input_ids"] + [eos] for s in ["MKV", "AAG", "WWWW"]]
    assert flat == sum(docs, [])[:12]  # 13 tokens: three whole chunks of 4, the tail dropped


def test_collator_crops_pads_and_keeps_fixed_positions_out_of_the_loss():
    collate = Collator(seq_len=5, pad_id=TOKENIZER.pad_token_id, generator=torch.Generator().manual_seed(0))
    batch = collate([
        {"input_ids": [3, 4, 5], "fixed": [True, False, False]},
        {"input_ids": list(range(3, 13))},
    ])
    assert batch["input_ids"][0].tolist() == [3, 4, 5, 1, 1]
    assert batch["attention_mask"][0].tolist() == [True, True, True, False, False]
    assert batch["maskable"][0].tolist() == [False, True, True, False, False]
    window = batch["input_ids"][1].tolist()
    assert len(window) == 5 and window == list(range(window[0], window[0] + 5))  # a contiguous crop

"""The protein payload of a device call: packed to a byte budget here, unpacked there into a corpus the trainers take."""

import json
import random

import datasets
import pytest

from apps.protein.go import GoGraph
from bench.device import payload
from shared_dlm.data import load_split

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def corpus(folder, train=300, valid=40):
    rng = random.Random(0)

    def rows(n, prefix):
        seqs = ["".join(rng.choice(RESIDUES) for _ in range(rng.randint(30, 90))) for _ in range(n)]
        return {
            "accession": [f"{prefix}{i}" for i in range(n)], "sequence": seqs,
            "go": [str(["GO:0000002"] if i % 2 else []) for i in range(n)], "length": [str(len(s)) for s in seqs],
            "cluster": [f"{prefix}{i}" for i in range(n)],
        }

    datasets.DatasetDict(
        train=datasets.Dataset.from_dict(rows(train, "T")), validation=datasets.Dataset.from_dict(rows(valid, "V")),
    ).save_to_disk(str(folder))


@pytest.fixture
def sources(tmp_path):
    corpus(tmp_path / "corpus")
    go = tmp_path / "go"
    go.mkdir()
    (go / "goGraph.txt").write_text(
        "GO:0000001\tGO:0000002\t1\tis_a\nGO:0000003\tGO:0000002\t1\tregulates\nGO:0000004\tGO:0000001\t1\tpart_of\n"
    )
    (go / "nameMapping.txt").write_text("GO:0000001\tparent\nGO:0000002\tchild\n")
    vocabulary = tmp_path / "go_terms.json"
    vocabulary.write_text(json.dumps({"terms": [{"id": "GO:0000001", "name": "parent"}, {"id": "GO:0000004", "name": "root"}]}))
    return tmp_path / "corpus", go, vocabulary


def test_pack_then_unpack_gives_a_corpus_of_whole_chunks_and_the_propagating_graph(sources, tmp_path, monkeypatch):
    data, go, vocabulary = sources
    monkeypatch.setattr(payload, "CHUNK", 64)
    manifest = payload.pack(data, tmp_path / "payload", 10**7, valid_count=10, go_dir=go, vocabulary=vocabulary)
    assert manifest["train_proteins"] == 300 and manifest["validation_proteins"] == 10 and manifest["graph_edges"] == 2
    assert payload.unpack(tmp_path / "payload", tmp_path / "device") == manifest

    train = load_split(str(tmp_path / "device" / "protein"), "train")
    original = {row["accession"]: row for row in load_split(str(data), "train")}
    assert len(train) == 300 and {row["accession"] for row in train} == set(original)
    for row in train:
        assert {k: original[row["accession"]][k] for k in payload.FIELDS} == row
    valid = load_split(str(tmp_path / "device" / "protein"), "validation")
    assert len(valid) == 10 and all(row["accession"].startswith("V") for row in valid)
    graph = GoGraph.load(tmp_path / "device" / "go")  # what $DLM_GO_DIR points at on the device
    assert graph.propagate(["GO:0000002"]) >= {"GO:0000001", "GO:0000004"}
    assert "GO:0000003" not in graph.propagate(["GO:0000002"])  # regulates is not propagated along


def test_packing_stops_at_the_budget_with_whole_chunks(sources, tmp_path, monkeypatch):
    data, go, vocabulary = sources
    monkeypatch.setattr(payload, "CHUNK", 64)
    full = payload.pack(data, tmp_path / "full", 10**7, valid_count=10, go_dir=go, vocabulary=vocabulary)
    part = payload.pack(data, tmp_path / "part", full["bytes"] - 1, valid_count=10, go_dir=go, vocabulary=vocabulary)
    assert part["bytes"] <= full["bytes"] - 1 and part["train_proteins"] == 256  # 4 of the 5 chunks (the last holds 44)
    payload.unpack(tmp_path / "part", tmp_path / "d")
    assert len(load_split(str(tmp_path / "d" / "protein"), "train")) == 256
    with pytest.raises(ValueError, match="does not hold even the graph"):
        payload.pack(data, tmp_path / "none", 100, valid_count=10, go_dir=go, vocabulary=vocabulary)


def test_a_payload_that_lost_proteins_is_refused(sources, tmp_path, monkeypatch):
    data, go, vocabulary = sources
    monkeypatch.setattr(payload, "CHUNK", 64)
    payload.pack(data, tmp_path / "payload", 10**7, valid_count=10, go_dir=go, vocabulary=vocabulary)
    manifest = json.loads((tmp_path / "payload" / payload.MANIFEST).read_text())
    manifest["train_proteins"] += 1
    (tmp_path / "payload" / payload.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="the manifest says 301"):
        payload.unpack(tmp_path / "payload", tmp_path / "device")

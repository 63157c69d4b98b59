"""The GO graph, propagation to ancestors, and the term vocabulary with its lookups and errors."""

from __future__ import annotations

import json

import pytest

from apps.protein.alphabet import PAD_ID, VOCAB_SIZE
from apps.protein.go import (
    ROOTS,
    GoGraph,
    TermError,
    TermVocabulary,
    build_vocabulary,
    control_prefix,
    default_graph,
    term_counts,
)
from tests.protein.conftest import tiny_go_vocabulary, write_go_graph


@pytest.fixture
def graph(tmp_path) -> GoGraph:
    return GoGraph.load(write_go_graph(tmp_path / "go"))


def test_propagation_follows_is_a_and_part_of_but_not_regulates(graph):
    assert graph.ancestors("GO:0003677") == {"GO:0003677", "GO:0003676", "GO:0005488", "GO:0003674"}
    assert "GO:0016020" in graph.ancestors("GO:0016021")  # part_of membrane
    assert "GO:0006351" not in graph.ancestors("GO:0006355")  # regulates is not followed
    assert graph.propagate(["GO:0008270", "GO:0003677"]) >= {"GO:0046872", "GO:0003676", "GO:0005488"}
    assert graph.namespace("GO:0016021") == "cellular_component"
    assert graph.namespace("GO:0008270") == "molecular_function"
    assert graph.names["GO:0003677"] == "DNA binding"


def test_a_missing_graph_says_where_it_comes_from(tmp_path):
    with pytest.raises(FileNotFoundError, match="metastudent-data.*DLM_GO_DIR"):
        GoGraph.load(tmp_path / "nowhere")


def test_default_graph_reads_the_folder_in_the_environment(go_graph_dir):
    assert default_graph().names["GO:0008270"] == "zinc ion binding"


def test_vocabulary_keeps_frequent_terms_without_roots_most_frequent_first(graph):
    annotations = [["GO:0003677"]] * 6 + [["GO:0008270"]] * 3 + [[]] * 2
    counts = term_counts(annotations, graph)
    assert counts["GO:0005488"] == 9 and counts["GO:0003674"] == 9
    vocabulary = build_vocabulary(annotations, graph, first_token=VOCAB_SIZE, min_count=4)
    assert [t.id for t in vocabulary.terms] == ["GO:0005488", "GO:0003676", "GO:0003677"]
    assert not set(ROOTS) & {t.id for t in vocabulary.terms}
    assert vocabulary.term("GO:0003677").count == 6 and vocabulary.term("GO:0003677").namespace == "molecular_function"
    assert vocabulary.token("GO:0005488") == VOCAB_SIZE and vocabulary.token("GO:0003677") == VOCAB_SIZE + 2
    with pytest.raises(ValueError, match="lower min_count"):
        build_vocabulary(annotations, graph, VOCAB_SIZE, min_count=100)


def test_vocabulary_round_trips_through_its_file(tmp_path):
    vocabulary = tiny_go_vocabulary()
    path = vocabulary.save(tmp_path)
    assert json.loads(path.read_text())["slots"] == vocabulary.slots
    loaded = TermVocabulary.load(tmp_path)
    assert loaded.terms == vocabulary.terms and loaded.first_token == vocabulary.first_token
    assert (loaded.min_count, loaded.slots, loaded.source) == (vocabulary.min_count, vocabulary.slots, "tests")
    with pytest.raises(FileNotFoundError, match="not a GO-conditioned generator"):
        TermVocabulary.load(tmp_path / "elsewhere")


def test_search_by_id_prefix_by_words_and_by_close_names():
    vocabulary = tiny_go_vocabulary()
    assert [t.id for t in vocabulary.search("GO:00036")] == ["GO:0003676", "GO:0003677"]
    assert [t.name for t in vocabulary.search("zinc")] == ["zinc ion binding"]
    assert [t.name for t in vocabulary.search("ion binding metal")] == ["metal ion binding"]
    assert vocabulary.search("membrane")[0].name == "membrane"  # the shortest name first
    assert vocabulary.search("DNA bindin")[0].name == "DNA binding"
    assert vocabulary.search("zync ion binding")[0].name == "zinc ion binding"  # a typo: the closest names
    assert vocabulary.search("", limit=2) == list(vocabulary.terms[:2])


def test_unknown_terms_get_errors_that_name_known_ones(go_graph_dir):
    vocabulary = tiny_go_vocabulary()
    with pytest.raises(TermError, match=r"'DNA binding' is not a GO id.*GO:0003677 \(DNA binding\)"):
        vocabulary.check("DNA binding")
    # in GO but too rare for the vocabulary: its most specific ancestors that are in it
    with pytest.raises(TermError, match=r"GO:0006351 \(transcription, DNA-templated\) is outside") as error:
        vocabulary.check("GO:0006351")
    assert "ancestors in it: none" in str(error.value)  # its only ancestor is a root
    with pytest.raises(TermError, match="nearest known ids: GO:0000001|nearest known ids: GO:0003676"):
        vocabulary.check("GO:0000002")  # not in GO at all: the numerically nearest ids
    with pytest.raises(TermError, match="nearest known ids"):
        vocabulary.check("GO:9999999")


def test_out_of_vocabulary_term_lists_its_ancestors_in_the_vocabulary(tmp_path, monkeypatch):
    folder = write_go_graph(tmp_path / "go")
    with open(folder / "goGraph.txt", "a") as graph_file:
        graph_file.write("GO:0008270\tGO:0000003\t1\tis_a\n")  # a rare child of zinc ion binding
    with open(folder / "nameMapping.txt", "a") as names:
        names.write("GO:0000003\trare zinc binding\n")
    monkeypatch.setenv("DLM_GO_DIR", str(folder))
    with pytest.raises(TermError, match=r"ancestors in it: GO:0008270 \(zinc ion binding\), GO:0046872"):
        tiny_go_vocabulary().check("GO:0000003")


def test_control_prefix_puts_terms_first_in_vocabulary_order_then_empty_unattended_slots():
    vocabulary = tiny_go_vocabulary()
    ids, attended = vocabulary.prefix(["GO:0016021", "GO:0003677", "GO:0016021"], PAD_ID)
    assert len(ids) == vocabulary.slots == len(attended)
    assert ids[:2] == [vocabulary.token("GO:0003677"), vocabulary.token("GO:0016021")]
    assert ids[2:] == [PAD_ID] * (vocabulary.slots - 2) and attended == [True, True] + [False] * (vocabulary.slots - 2)
    assert vocabulary.prefix([], PAD_ID) == ([PAD_ID] * vocabulary.slots, [False] * vocabulary.slots)
    with pytest.raises(TermError, match="at most 2 GO terms"):
        TermVocabulary(vocabulary.terms, vocabulary.first_token, 5, slots=2).prefix(
            ["GO:0003677", "GO:0008270", "GO:0016021"], PAD_ID
        )
    with pytest.raises(ValueError, match="do not fit"):
        control_prefix([40, 41, 42], 2, PAD_ID)


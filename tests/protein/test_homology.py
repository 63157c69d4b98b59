import random

import pytest

from apps.protein.homology import TrainingSearch, relatives
from tests.conftest import requires_tool

pytestmark = requires_tool("mmseqs")

STANDARD = "ACDEFGHIKLMNPQRSTVWY"


def test_relatives_finds_a_diverged_homolog_and_not_a_stranger(tmp_path):
    rng = random.Random(0)
    target = "".join(rng.choice(STANDARD) for _ in range(200))
    diverged = "".join(rng.choice(STANDARD) if i % 3 == 0 else letter for i, letter in enumerate(target))  # ~70% identity
    stranger = "".join(rng.choice(STANDARD) for _ in range(200))
    fragment = target[:100]  # identical, but covers only half of the target
    found = relatives(
        {"diverged": diverged, "stranger": stranger, "fragment": fragment}, {"target": target},
        identity=0.3, coverage=0.8, threads=1, workdir=tmp_path,
    )  # fmt: skip
    assert found == {"diverged"}


@pytest.mark.slow
def test_training_search_finds_relatives_and_novelty_and_caches_its_database(tmp_path):
    rng = random.Random(0)
    training = ["".join(rng.choice(STANDARD) for _ in range(120)) for _ in range(30)]
    search = TrainingSearch(training, tmp_path, threads=1)
    assert (search.folder / "train.fasta").is_file()
    mutated = "".join(r if i % 10 else "W" for i, r in enumerate(training[3]))  # 90% identical
    queries = [training[0], mutated, "".join(rng.choice(STANDARD) for _ in range(120)), training[5][20:80]]
    assert search.relatives(queries, 0.3, 0.8) == {0, 1}  # the fragment covers too little of its parent
    (same, hit0), (close, hit1), (unrelated, hit2), (fragment, hit3) = search.novelty(queries)
    assert same == 1.0 and fragment == 1.0 and close == pytest.approx(0.9, abs=0.02) and unrelated < 0.5
    assert hit0 and hit1 and hit3 and not hit2
    hits = search.hits(queries)  # what novelty reads, with the training sequence each query aligned to
    assert {(h.query, h.target) for h in hits if h.evalue < 1e-3} >= {(0, 0), (1, 3), (3, 5)}
    assert max(h.identity for h in hits if h.query == 1) == close
    again = TrainingSearch(training, tmp_path, threads=1)
    assert again.folder == search.folder and [p.name for p in tmp_path.iterdir()] == [search.folder.name]

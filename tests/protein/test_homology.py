import random

from apps.protein.homology import relatives
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

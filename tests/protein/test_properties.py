from __future__ import annotations

import math
import random

import pytest

from apps.protein.alphabet import STANDARD_RESIDUES
from apps.protein.properties import composition_kl, identity, mean_pairwise_identity, novelty, properties
from tests.conftest import requires_tool

UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"


def random_protein(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(STANDARD_RESIDUES) for _ in range(length))


def mutate(rng: random.Random, sequence: str, every: int) -> str:
    """Change every `every`-th residue to another one: identity 1 - 1/every to the original."""
    return "".join(rng.choice(STANDARD_RESIDUES.replace(r, "")) if i % every == 0 else r for i, r in enumerate(sequence))


def test_properties_of_ubiquitin():
    values = properties(UBIQUITIN)
    assert values.length == 76
    assert values.molecular_weight == pytest.approx(8564.8, abs=1.0)  # UniProt P0CG48 chain: 8565 Da
    assert 6 < values.isoelectric_point < 8
    assert values.aromaticity == pytest.approx(3 / 76)  # F4, F45, Y59
    assert sum(values.composition.values()) == pytest.approx(1.0)
    flat = values.as_dict()
    assert flat["length"] == 76.0 and flat["composition_K"] == pytest.approx(7 / 76)
    assert all(isinstance(v, float) for v in flat.values()) and len(flat) == 6 + 20


def test_properties_refuse_unknown_letters():
    with pytest.raises(ValueError, match="residue 'X' at position 3"):
        properties("MKXL")
    with pytest.raises(ValueError, match="empty"):
        properties("")


def test_composition_kl():
    rng = random.Random(0)
    natural = [random_protein(rng, 100) for _ in range(20)]
    assert composition_kl(natural, natural) == pytest.approx(0.0)
    poly_a = ["A" * 100]
    assert composition_kl(poly_a, natural) > 1.0  # far from a natural mix
    # smoothing: a residue absent from the reference keeps the divergence finite
    assert math.isfinite(composition_kl(["W" * 10], ["A" * 10]))
    assert composition_kl(["W" * 10], ["A" * 10], pseudocount=0.01) > composition_kl(["W" * 10], ["A" * 10])
    with pytest.raises(ValueError, match="pseudocount"):
        composition_kl(natural, natural, pseudocount=0)


def test_identity_is_over_the_shorter_sequence():
    rng = random.Random(1)
    protein = random_protein(rng, 80)
    assert identity(protein, protein) == 1.0
    assert identity(protein[10:50], protein) == 1.0  # a fragment is not novel
    assert identity(mutate(rng, protein, 10), protein) == pytest.approx(0.9)
    assert identity(protein, random_protein(rng, 80)) < 0.35


def test_mean_pairwise_identity_all_pairs_and_capped():
    rng = random.Random(2)
    parent = random_protein(rng, 60)
    family = [mutate(rng, parent, 5) for _ in range(6)]  # each 80% identical to the parent
    unrelated = [random_protein(rng, 60) for _ in range(6)]
    assert mean_pairwise_identity(family) > 0.55
    assert mean_pairwise_identity(unrelated) < 0.35
    assert mean_pairwise_identity([parent, parent, parent]) == 1.0
    # 15 pairs: a cap of 5 draws a seeded subset
    assert mean_pairwise_identity(family, max_pairs=5, seed=3) == mean_pairwise_identity(family, max_pairs=5, seed=3)
    assert mean_pairwise_identity(family, max_pairs=5, seed=3) != mean_pairwise_identity(family, max_pairs=5, seed=4)
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_identity([parent])


def novelty_case():
    rng = random.Random(3)
    reference = [random_protein(rng, 90) for _ in range(30)]
    designs = [reference[4], reference[11][20:70], mutate(rng, reference[20], 10), random_protein(rng, 90)]
    return designs, reference


@pytest.mark.parametrize(
    "method",
    [
        "align",
        pytest.param(
            "mmseqs",
            marks=requires_tool("mmseqs"),
        ),
    ],
)
def test_novelty_finds_the_closest_reference(method):
    designs, reference = novelty_case()
    best = novelty(designs, reference, method=method)
    assert best[:3] == pytest.approx([1.0, 1.0, 0.9])
    assert best[3] < 0.35  # unrelated: no close reference (mmseqs may find no hit at all: 0.0)


def test_novelty_prefilter_keeps_the_true_neighbour():
    designs, reference = novelty_case()
    assert novelty(designs[:3], reference, method="align", top_k=1) == pytest.approx([1.0, 1.0, 0.9])


def test_novelty_errors():
    with pytest.raises(ValueError, match="method must be"):
        novelty(["ACD"], ["ACD"], method="blast")
    with pytest.raises(ValueError, match="non-empty reference"):
        novelty(["ACD"], [])

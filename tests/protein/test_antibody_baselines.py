"""The position-profile baselines for CDR and framework redesign, and the recovery and shuffled controls, on real
variable domains written here."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from apps.protein.antibody.baselines import PositionProfile, recovery, shuffled
from apps.protein.antibody.numbering import number, region_indices
from tests.protein.test_antibody_evalset import ADA_VH, ADA_VL, OKT3_VH, OKT3_VL, PEM_VH, VH, VL

HEAVY = [number(s, germline=False) for s in (VH, ADA_VH, PEM_VH, OKT3_VH)]
LIGHT = [number(s, germline=False) for s in (VL, ADA_VL, OKT3_VL)]


@pytest.fixture(scope="module")
def profile() -> PositionProfile:
    return PositionProfile.fit(HEAVY + LIGHT)


def residues_at(numbered, label: str) -> set[str]:
    return {n.sequence[n.positions.index(label)] for n in numbered if label in n.positions}


def test_where_every_reference_agrees_the_most_frequent_residue_is_theirs(profile):
    vh = HEAVY[0]
    framework = vh.framework_indices()
    agreed = [i for i in framework if residues_at(HEAVY, vh.positions[i]) == {vh.sequence[i]}]
    assert len(agreed) > 40  # the conserved framework: C23, W41, C104, the J motif WGxG, ...
    designed = profile.most_frequent(vh, framework)
    assert all(designed[i] == vh.sequence[i] for i in agreed)
    assert designed[vh.positions.index("23")] == "C" and designed[vh.positions.index("41")] == "W"


def test_the_most_frequent_residue_is_taken_per_chain(profile):
    vl = LIGHT[0]
    i = vl.positions.index("23")
    assert profile.most_frequent(vl, [i])[i] == "C"
    # position 1 is D, D, Q on the light chains; pooled with the heavy chains' E, E, Q, Q it would be Q
    assert profile.most_frequent(vl, [0])[0] == "D"


def test_only_the_given_positions_change(profile):
    vh = HEAVY[3]
    cdr3 = region_indices(vh, "cdrh3")
    designed = profile.most_frequent(vh, cdr3)
    assert len(designed) == len(vh.sequence)
    assert all(designed[i] == vh.sequence[i] for i in range(len(designed)) if i not in cdr3)


def test_a_label_never_seen_falls_back_to_its_region(profile):
    long = number(VH.replace("WGGDGFYAMDY", "WGGDGFYAMDY" + "G" * 8), germline=False)  # labels up to 111D/112D
    unseen = [i for i, p in enumerate(long.positions) if all(p not in n.positions for n in HEAVY)]
    assert unseen and all(long.regions[i] == "CDR3" for i in unseen)
    cdr3 = Counter(r for n in HEAVY for r, g in zip(n.sequence, n.regions) if g == "CDR3")
    top = min(cdr3, key=lambda r: (-cdr3[r], r))
    assert {profile.most_frequent(long, unseen)[i] for i in unseen} == {top}


def test_samples_draw_only_residues_seen_at_the_position_and_repeat_with_the_seed(profile):
    vh = HEAVY[0]
    cdrs = vh.cdr_indices()
    draws = [profile.sample(vh, cdrs, random.Random(seed)) for seed in range(20)]
    for i in cdrs:
        assert {d[i] for d in draws} <= residues_at(HEAVY, vh.positions[i])
    assert len(set(draws)) > 1
    assert draws[3] == profile.sample(vh, cdrs, random.Random(3))


def test_a_profile_without_the_chain_says_so():
    with pytest.raises(ValueError, match="no chain 'L'"):
        PositionProfile.fit(HEAVY).most_frequent(LIGHT[0], [0])


def test_recovery_counts_native_residues_at_the_given_positions():
    cdr3 = region_indices(HEAVY[0], "cdrh3")
    assert recovery(VH, VH, cdr3) == 1
    changed = VH[: cdr3[0]] + "A" * 4 + VH[cdr3[0] + 4 :]
    assert recovery(changed, VH, cdr3) == pytest.approx((len(cdr3) - sum(VH[i] != "A" for i in cdr3[:4])) / len(cdr3))
    with pytest.raises(ValueError, match="native's length"):
        recovery(VH[:-1], VH, cdr3)


def test_shuffled_permutes_only_the_given_positions():
    vh = HEAVY[0]
    cdr3 = region_indices(vh, "cdrh3")
    out = shuffled(VH, cdr3, random.Random(0))
    assert Counter(out[i] for i in cdr3) == Counter(VH[i] for i in cdr3) and out != VH
    assert all(out[i] == VH[i] for i in range(len(VH)) if i not in cdr3)
    assert out == shuffled(VH, cdr3, random.Random(0))

from __future__ import annotations

import itertools
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.protein.alphabet import ALPHABET, CLS_ID, EOS_ID, MASK_ID, PAD_ID, STANDARD_IDS, STANDARD_RESIDUES, VOCAB_SIZE
from apps.protein.motifs import Motif, from_canvas, parse_motif, parse_motifs, place, to_canvas
from shared_dlm import TokenSpec

SPEC = TokenSpec(vocab_size=VOCAB_SIZE, mask_id=MASK_ID, pad_id=PAD_ID, max_len=64)


def letters(template):
    return [None if token is None else ALPHABET.get_tok(token) for token in template]


def test_parse_fixed_and_floating():
    assert parse_motif("12:hxxh") == Motif("HXXH", 12, 15, floating=False)
    assert parse_motif(" 30-80 : CXXC ") == Motif("CXXC", 30, 80, floating=True)
    assert parse_motifs(["5:ACD,30-80:W", "2:K"]) == [
        Motif("ACD", 5, 7, False), Motif("W", 30, 80, True), Motif("K", 2, 2, False)
    ]  # fmt: skip
    assert str(parse_motif("30-80:CXXC")) == "30-80:CXXC"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("5:ACBD", "residue 'B' at motif position 3"),
        ("5:", "no residues"),
        ("ACD", "expected POS:RESIDUES"),
        ("0:A", "positions start at 1"),
        ("9-3:A", "before its start"),
        ("3-5:ACDE", "cannot fit the window 3-5"),
    ],
)
def test_parse_errors_name_the_spec(spec, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_motif(spec)
    assert repr(spec) in str(err.value)


@pytest.mark.parametrize(
    "specs, length, message",
    [
        (["9:ACD"], 10, "9:ACD: ends at position 11, past the end"),
        (["5-12:ACD"], 10, "5-12:ACD: window ends at 12, past the end"),
        (["3:ACD", "4:W"], 10, "motifs 3:ACD and 4:W disagree at position 4"),
        (["1-6:AAA", "1-6:CCC", "2:K"], 10, "no placement"),
        ([], 0, "between 1 and"),
        ([], 2000, "between 1 and 1022"),
    ],
)
def test_invalid_designs(specs, length, message):
    with pytest.raises(ValueError, match=message):
        place(parse_motifs(specs), length, random.Random(0))


def test_agreeing_fixed_overlaps_are_merged():
    placement = place(parse_motifs(["3:ACD", "4:CX", "5:XD"]), 8, random.Random(0))
    assert letters(placement.template) == [
        None, None, "A", "C", "D", "D", None, None
    ]  # fmt: skip


def test_x_positions_allow_any_standard_residue_and_forbid_applies_to_free_positions():
    placement = place(parse_motifs(["2:CXC"]), 5, random.Random(0), forbid="c", allowed_at={5: "DE"})
    allowed = placement.allowed
    standard = torch.zeros(VOCAB_SIZE, dtype=torch.bool)
    standard[list(STANDARD_IDS)] = True
    cys = ALPHABET.get_idx("C")
    assert placement.template[1] == cys and placement.template[2] is None
    assert torch.equal(allowed[2], standard)  # the X keeps C
    assert not allowed[0, cys] and allowed[0].sum() == 19  # a free position loses C
    assert allowed[4].nonzero().flatten().tolist() == sorted(ALPHABET.get_idx(r) for r in "DE")
    assert not allowed[:, [CLS_ID, EOS_ID, MASK_ID, PAD_ID]].any()


def test_floating_motifs_respect_allowed_at_and_forbid_errors():
    placement = place(parse_motifs(["1-10:W"]), 10, random.Random(0), allowed_at={p: "A" for p in range(1, 10)})
    assert placement.starts == (10,)
    with pytest.raises(ValueError, match="forbid='CB'"):
        place([], 5, random.Random(0), forbid="CB")
    with pytest.raises(ValueError, match="leave no residue"):
        place([], 3, random.Random(0), forbid=STANDARD_RESIDUES)
    with pytest.raises(ValueError, match="allowed_at excludes"):
        place(parse_motifs(["2:C"]), 3, random.Random(0), allowed_at={2: "A"})


def test_floating_placement_is_seeded_and_uniform():
    motifs = parse_motifs(["1-10:AC"])  # 9 offsets
    starts = [place(motifs, 10, torch.Generator().manual_seed(s)).starts[0] for s in range(900)]
    counts = [starts.count(s) for s in range(1, 10)]
    assert min(counts) > 60 and max(counts) < 140
    first, again = place(motifs, 10, random.Random(7)), place(motifs, 10, random.Random(7))
    assert first.starts == again.starts and first.template == again.template


def test_search_finds_the_only_placement_rejection_misses():
    # four floating motifs that fill 20 positions exactly: 24 valid joint placements of 16**4
    motifs = parse_motifs(["1-20:AAAAA", "1-20:CCCCC", "1-20:DDDDD", "1-20:EEEEE"])
    placement = place(motifs, 20, random.Random(0))
    assert sorted(placement.starts) == [1, 6, 11, 16]


def test_canvas_layouts():
    placement = place(parse_motifs(["2:HXH"]), 6, random.Random(0), forbid="C")
    esm = to_canvas(placement, SPEC, batch=3)
    assert esm.shape == (3, 8)
    assert esm.ids[0].tolist()[:5] == [CLS_ID, MASK_ID, ALPHABET.get_idx("H"), MASK_ID, ALPHABET.get_idx("H")]
    assert esm.ids[0, -1] == EOS_ID and esm.fixed[:, [0, 2, 4, 7]].all() and not esm.fixed[:, 3].any()
    assert esm.allowed.shape == (8, VOCAB_SIZE) and esm.allowed[0, CLS_ID] and esm.allowed[7, EOS_ID]
    plain = to_canvas(placement, TokenSpec(vocab_size=40, mask_id=MASK_ID, pad_id=PAD_ID, max_len=6), specials=False)
    assert plain.shape == (1, 6) and plain.allowed.shape == (6, 40) and not plain.allowed[:, VOCAB_SIZE:].any()
    filled = esm.clone()
    filled.ids[filled.ids == MASK_ID] = ALPHABET.get_idx("G")
    assert from_canvas(filled) == ["GHGHGG"] * 3
    assert placement.recovery("GHGHGG") == 1.0 and placement.recovery("GHGAGG") == 0.5


def test_canvas_longer_than_the_model_is_refused():
    placement = place([], 63, random.Random(0))
    with pytest.raises(ValueError, match="exceeds the model's maximum of 64"):
        to_canvas(placement, SPEC)  # 63 residues + cls + eos


@st.composite
def designs(draw):
    length = draw(st.integers(5, 60))
    letters = st.sampled_from(STANDARD_RESIDUES + "X")
    specs = []
    for _ in range(draw(st.integers(0, 3))):  # fixed motifs, possibly overlapping; dropped if they disagree
        size = draw(st.integers(1, min(6, length)))
        start = draw(st.integers(1, length - size + 1))
        specs.append(f"{start}:{''.join(draw(st.lists(letters, min_size=size, max_size=size)))}")
    for _ in range(draw(st.integers(0, 3))):
        size = draw(st.integers(1, min(6, length)))
        start = draw(st.integers(1, length - size + 1))
        end = draw(st.integers(start + size - 1, length))
        specs.append(f"{start}-{end}:{''.join(draw(st.lists(letters, min_size=size, max_size=size)))}")
    return specs, length, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=300, deadline=None)
@given(designs())
def test_every_placement_keeps_every_motif(design):
    specs, length, seed = design
    motifs = parse_motifs(specs)
    try:
        placement = place(motifs, length, random.Random(seed))
    except ValueError as err:  # disagreeing fixed motifs or no room: a clear refusal, never a bad design
        assert "disagree" in str(err) or "no offset" in str(err) or "no placement" in str(err)
        return
    template = placement.template
    for motif, start in zip(placement.motifs, placement.starts):
        if motif.floating:
            assert motif.start <= start and start + len(motif.residues) - 1 <= motif.end
        else:
            assert start == motif.start
        for i, residue in enumerate(motif.residues):
            token = template[start - 1 + i]
            if residue == "X":
                assert placement.allowed[start - 1 + i, list(STANDARD_IDS)].any()
            else:
                assert token == ALPHABET.get_idx(residue)
                assert placement.allowed[start - 1 + i].nonzero().flatten().tolist() == [token]
    floating = sorted((s, len(m.residues)) for m, s in zip(placement.motifs, placement.starts) if m.floating)
    fixed_positions = {m.start + i for m in placement.motifs if not m.floating for i in range(len(m.residues))}
    for s, n in floating:
        assert not fixed_positions & set(range(s, s + n))
    assert all(a + n <= b for (a, n), (b, _) in itertools.pairwise(floating))
    canvas = to_canvas(placement, TokenSpec(VOCAB_SIZE, MASK_ID, PAD_ID, max_len=length + 2), batch=2)
    assert canvas.fixed.sum(1).tolist() == [sum(t is not None for t in template) + 2] * 2


def test_forbid_is_upper_cased_as_ascii_only():  # 'ß'.upper() is 'SS': it would have forbidden S
    with pytest.raises(ValueError, match="'ß' is not a standard amino acid"):
        place([], 10, random.Random(0), forbid="ß")

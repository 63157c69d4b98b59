"""`infill` with a tiny random model: candidates ranked parses-first, context kept, seeds reproduce, errors for people."""

import importlib
import math

import pytest
import torch

import apps.code
from apps.code.grammars import parses, tree_sitter_parses
from apps.code.infill import (
    Candidate,
    ContextTruncatedWarning,
    HoleCanvas,
    InfillConfig,
    candidate_rank,
    heal_whitespace,
    hole_canvas,
    hole_vocabulary,
    infill,
    ranked_candidates,
    resolve_model,
    trained_slots,
)
from shared_dlm import Canvas, SamplerConfig, generate, load

from .infill_helpers import tiny_model_folder, tiny_tokenizer

# A hole inside a comment: most fillings parse, those with a line break mostly do not.
PREFIX = "def total(values):\n    # "
SUFFIX = "\n    return sum(values)\n"
FAST = {"num": 3, "lengths": (4, 8), "steps": 10}  # InfillConfig settings


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tokenizer):
    return tiny_model_folder(tmp_path_factory.mktemp("model") / "tiny", tokenizer)


@pytest.fixture(scope="module")
def loaded(folder):
    return load(folder)


def test_candidates_are_strings_ranked_parses_first(loaded):
    candidates = infill(PREFIX, SUFFIX, config=InfillConfig(temperature=1.0, **FAST), model=loaded)
    assert 1 <= len(candidates) <= FAST["num"]
    assert len({c.text for c in candidates}) == len(candidates)
    keys = [candidate_rank(c) for c in candidates]
    assert keys == sorted(keys, reverse=True)
    for c in candidates:
        assert isinstance(c.text, str) and c.slots in FAST["lengths"] and 0 <= c.length <= c.slots
        assert c.parses == parses(PREFIX + c.text + SUFFIX, "python")
        assert math.isnan(c.score) if c.length == 0 else c.score <= 0
        assert not any(token in c.text for token in ("<mask>", "<pad>", "<bos>", "<eos>", "<eoi>"))


def test_blank_candidates_rank_after_any_code():
    blank = Candidate("    \n", True, -0.05, 2, 8)  # parses and is confident, but fills nothing
    empty = Candidate("", True, math.nan, 0, 8)
    broken = Candidate("return (", False, -2.5, 3, 8)
    code = Candidate("return x", True, -1.5, 2, 8)
    assert sorted([blank, empty, broken, code], key=candidate_rank, reverse=True) == [code, broken, blank, empty]


def test_a_candidate_python_accepts_ranks_before_a_likelier_one_only_tree_sitter_accepts(tokenizer):
    """Row 0 over-indents its line (tree-sitter-python accepts it, Python does not) and scores higher."""
    prefix, suffix = "def f(x):\n    y = x\n", "\n"
    texts = ["        return y", "    return y"]
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [tokenizer.eoi_token_id] * (width - len(r)) for r in rows])
    out = Canvas(ids, torch.zeros_like(ids, dtype=torch.bool), logp=torch.tensor([[-0.1] * width, [-2.0] * width]))
    made = HoleCanvas(out, slice(0, width), [width, width], False, prefix)
    first, second = ranked_candidates(made, out, tokenizer, prefix, suffix, "python")
    assert (first.text, first.parses) == ("    return y", True) and (second.text, second.parses) == (texts[0], False)
    assert tree_sitter_parses(prefix + texts[0] + suffix, "python") and first.score < second.score


def test_parsing_candidates_come_before_the_others(loaded):
    everything = infill(
        PREFIX, SUFFIX, config=InfillConfig(num=8, lengths=(4, 16), steps=20, temperature=1.0, seed=3), model=loaded
    )
    flags = [c.parses for c in everything]
    assert True in flags and flags == sorted(flags, reverse=True)


def test_a_seed_reproduces_the_candidates(loaded, folder):
    first = infill(PREFIX, SUFFIX, config=InfillConfig(seed=7, **FAST), model=loaded)
    assert infill(PREFIX, SUFFIX, config=InfillConfig(seed=7, **FAST), model=str(folder)) == first
    unmasked = InfillConfig(seed=7, syntax_remask=False, **FAST)
    assert infill(PREFIX, SUFFIX, config=unmasked, model=loaded)  # runs without remasking too
    assert infill(PREFIX, SUFFIX, config=InfillConfig(seed=8, temperature=1.0, **FAST), model=loaded) != first


def test_the_canvas_keeps_the_context_and_tries_each_length(loaded, tokenizer):
    spec = loaded.model.spec
    made = hole_canvas(tokenizer, spec, PREFIX, SUFFIX, [4, 8], 2)
    canvas = made.canvas
    assert made.lengths == [4, 4, 8, 8] and made.hole.stop - made.hole.start == 8 and not made.truncated
    lead = made.lead  # PREFIX ends in a space, which the hole's first slot holds
    assert lead == 1 and made.prefix == PREFIX[:-1]
    assert tokenizer.decode(canvas.ids[0, 1 : made.hole.start + lead]) == PREFIX
    assert tokenizer.decode(canvas.ids[0, made.hole.stop : -1]) == SUFFIX
    free = ~canvas.fixed
    assert free[:, made.hole].sum(-1).tolist() == [n - lead for n in made.lengths]
    assert not free[:, : made.hole.start + lead].any()
    assert (canvas.ids[:2, made.hole.start + 4 : made.hole.stop] == tokenizer.eoi_token_id).all()
    out = generate(loaded.model, canvas, SamplerConfig(steps=8), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.ids[canvas.fixed], canvas.ids[canvas.fixed])
    allowed = hole_vocabulary(tokenizer, spec.vocab_size)
    assert allowed[out.ids[free]].all() and allowed[tokenizer.eoi_token_id]
    specials = [tokenizer.mask_token_id, tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id,
                tokenizer.unk_token_id, tokenizer.expand_token_id]  # fmt: skip
    assert not allowed[specials].any()
    first = made.hole.start + lead  # no training middle is empty: the first free slot never holds <eoi>
    assert not canvas.allowed[first, tokenizer.eoi_token_id] and canvas.allowed[first + 1, tokenizer.eoi_token_id]
    assert (out.ids[:, first] != tokenizer.eoi_token_id).all()
    loose = hole_canvas(tokenizer, spec, PREFIX, SUFFIX, [4, 8], 1, min_tokens=0).canvas
    assert loose.allowed[first, tokenizer.eoi_token_id]
    with pytest.raises(ValueError, match="min_tokens must lie between 0 and the fewest slots tried \\(4\\)"):
        hole_canvas(tokenizer, spec, PREFIX, SUFFIX, [4, 8], 1, min_tokens=5)


def test_blocks_fill_the_hole_left_to_right(loaded):
    records = []
    candidates = infill(
        PREFIX, SUFFIX, config=InfillConfig(num=1, lengths=(8,), steps=8, block_length=4, syntax_remask=False),
        model=loaded, trace=records.append,
    )  # fmt: skip
    assert candidates
    committed = torch.stack([r.committed[0] for r in records])  # (steps, L)
    positions = committed.any(0).nonzero()[:, 0]
    first_step = committed.float().argmax(0)[positions]
    blocks = {}
    for position, step in zip(positions.tolist(), first_step.tolist()):
        blocks.setdefault((position - int(positions[0])) // 4, []).append(step)  # blocks start at the hole
    spans = [blocks[k] for k in sorted(blocks)]
    assert len(spans) >= 2 and all(max(a) < min(b) for a, b in zip(spans, spans[1:]))
    assert infill(PREFIX, SUFFIX, config=InfillConfig(num=1, lengths=(8,), steps=8, block_length=0), model=loaded)
    one_step = InfillConfig(num=1, lengths=(8,), steps=1)
    assert infill(PREFIX, SUFFIX, config=one_step, model=loaded)  # one block of 8: widened to fit
    with pytest.raises(ValueError, match="block_length must be positive"):
        InfillConfig(block_length=-1)


def test_cached_context_fills_the_hole_on_cached_steps(loaded):
    runs = {}
    for cache in (False, True):
        records = []
        config = InfillConfig(cache=cache, **FAST)
        candidates = infill(PREFIX, SUFFIX, config=config, model=loaded, trace=records.append)
        assert candidates and all(isinstance(c.text, str) for c in candidates)
        runs[cache] = [r.cached for r in records]
    assert not any(runs[False])
    assert runs[True][0] is False and any(runs[True])


def test_long_context_is_cut_with_a_warning_and_big_holes_are_refused(tmp_path, tokenizer):
    small = load(tiny_model_folder(tmp_path / "small", tokenizer, max_len=48))
    long_prefix = "".join(f"x{i} = {i}\n" for i in range(60)) + "y = "
    with pytest.warns(ContextTruncatedWarning, match="window of 48 tokens"):
        candidates = infill(long_prefix, "\n", config=InfillConfig(num=1, lengths=(4,), steps=4), model=small)
    assert candidates and isinstance(candidates[0].text, str)
    with pytest.raises(ValueError, match="does not fit the model's window of 48"):
        infill("x = ", "\n", config=InfillConfig(lengths=(47,)), model=small)


def test_default_lengths_stop_at_the_slots_the_model_was_trained_with(tmp_path, tokenizer):
    folder = tiny_model_folder(tmp_path / "small", tokenizer, max_len=128)
    assert trained_slots(folder, 128) == 64  # no record: half the window
    (folder / "infill.json").write_text('{"seq_len": 128, "max_slots": 20}')
    assert trained_slots(folder, 128) == 20
    candidates = infill("x = ", "\n", config=InfillConfig(num=2, steps=4, temperature=1.0), model=str(folder))
    assert candidates and all(c.slots in (8, 16) for c in candidates)  # 32 and 64 are left out
    (folder / "infill.json").write_text('{"seq_len": 128}')
    with pytest.raises(ValueError, match="infill.json: not a record of infilling settings"):
        infill("x = ", "\n", config=InfillConfig(num=1, steps=2), model=str(folder))


@pytest.mark.parametrize("prefix", ["def f(x):\n    ", "def f(x):\n    return ", "x = 1\n\t"])
def test_whitespace_the_prefix_ends_in_is_healed_into_the_hole(loaded, tokenizer, prefix):
    spec = loaded.model.spec
    made = hole_canvas(tokenizer, spec, prefix, "\n", [4, 8], 2)
    whitespace = prefix[len(prefix.rstrip(" \t")) :]
    assert made.prefix == prefix.rstrip(" \t") and made.healing.whitespace == whitespace
    lead = made.lead  # the whitespace's tokens but its last piece, fixed at the hole's start
    shown = tokenizer.decode(made.canvas.ids[0, 1 : made.hole.start + lead])
    assert shown == made.prefix + tokenizer.decode(made.healing.lead)
    assert made.canvas.fixed[:, made.hole.start : made.hole.start + lead].all()
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    rest = whitespace[len(tokenizer.decode(made.healing.lead)) :]
    nxt = made.canvas.allowed[made.hole.start + lead, : len(tokenizer)]
    assert nxt.any() and all(texts[i].startswith(rest) and texts[i][len(rest)].strip() for i in nxt.nonzero().flatten())
    for candidate in infill(prefix, "\n", config=InfillConfig(temperature=1.0, **FAST), model=loaded):
        assert candidate.text[:1].strip(), "a candidate starts with code, right at the cursor"
        assert candidate.parses == parses(prefix + candidate.text + "\n", "python")
    assert hole_canvas(tokenizer, spec, "x = 1\n", "\n", [4, 8], 1).healing is None  # nothing to heal
    assert hole_canvas(tokenizer, spec, prefix, "\n", [1, 8], 1).healing is None  # no room before the fewest slots


def test_the_shipped_tokenizer_heals_indentation_as_its_lines_are_tokenized():
    tokenizer = load(apps.code.SHIPPED_MODEL).tokenizer
    healing = heal_whitespace(tokenizer, "def f(x):\n        ", len(tokenizer))
    assert healing.prefix == "def f(x):\n" and tokenizer.decode(healing.lead) == " " * 7  # then " return", as in a line
    ids = {text: tokenizer(text, add_special_tokens=False)["input_ids"] for text in (" return", "return", " ", "\n")}
    assert len(ids[" return"]) == 1 and healing.next_allowed[ids[" return"][0]]
    assert not any(healing.next_allowed[ids[text][0]] for text in ("return", " ", "\n"))
    assert heal_whitespace(tokenizer, "x = 1\n", len(tokenizer)) is None


def test_errors_name_the_problem(loaded, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("apps.code.infill"), "registered_names", lambda: [])  # a checkout without the shipped model
    with pytest.raises(ValueError, match="unknown language 'cobol'; known: c, go, java, javascript, python, rust"):
        infill("x = ", "\n", "cobol", model=loaded)
    with pytest.raises(ValueError, match="empty model path"):
        infill("x = ", "\n", model="")
    with pytest.raises(FileNotFoundError, match="no default code model is shipped yet.*model=PATH"):
        infill("x = ", "\n")
    with pytest.raises(FileNotFoundError, match="no model folder"):
        infill("x = ", "\n", model=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown sampler"):
        infill("x = ", "\n", config=InfillConfig(sampler="beam"), model=loaded)
    with pytest.raises(ValueError, match="num must be at least 1"):
        InfillConfig(num=0)
    with pytest.raises(ValueError, match=r"lengths must be positive numbers of tokens, got \[0, 8\]"):
        InfillConfig(lengths=[8, 0])
    with pytest.raises(ValueError, match="device='meta'"):
        resolve_model(loaded, device="meta")

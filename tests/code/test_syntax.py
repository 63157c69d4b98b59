"""The syntax remasker on hand-made broken and correct code in six languages, and inside `generate`; for Python
the interpreter's parser too, where tree-sitter accepts indentation Python rejects."""

import ast
import math
import random

import pytest
import torch

from apps.code.grammars import GRAMMARS, find_errors, get_grammar, grammar_for_path, parses, tree_sitter_parses
from apps.code.syntax import SyntaxRemasker, rank_key
from apps.code.tokenizer import TokenizerConfig, train_tokenizer
from shared_dlm import Canvas, SamplerConfig, Trace, char_tokenizer, generate
from tests.conftest import tiny_denoiser

CORPUS = [
    "def f(x):\n    return x + 1\n\n\nclass A:\n    pass\n",
    "function f(x) {\n  return x + 1;\n}\n",
    "package main\n\nfunc f(x int) int {\n\treturn x + 1\n}\n",
    "fn f(x: i32) -> i32 {\n    x + 1\n}\n",
    "class A {\n  int f(int x) {\n    return x + 1;\n  }\n}\n",
    "int f(int x) {\n  return x + 1;\n}\n",
]

# language: (prefix, broken hole, the text it must blame, a correct hole, suffix)
SNIPPETS = {
    "python": ("def f(x):\n    return ", "x +* 1", "+*", "x * 1", "\n"),
    "javascript": ("function f(x) {\n  return ", "x +* 1", "+", "x * 1", ";\n}\n"),
    "go": ("package main\n\nfunc f(x int) int {\n\treturn ", "x + ) 1", ")", "x + (1)", "\n}\n"),
    "rust": ("fn f(x: i32) -> i32 {\n    ", "x + ) 1", ")", "x + (1)", "\n}\n"),
    "java": ("class A {\n  int f(int x) {\n    return ", "x +* 1", "+", "x * 1", ";\n  }\n}\n"),
    "c": ("int f(int x) {\n  return ", "x + ) 1", ")", "x + (1)", ";\n}\n"),
}


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS * 3, TokenizerConfig(vocab_size=300))


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def infill(tokenizer, prefix, holes, suffix, language="python", margin=0, pending=()):
    """A canvas of fixed prefix tokens, one hole per row (`<eoi>` fills the shorter ones) and fixed suffix
    tokens; `pending` hole indices hold the mask. Returns (remasker, canvas, hole slice, remasked (B, L))."""
    p, s = encode(tokenizer, prefix), encode(tokenizer, suffix)
    rows = [encode(tokenizer, hole) for hole in holes]
    width = max(len(r) for r in rows)
    for row in rows:
        row += [tokenizer.eoi_token_id] * (width - len(row))
        for i in pending:
            row[i] = tokenizer.mask_token_id
    ids = torch.tensor([p + row + s for row in rows])
    hole = slice(len(p), len(p) + len(rows[0]))
    fixed = torch.ones_like(ids, dtype=torch.bool)
    fixed[:, hole] = False
    remasker = SyntaxRemasker(prefix, suffix, language, tokenizer, hole, margin=margin)
    return remasker, Canvas(ids, fixed), hole, remasker(Canvas(ids, fixed), step=0)


def remasked_text(tokenizer, canvas, out, row=0) -> str:
    return "".join(tokenizer.decode([int(canvas.ids[row, i])]) for i in out[row].nonzero().flatten())


def test_blames_the_bad_operator_and_spares_the_good_tokens(tokenizer):
    remasker, canvas, hole, out = infill(tokenizer, "def f(x):\n    return ", ["x +* 1"], "\n")
    text = remasked_text(tokenizer, canvas, out)
    assert "+" in text and "*" in text and "x" not in text and "1" not in text
    assert not out[0, : hole.start].any() and not out[0, hole.stop :].any()
    assert {r.position for r in remasker.last_reasons} == set(out[0].nonzero().flatten().tolist())
    assert all(r.kind == "ERROR" and r.step == 0 and r.row == 0 for r in remasker.last_reasons)


def test_a_correct_hole_remasks_nothing(tokenizer):
    remasker, _, _, out = infill(tokenizer, "def f(x):\n    return ", ["x + 1"], "\n", margin=2)
    assert not out.any() and remasker.last_reasons == []


def test_errors_of_the_context_alone_remask_nothing(tokenizer):
    broken_prefix = "def g(:\n    pass\n\n\ndef f(x):\n    return "
    _, _, _, out = infill(tokenizer, broken_prefix, ["x + 1"], "\n", margin=2)
    assert not out.any()
    _, _, _, out = infill(tokenizer, "def f(x):\n    return ", ["x + 1"], "\n\n\ndef g(:\n    pass\n", margin=2)
    assert not out.any()
    # the same broken prefix does not hide an error the hole makes elsewhere
    _, canvas, _, out = infill(tokenizer, broken_prefix, ["x +* 1"], "\n")
    assert "*" in remasked_text(tokenizer, canvas, out)


def test_a_string_opened_in_the_hole_is_blamed_whatever_follows(tokenizer):
    """Only the top-level item around the hole is re-parsed; later items change nothing."""
    prefix = "def f(x):\n    return "
    for suffix in ("\n", "\n\n\ndef g():\n    return 1\n\n\nclass A:\n    s = 'text'\n"):
        _, canvas, _, out = infill(tokenizer, prefix, ["'''x + 1"], suffix)
        assert remasked_text(tokenizer, canvas, out) == "'''"


def test_an_error_at_the_insertion_point_is_the_holes(tokenizer):
    """`x = ` with an empty hole is broken; the hole must supply the expression, so it is judged."""
    _, canvas, _, out = infill(tokenizer, "x = ", ["* *"], "\n")
    assert remasked_text(tokenizer, canvas, out).count("*") == 2


def test_missing_nodes_are_found(tokenizer):
    source = b"function f(x) {\n  return (x + 1;\n}\n"
    (problem,) = find_errors(source, "javascript")
    assert problem.kind == "MISSING )" and problem.end - problem.start == 2  # widened around the gap
    assert source[problem.start : problem.end] == b"1;"
    remasker, canvas, _, out = infill(tokenizer, "function f(x) {\n  return ", ["(x + 1"], ";\n}\n", "javascript")
    assert remasked_text(tokenizer, canvas, out).strip() == "1"
    assert remasker.last_reasons[0].kind == "MISSING )"


def test_an_unclosed_parenthesis_in_python_blames_it(tokenizer):
    _, canvas, _, out = infill(tokenizer, "def f(x):\n    return ", ["g(x, 1"], "\n")
    assert "(" in remasked_text(tokenizer, canvas, out)


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_each_language_blames_its_broken_snippet_only(tokenizer, language):
    prefix, bad, culprit, good, suffix = SNIPPETS[language]
    assert parses(prefix + good + suffix, language)
    assert not parses(prefix + bad + suffix, language)
    _, canvas, _, out = infill(tokenizer, prefix, [bad], suffix, language)
    text = remasked_text(tokenizer, canvas, out)
    assert culprit in text and "x" not in text and "1" not in text
    _, _, _, out = infill(tokenizer, prefix, [good], suffix, language, margin=2)
    assert not out.any()


def test_rows_are_judged_separately(tokenizer):
    _, _, _, out = infill(tokenizer, "def f(x):\n    return ", ["x +* 1", "x * (1)"], "\n")
    assert out[0].any() and not out[1].any()


@pytest.mark.parametrize("hole", [") x + 1", "x + 1 +"])
def test_the_margin_stays_inside_the_hole(tokenizer, hole):
    _, _, span, out = infill(tokenizer, "def f(x):\n    return ", [hole], "\n", margin=5)
    assert out[0, span].any()
    assert not out[0, : span.start].any() and not out[0, span.stop :].any()


def test_the_margin_widens_the_blame(tokenizer):
    _, _, _, narrow = infill(tokenizer, "def f(x):\n    return ", ["x +* 1"], "\n", margin=0)
    _, _, _, wide = infill(tokenizer, "def f(x):\n    return ", ["x +* 1"], "\n", margin=1)
    assert narrow[0].sum() < wide[0].sum() and (wide[0] | narrow[0]).equal(wide[0])


def test_fixed_positions_are_never_returned(tokenizer):
    remasker, canvas, _, out = infill(tokenizer, "def f(x):\n    return ", ["x +* 1"], "\n", margin=1)
    blamed = out[0].nonzero().flatten()
    canvas.fixed[0, blamed[0]] = True
    again = remasker(canvas, step=1)
    assert not again[0, blamed[0]] and again[0].sum() == out[0].sum() - 1
    assert all(r.position != int(blamed[0]) for r in remasker.last_reasons)


def test_end_of_infill_tokens_add_no_text(tokenizer):
    p = encode(tokenizer, "def f(x):\n    return ")
    hole = encode(tokenizer, "x + 1") + [tokenizer.eoi_token_id] * 3
    ids = torch.tensor([p + hole + encode(tokenizer, "\n")])
    fixed = torch.ones_like(ids, dtype=torch.bool)
    fixed[0, len(p) : len(p) + len(hole)] = False
    remasker = SyntaxRemasker("def f(x):\n    return ", "\n", "python", tokenizer, ~fixed[0], margin=2)
    assert not remasker(Canvas(ids, fixed), 0).any()


def test_a_hole_still_masked_is_judged_only_on_its_settled_lines(tokenizer):
    # text cut short is not an error: `foo(1,` may still be closed
    _, _, _, out = infill(tokenizer, "def f(x):\n    ", ["y = foo(1, 2"], "\n", pending=(-1,))
    assert not out.any()
    # but an extra `)` on a line that is over cannot be repaired by what follows
    hole = "y = (1))\n    z = 2\n    w = 3"
    _, canvas, _, out = infill(tokenizer, "def f(x):\n    ", [hole], "\n", pending=(-1,))
    assert remasked_text(tokenizer, canvas, out) == ")"
    assert not (out[0] & (canvas.ids[0] == tokenizer.mask_token_id)).any()


def test_incremental_parses_agree_with_fresh_ones(tokenizer):
    """One remasker fed a row that changes step by step blames what a new remasker blames on each state."""
    prefix, suffix = "def f(x):\n    ", "\n    return y\n"
    base = encode(tokenizer, "y = (x + 1) * 2\n    z = [y, y]")
    vocab = [t for t in range(len(tokenizer)) if t not in tokenizer.all_special_ids] + [tokenizer.eoi_token_id]
    rng = random.Random(0)
    p, s = encode(tokenizer, prefix), encode(tokenizer, suffix)
    hole = slice(len(p), len(p) + len(base))
    fixed = torch.ones(1, len(p) + len(base) + len(s), dtype=torch.bool)
    fixed[0, hole] = False
    running = SyntaxRemasker(prefix, suffix, "python", tokenizer, hole, margin=1)
    row = list(base)
    for step in range(40):
        row[rng.randrange(len(row))] = rng.choice(vocab + [tokenizer.mask_token_id] * 5 + base)
        canvas = Canvas(torch.tensor([p + row + s]), fixed)
        fresh = SyntaxRemasker(prefix, suffix, "python", tokenizer, hole, margin=1)
        assert running(canvas, step).equal(fresh(canvas, step))
        assert running.last_reasons == fresh.last_reasons


def test_generate_keeps_the_context_and_remasks_broken_steps(tokenizer):
    torch.manual_seed(0)
    prefix, suffix = "def f(x):\n    return ", "\n"
    p, s = encode(tokenizer, prefix), encode(tokenizer, suffix)
    width = 8
    model = tiny_denoiser(len(tokenizer), tokenizer.mask_token_id, tokenizer.pad_token_id, 64, num_hidden_layers=1)
    canvas = Canvas.from_template(p + [None] * width + s, model.spec, batch=2)
    hole = slice(len(p), len(p) + width)
    remasker = SyntaxRemasker(prefix, suffix, "python", tokenizer, hole, margin=1)
    reasons = []

    def recording(canvas, step):
        out = remasker(canvas, step)
        reasons.extend(remasker.last_reasons)
        return out

    trace = Trace()
    out = generate(
        model,
        canvas,
        SamplerConfig(steps=24),
        remasker=recording,
        trace=trace,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.ids[:, : hole.start].equal(canvas.ids[:, : hole.start])
    assert out.ids[:, hole.stop :].equal(canvas.ids[:, hole.stop :])
    assert not (out.ids == tokenizer.mask_token_id).any()
    hook = torch.stack([record.hook_remasked for record in trace])  # (steps, B, L)
    assert hook.any(), "a random denoiser writes broken code: some step must be sent back"
    assert not hook[..., : hole.start].any() and not hook[..., hole.stop :].any()
    assert {(r.step, r.row, r.position) for r in reasons} == {tuple(i) for i in hook.nonzero().tolist()}


def test_rank_key_puts_parsing_candidates_first_and_blank_ones_last():
    candidates = [(False, -0.1), (True, -2.0), (True, -1.0), (True, math.nan)]
    ranked = sorted(candidates, key=lambda c: rank_key(*c), reverse=True)
    assert ranked[:2] == [(True, -1.0), (True, -2.0)] and ranked[-1] == (False, -0.1)
    blank = (True, -0.01, True)  # whitespace that parses and the model is sure of: still after any code
    assert sorted([blank, (False, -3.0, False)], key=lambda c: rank_key(*c), reverse=True)[-1] == blank


def test_registry_and_errors_for_people(tokenizer):
    assert set(GRAMMARS) == {"python", "javascript", "go", "rust", "java", "c"}
    assert grammar_for_path("src/main.rs").name == "rust" and grammar_for_path("a/B.JAVA").name == "java"
    with pytest.raises(ValueError, match="unknown language 'cobol'; known: c, go, java"):
        get_grammar("cobol")
    with pytest.raises(ValueError, match=r"cannot tell the language of 'notes.txt'.*\.py"):
        grammar_for_path("notes.txt")
    with pytest.raises(ValueError, match="unknown language"):
        SyntaxRemasker("", "", "cobol", tokenizer, slice(0, 4))
    gappy = torch.tensor([False, True, False, True])
    with pytest.raises(ValueError, match="one run of consecutive positions"):
        SyntaxRemasker("", "", "python", tokenizer, gappy)
    with pytest.raises(ValueError, match="byte-level BPE"):
        SyntaxRemasker("", "", "python", char_tokenizer(["<mask>", "<pad>", "a", " "]), slice(0, 4))


# Indentation tree-sitter-python accepts and Python rejects (issue 27): (prefix, hole, suffix).
INDENTATION = {
    "over-indented line": ("def f(x):\n    y = x\n", "        return y", "\n"),
    "under-indented return": ("def f(x):\n    if x:\n        y = 1\n", "  return y", "\n"),
    "unindented body": ("def f(x):\n", "return x", "\n"),
}


@pytest.mark.parametrize("case", sorted(INDENTATION))
def test_python_parses_only_what_the_interpreter_accepts(case):
    prefix, hole, suffix = INDENTATION[case]
    text = prefix + hole + suffix
    assert tree_sitter_parses(text, "python")  # the gap: tree-sitter alone calls it valid
    with pytest.raises(SyntaxError):
        ast.parse(text)
    assert not parses(text, "python")
    (problem,) = find_errors(text.encode(), "python")
    assert problem.kind.startswith("IndentationError") and text.encode()[problem.start : problem.end] == (hole + suffix).encode()


@pytest.mark.parametrize("case", sorted(INDENTATION))
def test_an_indentation_error_in_the_hole_sends_its_line_back(tokenizer, case):
    prefix, hole, suffix = INDENTATION[case]
    remasker, canvas, _, out = infill(tokenizer, prefix, [hole], suffix)
    assert remasked_text(tokenizer, canvas, out).strip() == hole.strip()
    assert remasker.last_reasons and all(r.kind.startswith("IndentationError") for r in remasker.last_reasons)


def test_a_python_error_clear_of_the_hole_remasks_nothing(tokenizer):
    """The suffix's over-indented line is the user's: tree-sitter does not see it, Python does, and neither blames the hole."""
    prefix, suffix = "def f(x):\n    y = ", "\n    return y\n\n\ndef g():\n    a = 1\n        b = 2\n"
    assert tree_sitter_parses(prefix + "x + 1" + suffix, "python") and not parses(prefix + "x + 1" + suffix, "python")
    _, _, _, out = infill(tokenizer, prefix, ["x + 1"], suffix, margin=2)
    assert not out.any()


def test_python_judges_only_rows_without_pending_slots(tokenizer):
    """A row still holding a mask is text cut short: Python's parser would call its open bracket an error."""
    prefix, hole = "def f(x):\n    y = ", "g(x,\n      1)"
    last = len(encode(tokenizer, hole)) - 1
    assert tokenizer.decode(encode(tokenizer, hole)[last]) == ")"
    assert not parses(prefix + hole[:-1] + "\n", "python")
    _, _, _, out = infill(tokenizer, prefix, [hole], "\n", pending=(last,))
    assert not out.any()

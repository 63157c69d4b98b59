"""The eval's scoring on hand-made middles: its parse rate is what Python's own parser accepts (issue 27)."""

import ast

from apps.code.evaluate import score_middles
from apps.code.tasks import infill_tasks


def accepted(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def test_the_parse_rate_agrees_with_ast_on_every_task_and_tree_sitter_is_reported_beside_it():
    tasks = infill_tasks("single-line")[:5]
    variants = {
        "reference": [t.middle for t in tasks],
        "over-indented": ["    " + t.middle for t in tasks],
        "unindented": [t.middle.lstrip() for t in tasks],
    }
    lenient = 0.0
    for name, middles in variants.items():
        scores = score_middles(tasks, middles, workers=1)
        want = [accepted(t.prefix + m + t.suffix) for t, m in zip(tasks, middles)]
        assert scores.parse_rate == sum(want) / len(tasks), name
        assert scores.parse_rate <= scores.parse_rate_tree_sitter, name
        assert name != "reference" or scores.as_dict()["parse_rate"] == 1.0
        lenient += scores.parse_rate_tree_sitter - scores.parse_rate
    assert lenient > 0, "tree-sitter accepts some of these indentations Python rejects"

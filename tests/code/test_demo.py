"""The example file users see first (`dlm-code demo`, the dashboard's code box)."""

from __future__ import annotations

from apps.code import DEMO, FILL, parses, split_fill


def test_the_demo_is_python_with_one_hole_and_speaks_to_a_user():
    prefix, suffix = split_fill(DEMO)
    assert parses(prefix + "sum(values) / len(values)" + suffix, "python")
    text = DEMO.read_text()
    assert text.count(FILL) == 1
    assert ".py.in" not in text and "dlm-code" not in text  # notes on our tooling live in apps/code/__init__.py

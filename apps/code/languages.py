"""The languages the corpus builder knows: file extensions and a syntax check for each.

A new language is one entry here (and, for its files, a source in ``sources.py``).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """A programming language as the corpus sees it."""

    name: str
    extensions: tuple[str, ...]
    parses: Callable[[str], bool]  # True when the text is syntactically valid


def python_parses(text: str) -> bool:
    """True when CPython's own parser (this interpreter's grammar) accepts the text."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like are warnings, not errors
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


LANGUAGES: dict[str, Language] = {
    "python": Language("python", (".py",), python_parses),
}


def get_language(name: str) -> Language:
    """The language called ``name``, with an error that lists the known ones."""
    try:
        return LANGUAGES[name]
    except KeyError:
        raise ValueError(f"unknown language {name!r}; known: {', '.join(sorted(LANGUAGES))}") from None

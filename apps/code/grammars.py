"""Tree-sitter grammars by language name, and the syntax errors found in a source: tree-sitter's, and for
Python also the interpreter's own parser's, since tree-sitter-python accepts indentation Python rejects
(docs/parsing.md).

Each grammar comes from its own PyPI package (``tree-sitter-python``, ``tree-sitter-go``, ...), which
ships the compiled parser: nothing is downloaded at run time. A package is imported on first use, so a
missing grammar only fails for its own language, with the pip command in the message.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import PurePath

from tree_sitter import Language, Node, Parser, Tree


@dataclass(frozen=True)
class Grammar:
    """A language tree-sitter can parse: its name, the file extensions that guess it, its grammar package."""

    name: str
    extensions: tuple[str, ...]
    package: str  # the PyPI package; its module is the name with "_" for "-"

    @property
    def language(self) -> Language:
        return _load(self.package)


GRAMMARS: dict[str, Grammar] = {
    g.name: g
    for g in (
        Grammar("python", (".py", ".pyi"), "tree-sitter-python"),
        Grammar("javascript", (".js", ".mjs", ".cjs", ".jsx"), "tree-sitter-javascript"),
        Grammar("go", (".go",), "tree-sitter-go"),
        Grammar("rust", (".rs",), "tree-sitter-rust"),
        Grammar("java", (".java",), "tree-sitter-java"),
        Grammar("c", (".c", ".h"), "tree-sitter-c"),
    )
}


@cache
def _load(package: str) -> Language:
    try:
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError:
        raise ImportError(f"the tree-sitter grammar {package!r} is not installed: pip install {package}") from None
    return Language(module.language())


def get_grammar(name: str) -> Grammar:
    """The grammar called ``name``, with an error that lists the known ones."""
    try:
        return GRAMMARS[name]
    except KeyError:
        raise ValueError(f"unknown language {name!r}; known: {', '.join(sorted(GRAMMARS))}") from None


def grammar_for_path(path: str | PurePath) -> Grammar:
    """The grammar whose extensions match ``path``'s suffix."""
    suffix = PurePath(path).suffix.lower()
    for grammar in GRAMMARS.values():
        if suffix in grammar.extensions:
            return grammar
    known = ", ".join(ext for g in GRAMMARS.values() for ext in g.extensions)
    raise ValueError(f"cannot tell the language of {str(path)!r} from its extension {suffix!r}; known: {known}")


def make_parser(language: str) -> Parser:
    return Parser(get_grammar(language).language)


@dataclass(frozen=True)
class SyntaxProblem:
    """An ERROR or MISSING node (or, for Python, the interpreter's syntax error): where it is, and the
    narrower pieces to blame for it.

    Ranges are half-open byte ranges of the parsed source. A MISSING node has no width: its range is
    widened to one byte either side of its position, so that it touches the tokens around the gap.
    ``blame`` narrows an ERROR node to the tokens the parser could not fit, its direct children that are
    bare punctuation, operators or keywords, or nested ERROR nodes (``x +* 1`` blames ``+`` and ``*``, not
    ``x`` and ``1``); when it has none of those, the whole node.
    """

    kind: str  # "ERROR", "MISSING" and the missing node's type ("MISSING )"), or Python's "IndentationError: ..."
    start: int
    end: int
    blame: tuple[tuple[int, int], ...]


def _widen(start: int, end: int) -> tuple[int, int]:
    return (max(start - 1, 0), end + 1) if start == end else (start, end)


def _problem(node: Node) -> SyntaxProblem:
    start, end = _widen(node.start_byte, node.end_byte)
    if node.is_missing:
        return SyntaxProblem(f"MISSING {node.type}", start, end, ((start, end),))
    pieces = tuple(
        _widen(child.start_byte, child.end_byte)
        for child in node.children
        if child.is_error or (not child.is_named and not child.is_missing)
    )
    return SyntaxProblem("ERROR", start, end, pieces or ((start, end),))


def tree_problems(tree: Tree) -> list[SyntaxProblem]:
    """The problems of a parsed tree, in source order; ERROR nodes inside an ERROR are part of it."""
    problems: list[SyntaxProblem] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            problems.append(_problem(node))
            if node.is_error:
                problems.extend(_problem(n) for n in node.children if n.is_missing)
            continue
        stack.extend(child for child in reversed(node.children) if child.has_error)  # only subtrees with one
    return problems


def python_problem(source: bytes) -> SyntaxProblem | None:
    """The syntax error this interpreter's parser finds first in ``source``, spanning its whole lines (the
    line's leading whitespace is what an IndentationError is about); None when it compiles to an AST. An
    error without a line (a null byte) spans the whole source."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like are warnings, not errors
        try:
            compile(source, "<infill>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
            kind = f"{type(err).__name__}: {err.msg if isinstance(err, SyntaxError) else err}"
            first = getattr(err, "lineno", None)
            if not first:
                return SyntaxProblem(kind, 0, len(source), ((0, len(source)),))
            last = max(getattr(err, "end_lineno", None) or first, first)
            start, end = _line_start(source, first), _line_start(source, last + 1)
            return SyntaxProblem(kind, start, end, ((start, end),))
    return None


def _line_start(source: bytes, line: int) -> int:
    """Byte offset of the start of 1-based ``line`` (the end of the source past its last line)."""
    at = 0
    for _ in range(line - 1):
        at = source.find(b"\n", at) + 1
        if at == 0:
            return len(source)
    return at


def find_errors(source: bytes, language: str) -> list[SyntaxProblem]:
    """ERROR and MISSING nodes of ``source`` parsed as ``language``, in source order; for Python, where
    tree-sitter finds none, the interpreter's syntax error (it names only its first). Empty when it parses."""
    problems = tree_problems(make_parser(language).parse(source))
    if language == "python" and not problems:
        problems = [p for p in [python_problem(source)] if p is not None]
    return problems


def tree_sitter_parses(text: str, language: str) -> bool:
    """True when tree-sitter parses ``text`` with no ERROR or MISSING node (lenient: docs/parsing.md)."""
    return not make_parser(language).parse(text.encode("utf-8")).root_node.has_error


def parses(text: str, language: str) -> bool:
    """True when ``text`` is valid ``language``: tree-sitter finds no error and, for Python, this
    interpreter's parser accepts it too (tree-sitter-python accepts an over-indented line)."""
    if not tree_sitter_parses(text, language):
        return False
    return language != "python" or python_problem(text.encode("utf-8")) is None

"""Syntax-aware remasking for code infilling: after each denoising step, tree-sitter parses every row's
infill between its fixed prefix and suffix, and the hole tokens it blames go back to the mask; for Python
the interpreter's own parser judges whole rows too, as tree-sitter-python accepts indentation Python rejects.

Rules (each one a choice; the tests pin them down):

- **Text of a hole.** Ordinary tokens contribute their exact bytes (byte-level BPE: a token is a byte
  string, so every token has an exact byte span in the spliced source). ``<eoi>`` and the other special
  tokens contribute nothing. ``<mask>`` and ``<expand>`` are *pending*: text not yet there.
- **Pending slots.** A row whose hole holds no pending slot is judged whole: prefix + hole + suffix, and
  every error counts. A row with pending slots is judged on the committed text before the first pending
  slot, parsed as prefix + that text, and an error there counts only if it ends before the line of the
  last committed non-blank token: text cut short ends in an unclosed bracket or string the next tokens
  may close, and a left-to-right parser settles a line only once the next has begun. (On 3,000 cuts of
  valid stdlib code this rule blamed 0.3% of them, all inside unfinished docstrings; blaming up to the
  last token instead blamed 3%.)
- **Errors of the context.** The prefix and suffix are parsed once with an empty hole. Those errors
  that keep clear of the insertion point (the blank run around it) are the user's own: an error in a row
  that overlaps one of them (shifted past the hole when in the suffix) is excused, even if the parser
  draws its bounds differently. Errors at the insertion point are the hole's to fix (``x = `` needs an
  expression), so they excuse nothing. Only hole tokens are ever returned, and never fixed ones.
- **Blame.** Each remaining error blames the hole tokens whose bytes overlap its narrowed pieces
  (`SyntaxProblem.blame`), or its whole node when no piece reaches the hole; ``margin`` neighbouring
  hole tokens on each side go too, clipped to the hole.
- **Python's parser.** For Python, a row with no pending slot in which tree-sitter blames nothing is also
  compiled (``grammars.python_problem``) from the start of the top-level item the hole sits in: its first
  syntax error blames the hole tokens on the error's lines, margin included (tree-sitter's narrower blame
  wins where it has one). An error on lines clear of the hole is the context's and blames
  nothing, as tree-sitter's errors away from the hole do. Rows with pending slots are left to tree-sitter:
  Python's parser reports text cut short (an open bracket) on the line where it opens.

Each row keeps its parser and its last tree, and re-parses incrementally (``Tree.edit`` and
``Parser.parse(new, old_tree)``); the suffix is cut after the top-level item the hole sits in, so that a
hole that opens a string does not make every step re-parse the rest of the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerFast
from tree_sitter import Parser, Tree

from apps.code.grammars import (
    SyntaxProblem,
    find_errors,
    get_grammar,
    make_parser,
    parses,
    python_problem,
    tree_problems,
)
from shared_dlm import Canvas

__all__ = ["RemaskReason", "SyntaxRemasker", "find_errors", "parses", "rank_key", "token_bytes"]


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the printable character that stands for each byte in a token string."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    chars = [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]
    return dict(zip(chars, printable + others))


def token_bytes(tokenizer: PreTrainedTokenizerFast) -> list[bytes]:
    """The bytes of every token id of a byte-level BPE tokenizer; b"" for special tokens."""
    alphabet = _byte_alphabet()
    special = set(tokenizer.all_special_ids)
    added = {i: t for i, t in tokenizer.added_tokens_decoder.items() if not t.special}
    table = []
    for i, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if i in special or token is None:
            table.append(b"")
        elif i in added:
            table.append(added[i].content.encode("utf-8"))  # added tokens are stored as plain text
        elif all(c in alphabet for c in token):
            table.append(bytes(alphabet[c] for c in token))
        else:
            raise ValueError(
                f"token {token!r} (id {i}) is not byte-level: the syntax remasker needs a byte-level BPE "
                "tokenizer (apps.code.tokenizer.train_tokenizer makes one) to know each token's exact bytes"
            )
    return table


@dataclass(frozen=True)
class RemaskReason:
    """Why one position went back to the mask: the error that blamed it, in the row's parsed source."""

    step: int
    row: int
    position: int  # canvas position
    kind: str  # "ERROR" or "MISSING <type>"
    start: int  # byte range of the error in the row's source (prefix + hole text [+ suffix])
    end: int


@dataclass
class _Row:
    parser: Parser
    source: bytes
    tree: Tree


def _point(source: bytes, offset: int) -> tuple[int, int]:
    row = source.count(b"\n", 0, offset)
    return row, offset - (source.rfind(b"\n", 0, offset) + 1)


def _common_prefix(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # binary search on slice equality: a few memcmp calls instead of a byte loop
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _reparse(row: _Row, source: bytes) -> Tree:
    """Parse ``source``, reusing the row's previous tree for everything outside the edited region."""
    if source != row.source:
        old = row.source
        start = _common_prefix(old, source)
        tail = _common_prefix(old[start:][::-1], source[start:][::-1])
        old_end, new_end = len(old) - tail, len(source) - tail
        row.tree.edit(start, old_end, new_end, _point(old, start), _point(old, old_end), _point(source, new_end))
        row.tree = row.parser.parse(source, row.tree)
    row.source = source
    return row.tree


def _touches(start: int, end: int, ranges: list[tuple[int, int]]) -> bool:
    return any(start <= hi and end >= lo for lo, hi in ranges)


class SyntaxRemasker:
    """A `Remasker` for infilling: sends back to the mask the hole tokens tree-sitter blames for an error.

    ``hole`` is the canvas positions of the infill, one contiguous run (a slice, or an (L,) bool mask);
    ``prefix`` and ``suffix`` are the full text around it (the canvas may hold only a window of them);
    the suffix is kept up to the end of the top-level item the hole sits in.
    After each call ``last_reasons`` lists why each returned position was remasked.
    """

    def __init__(
        self,
        prefix: str,
        suffix: str,
        language: str,
        tokenizer: PreTrainedTokenizerFast,
        hole: slice | Tensor,
        margin: int = 1,
    ):
        get_grammar(language)  # a clear error for an unknown language, before any work
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token; the syntax remasker needs one to tell pending slots")
        self.language = language
        self.margin = margin
        self.hole = _as_slice(hole)
        self.prefix = prefix.encode("utf-8")
        self._bytes = token_bytes(tokenizer)
        self._pending = {tokenizer.mask_token_id} | {getattr(tokenizer, "expand_token_id", None)} - {None}
        self.suffix = self._suffix_window(suffix.encode("utf-8"))
        self._context = self.prefix + self.suffix  # the source with an empty hole
        self._context_tree = make_parser(language).parse(self._context)
        self._prefix_errors, self._suffix_errors = self._context_errors()
        self._item_start = self._top_level_start()
        self._rows: list[_Row] = []
        self.last_reasons: list[RemaskReason] = []

    def _suffix_window(self, suffix: bytes) -> bytes:
        """The suffix up to the top-level item after the one the hole sits in: top-level items parse on
        their own, and a hole that opens a string or a bracket would otherwise make every step re-parse
        the rest of the file."""
        tree = make_parser(self.language).parse(self.prefix + suffix)
        after = len(self.prefix) + len(suffix) - len(suffix.lstrip())  # end of the blank run at the hole
        starts = (item.start_byte for item in tree.root_node.children if item.start_byte > after)
        return suffix[: next(starts, len(self.prefix) + len(suffix)) - len(self.prefix)]

    def _top_level_start(self) -> int:
        """Byte offset of the line where the top-level item holding the hole starts: Python's parser reads
        from there, as indentation only matters within a top-level item; 0 when that line is indented."""
        lo = len(self.prefix.rstrip())
        start = max((item.start_byte for item in self._context_tree.root_node.children if item.start_byte <= lo), default=0)
        start = self.prefix.rfind(b"\n", 0, start) + 1
        return 0 if self.prefix[start : start + 1] in (b" ", b"\t") else start

    def _context_errors(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Errors of prefix + suffix with an empty hole that keep clear of the insertion point: the
        prefix's by absolute offset, the suffix's by offset from the suffix's start."""
        lo = len(self.prefix.rstrip())
        hi = len(self.prefix) + len(self.suffix) - len(self.suffix.lstrip())
        before, after = [], []
        for problem in tree_problems(self._context_tree):
            if problem.end < lo:
                before.append((problem.start, problem.end))
            elif problem.start > hi:
                after.append((problem.start - len(self.prefix), problem.end - len(self.prefix)))
        return before, after

    def _new_row(self) -> _Row:
        """A row's parser, starting from the context's tree: its first parse is already incremental."""
        return _Row(make_parser(self.language), self._context, self._context_tree.copy())

    def __call__(self, canvas: Canvas, step: int) -> Tensor:
        ids = canvas.ids  # (B, L)
        batch, length = ids.shape
        lo, hi, _ = self.hole.indices(length)
        if len(self._rows) != batch:
            self._rows = [self._new_row() for _ in range(batch)]
        out = torch.zeros(batch, length, dtype=torch.bool)
        self.last_reasons = []
        for b, hole_ids in enumerate(ids[:, lo:hi].tolist()):
            for index, problem in self._judge(b, hole_ids):
                out[b, lo + index] = True
                self.last_reasons.append(RemaskReason(step, b, lo + index, problem.kind, problem.start, problem.end))
        out &= ~canvas.fixed.cpu()
        self.last_reasons = [r for r in self.last_reasons if out[r.row, r.position]]
        return out.to(ids.device)

    def _judge(self, b: int, hole_ids: list[int]) -> list[tuple[int, SyntaxProblem]]:
        """(hole index, the error that blames it) for one row, each index once, margin included."""
        cut = next((i for i, t in enumerate(hole_ids) if t in self._pending), len(hole_ids))
        pieces = [self._bytes[t] for t in hole_ids[:cut]]
        spans, pos = [], len(self.prefix)  # byte span of each committed hole token in the source
        for piece in pieces:
            spans.append((pos, pos + len(piece)))
            pos += len(piece)
        text = b"".join(pieces)
        own = list(self._prefix_errors)
        if cut == len(hole_ids):
            source, settled = self.prefix + text + self.suffix, math.inf
            own += [(s + pos, e + pos) for s, e in self._suffix_errors]
        else:
            source = self.prefix + text
            last = next((s for (s, e) in reversed(spans) if source[s:e].strip()), len(self.prefix))
            settled = source.rfind(b"\n", len(self.prefix), last)
            if settled < 0:
                return []  # no settled line in the hole yet: nothing to judge, no parse
        blamed: dict[int, SyntaxProblem] = {}
        for problem in tree_problems(_reparse(self._rows[b], source)):
            if problem.end > settled or problem.start > pos or problem.end < len(self.prefix):
                continue  # not settled yet, or nowhere near the hole
            if _touches(problem.start, problem.end, own):
                continue
            hits = _overlapping(spans, problem.blame) or _overlapping(spans, ((problem.start, problem.end),))
            self._blame(blamed, hits, problem, cut)
        if self.language == "python" and cut == len(hole_ids) and not blamed:
            problem = python_problem(source[self._item_start :])
            if problem is not None:
                start, end = problem.start + self._item_start, problem.end + self._item_start
                if start <= pos and end >= len(self.prefix):  # its lines reach the hole
                    problem = SyntaxProblem(problem.kind, start, end, ((start, end),))
                    self._blame(blamed, _overlapping(spans, problem.blame), problem, cut)
        return sorted(blamed.items())

    def _blame(self, blamed: dict[int, SyntaxProblem], hits: list[int], problem: SyntaxProblem, cut: int) -> None:
        """Blame ``problem`` on the hit hole tokens and ``margin`` neighbours each side, first blame kept."""
        for i in hits:
            for j in range(max(i - self.margin, 0), min(i + self.margin + 1, cut)):
                blamed.setdefault(j, problem)


def _overlapping(spans: list[tuple[int, int]], ranges) -> list[int]:
    """Indices of the token spans (in source order) that overlap any byte range; an empty token
    (``<eoi>``) counts when it sits inside the range."""
    if not spans:
        return []
    first, last = spans[0][0], spans[-1][1]
    ranges = [(lo, hi) for lo, hi in ranges if lo <= last and hi >= first]  # the pieces near the hole
    if not ranges:
        return []
    return [
        i for i, (s, e) in enumerate(spans) if any((s < hi and lo < e) if s < e else lo <= s < hi for lo, hi in ranges)
    ]


def _as_slice(hole: slice | Tensor) -> slice:
    if isinstance(hole, slice):
        if hole.step not in (None, 1):
            raise ValueError(f"the hole must be a run of consecutive positions, got a slice with step {hole.step}")
        return hole
    if hole.dim() != 1 or hole.dtype != torch.bool:
        raise ValueError(
            f"the hole must be a slice or an (L,) bool mask, got a {hole.dtype} tensor of shape {tuple(hole.shape)}"
        )
    where = hole.nonzero().flatten().tolist()
    if not where:
        raise ValueError("the hole mask selects no position")
    if where[-1] - where[0] + 1 != len(where):
        raise ValueError(f"the hole must be one run of consecutive positions, got positions {where}")
    return slice(where[0], where[-1] + 1)


def rank_key(parses: bool, score: float, blank: bool = False) -> tuple[bool, bool, float]:
    """Sort key for infill candidates, larger is better: a candidate with code in it beats a blank one (empty
    or whitespace only: it leaves the hole as it was, and parses wherever the hole's context does), then a
    candidate that parses beats one that does not, then the higher model score (mean log-probability of its
    generated tokens) wins; NaN ranks last. Use ``max(candidates, key=...)`` or ``sorted(..., reverse=True)``."""
    return not blank, parses, -math.inf if math.isnan(score) else score

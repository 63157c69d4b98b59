"""Fill the holes of many requests in one batched canvas: what ``dlm-code serve`` runs for requests that
arrive together.

Each request is planned by the server's ``Infiller`` as ``infill`` plans one hole (every length tried up to
its ``max_tokens``, ``n`` rows each, with the server's ``InfillConfig`` and the request's temperature and
seed), the requests' rows are stacked, and rows shorter than the longest are padded at the end (pad id,
fixed, not attended). Each request keeps its own syntax remasker, shown only its own rows. One call to
the core sampler denoises them all with the largest step count any of them needs; one temperature per
batch (the caller groups requests by it). A request's candidates are ranked by the ``Infiller`` and
its ``n`` best distinct ones are its choices, cut at the first of its ``stop`` strings.

Reproducibility: the sampler draws from one generator for the batch, seeded with the first request's
``seed``; a request reproduces its choices when it is sent alone with the same seed (as OpenAI's ``seed``,
best effort otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from apps.code.grammars import GRAMMARS, find_errors, get_grammar
from apps.code.infill import HolePlan, Infiller
from shared_dlm import Canvas, generate


class RequestError(ValueError):
    """A request the infiller cannot serve as asked; ``param`` names the field at fault."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.param, self.code = param, code


@dataclass
class FillRequest:
    prefix: str
    suffix: str
    language: str = "python"
    n: int = 1
    max_tokens: int = 32  # the most tokens a choice may have (the largest hole tried)
    temperature: float = 0.5
    stop: tuple[str, ...] = ()
    seed: int = 0
    truncate: bool = False  # leave far context out when the file does not fit the window, instead of refusing


@dataclass
class Choice:
    text: str
    finish_reason: str  # "stop": the model ended the middle (or a stop string did); "length": it used every slot
    tokens: int
    parses: bool


@dataclass
class Filled:
    choices: list[Choice]
    prompt_tokens: int  # context tokens the model saw
    truncated: bool


@dataclass
class Planned:
    request: FillRequest
    hole: HolePlan
    rows: slice = field(default_factory=lambda: slice(0, 0))  # its rows of the batch, set when stacked


GUESS_CHARS = 2048  # the text on each side of the hole that guess_language reads


def guess_language(prefix: str, suffix: str) -> str:
    """The grammar under which the code around the hole has the fewest syntax errors (hole left empty);
    ties go to the order of ``GRAMMARS`` (Python first). Only the ``GUESS_CHARS`` characters on each side of
    the hole are read, so the guess costs the same for any file (a server must not parse a megabyte six times)."""
    before, after = prefix[-GUESS_CHARS:], suffix[:GUESS_CHARS]
    if len(prefix) > GUESS_CHARS and "\n" in before:  # start and end on whole lines, not inside a token
        before = before[before.index("\n") + 1 :]
    if len(suffix) > GUESS_CHARS and "\n" in after:
        after = after[: after.rindex("\n") + 1]
    source = (before + after).encode()
    return min(GRAMMARS, key=lambda name: len(find_errors(source, name)))


class BatchInfiller:
    """Fills the holes of many ``FillRequest``s with one ``Infiller`` (see the module docstring)."""

    def __init__(self, infiller: Infiller):
        self.infiller = infiller
        self.tokenizer, self.spec = infiller.tokenizer, infiller.spec

    def check(self, request: FillRequest) -> Planned:
        """The request laid out as its own canvas, or a RequestError that says what is wrong."""
        get_grammar(request.language)
        if request.n < 1:
            raise RequestError(f"n must be at least 1, got {request.n}", "n")
        if request.max_tokens < 1:
            raise RequestError(f"max_tokens must be at least 1, got {request.max_tokens}", "max_tokens")
        if request.max_tokens > self.spec.max_len - 2:
            raise RequestError(
                f"max_tokens {request.max_tokens} does not fit the model's window of {self.spec.max_len} tokens "
                f"with any context; at most {self.spec.max_len - 2}",
                "max_tokens",
                "context_length_exceeded",
            )
        if not 0.0 <= request.temperature <= 2.0:
            raise RequestError(f"temperature must lie in [0, 2], got {request.temperature}", "temperature")
        config = replace(self.infiller.config, num=request.n, temperature=request.temperature, seed=request.seed)
        hole = self.infiller.plan(request.prefix, request.suffix, request.language, config, request.max_tokens)
        if hole.layout.truncated and not request.truncate:
            raise RequestError(
                f"the prompt and suffix do not fit the model's window of {self.spec.max_len} tokens with a "
                f"{max(hole.layout.lengths)}-token hole; send less code around the hole, or \"truncate\": true to let "
                "the server keep only the code nearest the hole",
                "prompt",
                "context_length_exceeded",
            )
        return Planned(request, hole)

    def run(self, requests: list[FillRequest]) -> list[Filled | Exception]:
        """Each request's result, or the error that stopped it (others in the batch are not affected)."""
        results: list[Filled | Exception | None] = [None] * len(requests)
        planned: list[tuple[int, Planned]] = []
        for i, request in enumerate(requests):
            try:
                planned.append((i, self.check(request)))
            except ValueError as error:
                results[i] = error
        if planned:
            for (i, plan), filled in zip(planned, self.fill([p for _, p in planned])):
                results[i] = filled
        return results  # type: ignore[return-value]

    def fill(self, plans: list[Planned]) -> list[Filled]:
        """Fill the holes of requests already laid out by ``check`` (one temperature) in one batched canvas."""
        temperatures = {p.request.temperature for p in plans}
        if len(temperatures) > 1:
            raise ValueError(f"one temperature per batch, got {sorted(temperatures)}: group the requests by it")
        canvas = self._stack(plans)
        holes = [p.hole for p in plans]
        remaskers = [(p.rows, p.hole.canvas.shape[1], self.infiller.remasker(p.hole)) for p in plans]
        parts = [part for part in remaskers if part[2] is not None]
        out = generate(
            self.infiller.model, canvas, self.infiller.sampler_config(holes),
            remasker=_RowsRemasker(parts) if parts else None, generator=self.infiller.generator(holes[0]),
        )  # fmt: skip
        return [self._choices(p, out) for p in plans]

    def _stack(self, plans: list[Planned]) -> Canvas:
        width = max(p.hole.canvas.shape[1] for p in plans)
        pad = self.spec.pad_id if self.spec.pad_id is not None else self.tokenizer.eos_token_id
        ids, fixed, allowed, attention = [], [], [], []
        at = 0
        for plan in plans:
            canvas = plan.hole.canvas
            rows, length = canvas.shape
            plan.rows = slice(at, at + rows)
            at += rows
            extra = width - length
            ids.append(torch.nn.functional.pad(canvas.ids, (0, extra), value=pad))
            fixed.append(torch.nn.functional.pad(canvas.fixed, (0, extra), value=True))
            attention.append(torch.nn.functional.pad(torch.ones_like(canvas.fixed), (0, extra), value=False))
            sets = canvas.allowed_for_batch()  # (rows, L, V)
            allowed.append(torch.cat([sets, sets[:, :1].expand(-1, extra, -1)], dim=1))
        return Canvas(torch.cat(ids), torch.cat(fixed), torch.cat(allowed), torch.cat(attention))

    def _choices(self, plan: Planned, out: Canvas) -> Filled:
        request, layout = plan.request, plan.hole.layout
        length = layout.canvas.shape[1]
        mine = Canvas(out.ids[plan.rows, :length], out.fixed[plan.rows, :length], logp=out.logp[plan.rows, :length])
        ranked = []
        for candidate in self.infiller.rank(plan.hole, mine):
            text, stopped = _cut(candidate.text, request.stop)
            finish = "stop" if stopped or candidate.length < candidate.slots else "length"
            ranked.append(Choice(text, finish, candidate.length, candidate.parses))
        # n choices, as the API promises: the distinct texts first, best first, then repeats in rank order
        seen: set[str] = set()
        first, again = [], []
        for choice in ranked:
            (again if choice.text in seen else first).append(choice)
            seen.add(choice.text)
        choices = (first + again)[: request.n]
        context = length - (layout.hole.stop - layout.hole.start)
        return Filled(choices, context, layout.truncated)


class _RowsRemasker:
    """Each request's remasker, shown only its own rows (and columns: its canvas before the padding)."""

    def __init__(self, parts):
        self.parts = parts  # (rows, width, remasker)

    def __call__(self, canvas: Canvas, step: int) -> Tensor:
        hits = torch.zeros_like(canvas.fixed)
        for rows, width, remasker in self.parts:
            part = replace(canvas, ids=canvas.ids[rows, :width], fixed=canvas.fixed[rows, :width], allowed=None,
                           attention_mask=None, logp=None)  # fmt: skip
            hits[rows, :width] = remasker(part, step).to(hits.device)
        return hits


def _cut(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """The text up to the first stop string, and whether one was found."""
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)

"""Fill the holes of many requests in one batched canvas: what ``dlm-code serve`` runs for requests that
arrive together.

Each request is laid out as ``infill`` lays out one hole (``hole_canvas``: every length tried, ``n`` rows
each), the requests' rows are stacked, and rows shorter than the longest are padded at the end (pad id,
fixed, not attended). Each request keeps its own syntax remasker, shown only its own rows. One call to
the core sampler denoises them all with the largest step count any of them needs; one temperature per
batch (the caller groups requests by it). A request's candidates are ranked as ``infill`` ranks them and
its ``n`` best distinct ones are its choices, cut at the first of its ``stop`` strings.

Reproducibility: the sampler draws from one generator for the batch, seeded with the first request's
``seed``; a request reproduces its choices when it is sent alone with the same seed (as OpenAI's ``seed``,
best effort otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from apps.code.fim import fit_context
from apps.code.grammars import GRAMMARS, find_errors, get_grammar
from apps.code.infill import (
    DEFAULT_BLOCK_LENGTH,
    SPARE_STEPS,
    HoleCanvas,
    hole_canvas,
    hole_lengths,
    hole_remasker,
    hole_strategy,
    ranked_candidates,
    trained_slots,
)
from shared_dlm import Canvas, Loaded, SamplerConfig, generate


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
    made: HoleCanvas
    steps: int
    rows: slice = field(default_factory=lambda: slice(0, 0))


def guess_language(prefix: str, suffix: str) -> str:
    """The grammar under which the code around the hole has the fewest syntax errors (hole left empty);
    ties go to the order of ``GRAMMARS`` (Python first)."""
    source = (prefix + suffix).encode()
    return min(GRAMMARS, key=lambda name: len(find_errors(source, name)))


class BatchInfiller:
    """Fills the holes of many ``FillRequest``s with one loaded code model (see the module docstring)."""

    def __init__(
        self,
        loaded: Loaded,
        *,
        sampler: str = "confidence",
        syntax_remask: bool = True,
        block_length: int | None = DEFAULT_BLOCK_LENGTH,
        cache: bool = False,
    ):
        tokenizer = loaded.tokenizer
        if tokenizer is None or getattr(tokenizer, "eoi_token_id", None) is None:
            raise ValueError(f"the model at {loaded.path} has no code tokenizer with <eoi> beside it")
        self.loaded, self.tokenizer, self.model = loaded, tokenizer, loaded.model
        self.spec = loaded.model.spec
        self.syntax_remask, self.cache = syntax_remask, cache
        self.strategy = hole_strategy(sampler, block_length)  # an unknown sampler fails here, before serving
        self.most_slots = trained_slots(loaded.path, self.spec.max_len)
        self.device = next(loaded.model.parameters()).device

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
        lengths = hole_lengths(None, self.spec.max_len, min(self.most_slots, request.max_tokens))
        if not request.truncate:
            context = fit_context(self.tokenizer, request.prefix, request.suffix, self.spec.max_len - max(lengths))
            if context.truncated:
                raise RequestError(
                    f"the prompt and suffix do not fit the model's window of {self.spec.max_len} tokens with a "
                    f"{max(lengths)}-token hole; send less code around the hole, or \"truncate\": true to let the "
                    "server keep only the code nearest the hole",
                    "prompt",
                    "context_length_exceeded",
                )
        made = hole_canvas(self.tokenizer, self.spec, request.prefix, request.suffix, lengths, request.n, self.device)
        return Planned(request, made, max(lengths) + SPARE_STEPS)

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
        remasker = _RowsRemasker([(p.rows, p.made.canvas.shape[1], self._remasker(p)) for p in plans])
        config = SamplerConfig(
            steps=max(p.steps for p in plans), strategy=self.strategy, temperature=temperatures.pop(), cache=self.cache
        )
        generator = torch.Generator(device=self.device).manual_seed(plans[0].request.seed)
        out = generate(self.model, canvas, config, remasker=remasker if self.syntax_remask else None, generator=generator)
        return [self._choices(p, out) for p in plans]

    def _stack(self, plans: list[Planned]) -> Canvas:
        width = max(p.made.canvas.shape[1] for p in plans)
        pad = self.spec.pad_id if self.spec.pad_id is not None else self.tokenizer.eos_token_id
        ids, fixed, allowed, attention = [], [], [], []
        at = 0
        for plan in plans:
            canvas = plan.made.canvas
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

    def _remasker(self, plan: Planned):
        request = plan.request
        return hole_remasker(plan.made.prefix, request.suffix, request.language, self.tokenizer, plan.made.hole)

    def _choices(self, plan: Planned, out: Canvas) -> Filled:
        request, made = plan.request, plan.made
        length = made.canvas.shape[1]
        mine = Canvas(out.ids[plan.rows, :length], out.fixed[plan.rows, :length], logp=out.logp[plan.rows, :length])
        ranked = []
        for candidate in ranked_candidates(made, mine, self.tokenizer, request.prefix, request.suffix, request.language):
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
        context = length - (made.hole.stop - made.hole.start)
        return Filled(choices, context, made.truncated)


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

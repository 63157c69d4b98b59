"""Fill a hole in code with a masked diffusion model: ``infill(prefix, suffix)`` returns ranked candidates.

Every decoding setting is a field of ``InfillConfig``. An ``Infiller``, a loaded model with its settings, is
the one pipeline: it plans a hole (the canvas below, its syntax remasker, its steps and sampler) and ranks the
rows the sampler filled. ``infill`` sends one hole through it; the batch infiller behind ``dlm-code serve``,
the HumanEval evaluation, ``dlm-bench sample`` and the dashboard use the same object.

The hole's length is not known, so several slot counts are tried in one batched canvas (8, 16, 32 and 64
tokens by default, those above the most slots the model was trained with left out: ``infill.json`` beside
the model, written by ``dlm-code train``, or else half the model's window), ``num`` rows each. Every row has the same
layout, ``apps.code.fim``'s window with ``max(lengths)`` hole slots: a row trying fewer slots has the rest
fixed to ``<eoi>``, a state the model met in training (a hole whose tail is already revealed as unused).
Hole slots may hold any ordinary token or ``<eoi>``, never another special token. The sampler fills the
slots; with ``syntax_remask`` the tree-sitter ``SyntaxRemasker`` sends the hole tokens it blames for a
syntax error back to the mask while steps remain (steps default to the most slots plus ``SPARE_STEPS``).
By default the slots are filled left to right in semi-autoregressive blocks of ``DEFAULT_BLOCK_LENGTH`` positions
(as LLaDA does, for the same reason): committing the most confident slots anywhere in the hole first fills
its tail with ``<eoi>`` (unused slots are the surest prediction), and the sweep of ``<eoi>`` then runs to the
hole's start, leaving blank middles. The first slot never holds ``<eoi>`` (``min_tokens``): no training
middle is empty.

Whitespace that the prefix ends in (the cursor after a line's indentation, or after ``return ``) is moved
into the hole (``heal_whitespace``, token healing as in Microsoft's guidance library): tokenized alone it
makes tokens the model rarely saw before a hole (an 8-space run, a lone space), while the byte-level BPE of
the whole line puts it in front of the next word (7 spaces, then `` return``), which is what line holes
look like in training. The hole's first slots are fixed to the whitespace's own tokens and the next slot
may only hold a token that starts with the rest of it and then code, so every candidate still continues the
prefix as given; the whitespace is taken off the candidate's text again.

A row's candidate is its hole read up to the first ``<eoi>`` (what follows an ``<eoi>`` is discarded, and
the remasker is shown the row that way too). Candidates are ranked by ``apps.code.syntax.rank_key``: blank
ones (empty or whitespace only) last, those whose spliced file parses first (``grammars.parses``: for Python,
tree-sitter and the interpreter's parser both accept it), then by score, the mean
log-probability of the candidate's tokens when they were committed (``Canvas.logp``; an empty candidate
scores NaN). Equal texts are kept once, and the best ``num`` of all rows are returned.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from apps.code.fim import fit_context
from apps.code.grammars import get_grammar, parses
from apps.code.syntax import SyntaxRemasker, rank_key
from shared_dlm import (
    Canvas,
    Loaded,
    SamplerConfig,
    StepRecord,
    generate,
    load,
    make_strategy,
    registered_names,
)

FILL = "<FILL>"  # where the hole is in a file given to `dlm-code infill`
DEFAULT_MODEL = "code-default"
DEFAULT_LENGTHS = (8, 16, 32, 64)
SPARE_STEPS = 8  # steps beyond one a slot, so that remasked tokens can be generated again
DEFAULT_BLOCK_LENGTH = 4  # semi-autoregressive blocks over the hole (None or 0: the whole hole at once)
INFILL_RECORD = "infill.json"  # apps.code.train writes it beside each model


@dataclass(frozen=True)
class Candidate:
    """One filling of the hole."""

    text: str  # the middle, to put between prefix and suffix
    parses: bool  # prefix + text + suffix parses (grammars.parses: for Python, ast accepts it too)
    score: float  # mean log-probability of its tokens under the model (NaN when empty)
    length: int  # the hole slots it fills (with a healed prefix, the whitespace's tokens too)
    slots: int  # hole slots of the row that made it
    lead: int = 0  # the first of them, fixed to the whitespace healed from the prefix


class ContextTruncatedWarning(UserWarning):
    """The prefix and suffix did not fit the model's window: the context far from the hole was left out."""


def split_fill(path: str | Path) -> tuple[str, str]:
    """The text of a source file before and after its one ``<FILL>`` marker."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:  # missing, a folder, unreadable
        raise ValueError(f"cannot read {path} ({error.strerror}): expected a source file with one {FILL}") from None
    if b"\0" in data:
        raise ValueError(f"{path} looks binary (it holds NUL bytes): expected a source file with one {FILL}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error}): expected a source file with one {FILL}") from None
    count = text.count(FILL)
    if count != 1:
        raise ValueError(f"{path} holds {count} {FILL} markers: put exactly one where the code should go")
    prefix, suffix = text.split(FILL)
    return prefix, suffix


def resolve_model(model: Loaded | str | Path, device: torch.device | str = "cpu") -> Loaded:
    """A loaded model from a `Loaded`, a registered name or a folder, with errors that say what to pass."""
    if isinstance(model, Loaded):
        on, asked = next(model.model.parameters()).device, torch.device(device)
        if on.type != asked.type or asked.index not in (None, on.index):
            raise ValueError(f"the model is on {on} but device={device!r} was asked for: load it on {device}")
        return model
    if not str(model).strip():
        raise ValueError("empty model path: pass a model folder (written by `dlm-code train`) or a registered name")
    if str(model) == DEFAULT_MODEL and DEFAULT_MODEL not in registered_names():
        raise FileNotFoundError(
            "no default code model is shipped yet: pass model=PATH (--model PATH), a folder written by "
            "`dlm-code train`, e.g. runs/code/model"
        )
    return load(model, device=device)


def hole_vocabulary(tokenizer, vocab_size: int) -> Tensor:
    """(V,) bool: what a hole slot may hold, every ordinary token and ``<eoi>``."""
    allowed = torch.zeros(vocab_size, dtype=torch.bool)
    allowed[: len(tokenizer)] = True
    allowed[tokenizer.all_special_ids] = False
    allowed[tokenizer.eoi_token_id] = True
    return allowed


class UpToFirstEoi:
    """Shows a remasker each row's hole as it will be read: ``<eoi>`` from the first one on."""

    def __init__(self, remasker, hole: slice, eoi_id: int):
        self.remasker, self.hole, self.eoi_id = remasker, hole, eoi_id

    def __call__(self, canvas: Canvas, step: int) -> Tensor:
        ids = canvas.ids.clone()  # (B, L)
        hole = ids[:, self.hole]
        hole[(hole == self.eoi_id).cumsum(-1) > 0] = self.eoi_id
        ids[:, self.hole] = hole
        return self.remasker(replace(canvas, ids=ids), step)


def trained_slots(folder: str | Path | None, window: int) -> int:
    """The most hole slots of the model's training examples (its ``infill.json``), else half its window."""
    record = Path(folder) / INFILL_RECORD if folder is not None else None
    if record is not None and record.is_file():
        try:
            settings = json.loads(record.read_text())
            return max(1, min(int(settings["max_slots"]), int(settings["seq_len"]) // 2, window // 2))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{record}: not a record of infilling settings ({err})") from None
    return max(1, window // 2)


def hole_remasker(prefix: str, suffix: str, language: str, tokenizer, hole: slice) -> UpToFirstEoi:
    """The syntax remasker of one hole, shown each row's hole up to its first ``<eoi>``."""
    return UpToFirstEoi(SyntaxRemasker(prefix, suffix, language, tokenizer, hole), hole, tokenizer.eoi_token_id)


def hole_lengths(lengths, window: int, most: int) -> list[int]:
    """The slot counts to try: ``lengths`` checked against the window, or by default those of
    ``DEFAULT_LENGTHS`` up to ``most`` (the most slots the model was trained with)."""
    if lengths is None:
        kept = [n for n in DEFAULT_LENGTHS if n <= most]
        return kept or [most]
    lengths = sorted(lengths)  # positive, distinct: InfillConfig checks them
    if lengths[-1] > window - 2:
        raise ValueError(
            f"a hole of {lengths[-1]} tokens does not fit the model's window of {window} positions with any context"
        )
    return lengths


@dataclass(frozen=True)
class Healing:
    """The whitespace a prefix ends in, moved into the hole: see the module docstring."""

    prefix: str  # the prefix without it: what the canvas holds before the hole
    whitespace: str  # what was taken off, the start of every candidate's text
    lead: list[int]  # the hole's first slots, fixed: the tokens of the whitespace but its last piece
    next_allowed: Tensor  # (V,) bool: what the slot after them may hold (the rest of the whitespace, then code; <eoi>)


@functools.lru_cache(maxsize=8)
def _continues(tokenizer, rest: str) -> Tensor:
    """(len(tokenizer),) bool: the tokens whose text is ``rest`` and then a character that is not whitespace
    (nor part of one: a lone byte of a longer UTF-8 character decodes to U+FFFD and could end up whitespace)."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return torch.tensor([t.startswith(rest) and t[len(rest) :][:1].strip() not in ("", "\ufffd") for t in texts])


def heal_whitespace(tokenizer, prefix: str, vocab_size: int) -> Healing | None:
    """The healing of a prefix that ends in spaces or tabs, or None (nothing to heal, or a tokenization that
    does not split as expected)."""
    whitespace = prefix[len(prefix.rstrip(" \t")) :]
    if not whitespace:
        return None
    ids = tokenizer(whitespace + "x", add_special_tokens=False)["input_ids"]
    lead_text = tokenizer.decode(ids[:-1])
    rest = whitespace[len(lead_text) :]
    if not whitespace.startswith(lead_text) or tokenizer.decode(ids[-1:]) != rest + "x":
        return None
    next_allowed = hole_vocabulary(tokenizer, vocab_size)
    next_allowed[: len(tokenizer)] &= _continues(tokenizer, rest)
    next_allowed[tokenizer.eoi_token_id] = True  # an empty middle, where the caller allows one (min_tokens)
    return Healing(prefix[: len(prefix) - len(whitespace)], whitespace, ids[:-1], next_allowed)


@dataclass
class HoleCanvas:
    """The batched canvas of one hole: ``num`` rows for each length tried, all laid out alike."""

    canvas: Canvas  # (B, L): fixed context, the hole's free slots masked, the slots past a row's length <eoi>
    hole: slice  # the hole's positions, the same in every row
    lengths: list[int]  # (B,) slots of each row, its healing's lead included
    truncated: bool  # far context was left out to fit the window
    prefix: str  # the text before the hole on the canvas: the prefix, healed
    healing: Healing | None = None  # the prefix's trailing whitespace, moved into the hole

    @property
    def lead(self) -> int:
        """The hole's first slots, fixed to the healed whitespace."""
        return len(self.healing.lead) if self.healing else 0


def hole_canvas(
    tokenizer,
    spec,
    prefix: str,
    suffix: str,
    lengths: list[int],
    num: int,
    device: torch.device | str = "cpu",
    min_tokens: int = 1,
) -> HoleCanvas:
    """The canvas that tries every length of ``lengths`` (each fitting the window) ``num`` times. The first
    ``min_tokens`` slots may not hold ``<eoi>``: a middle has at least one token, as in every training example.
    Whitespace at the end of ``prefix`` is healed (``heal_whitespace``) when the fewest slots tried leave room."""
    if not 0 <= min_tokens <= min(lengths):
        raise ValueError(f"min_tokens must lie between 0 and the fewest slots tried ({min(lengths)}), got {min_tokens}")
    healing = heal_whitespace(tokenizer, prefix, spec.vocab_size)
    if healing is not None and len(healing.lead) + max(min_tokens, 1) > min(lengths):
        healing = None
    lead, before_hole = (healing.lead, healing.prefix) if healing else ([], prefix)
    slots = max(lengths)
    context = fit_context(tokenizer, before_hole, suffix, spec.max_len - slots)
    start = len(context.prefix)
    rows = [n for n in lengths for _ in range(num)]
    free = torch.arange(slots)[None, :] < torch.tensor(rows)[:, None]  # (B, slots)
    hole_ids = torch.where(free, spec.mask_id, tokenizer.eoi_token_id)
    hole_ids[:, : len(lead)] = torch.tensor(lead, dtype=torch.long)
    free[:, : len(lead)] = False
    before = torch.tensor(context.prefix, dtype=torch.long).expand(len(rows), -1)
    after = torch.tensor(context.suffix, dtype=torch.long).expand(len(rows), -1)
    ids = torch.cat([before, hole_ids, after], dim=1)  # (B, L)
    hole = slice(start, start + slots)
    fixed = torch.ones_like(ids, dtype=torch.bool)
    fixed[:, hole] = ~free
    allowed = hole_vocabulary(tokenizer, spec.vocab_size).repeat(ids.shape[1], 1)  # (L, V)
    first = start + len(lead)  # the first free slot
    allowed[first : first + min_tokens, tokenizer.eoi_token_id] = False
    if healing is not None:
        allowed[first] &= healing.next_allowed
    canvas = Canvas(ids.to(device), fixed.to(device), allowed.to(device))
    return HoleCanvas(canvas, hole, rows, context.truncated, before_hole, healing)


@dataclass(frozen=True)
class InfillConfig:
    """Every decoding setting of a hole; the defaults are those the shipped model is measured with."""

    num: int = 4  # candidates returned, and rows tried for each hole length
    lengths: tuple[int, ...] | None = None  # hole slots to try; None: DEFAULT_LENGTHS up to the model's trained slots
    steps: int | None = None  # denoising steps; None: the most slots tried + SPARE_STEPS
    sampler: str = "confidence"  # a core strategy (shared_dlm.STRATEGIES)
    block_length: int | None = DEFAULT_BLOCK_LENGTH  # semi-autoregressive blocks over the hole; None or 0: none
    temperature: float = 0.5  # 0 is greedy
    syntax_remask: bool = True  # tree-sitter's SyntaxRemasker sends the tokens it blames back to the mask
    cache: bool = False  # reuse the context's keys and values between full forwards (SamplerConfig.cache)
    seed: int = 0

    def __post_init__(self):
        if self.num < 1:
            raise ValueError(f"num must be at least 1, got {self.num}")
        if self.block_length is not None and self.block_length < 0:
            raise ValueError(f"block_length must be positive (or 0 for none), got {self.block_length}")
        if self.lengths is not None:
            lengths = sorted(set(self.lengths))
            if not lengths or any(not isinstance(n, int) or n < 1 for n in lengths):
                raise ValueError(f"lengths must be positive numbers of tokens, got {lengths}")
            object.__setattr__(self, "lengths", tuple(lengths))


@dataclass
class HolePlan:
    """One hole laid out for the sampler by ``Infiller.plan``: what ``generate`` and the ranking need."""

    prefix: str  # as given: candidates are spliced between it and the suffix
    suffix: str
    language: str
    config: InfillConfig
    layout: HoleCanvas  # the canvas, with the prefix healed
    steps: int

    @property
    def canvas(self) -> Canvas:
        return self.layout.canvas  # (B, L)


class Infiller:
    """A loaded code model and its decoding settings (see the module docstring): plans a hole (its canvas, its
    syntax remasker, its steps and sampler) and ranks what the sampler made of it. ``infill``, the batch
    infiller behind ``dlm-code serve``, the evaluation, the benchmark and the dashboard all fill holes with it."""

    def __init__(self, loaded: Loaded, config: InfillConfig = InfillConfig()):
        tokenizer = loaded.tokenizer
        if tokenizer is None or getattr(tokenizer, "eoi_token_id", None) is None:
            raise ValueError(f"the model at {loaded.path} has no code tokenizer with <eoi> beside it")
        self.loaded, self.tokenizer, self.model, self.config = loaded, tokenizer, loaded.model, config
        self.spec = loaded.model.spec
        if tokenizer.mask_token_id != self.spec.mask_id:
            raise ValueError(
                f"the tokenizer's mask id {tokenizer.mask_token_id} is not the model's {self.spec.mask_id}"
            )
        hole_strategy(config.sampler, config.block_length)  # an unknown sampler fails here, before any hole
        self.most_slots = trained_slots(loaded.path, self.spec.max_len)
        self.device = next(loaded.model.parameters()).device

    def lengths(self, config: InfillConfig | None = None, max_slots: int | None = None) -> list[int]:
        """The slot counts a hole tries: ``config.lengths`` checked against the window, or by default those of
        ``DEFAULT_LENGTHS`` up to the model's trained slots (and ``max_slots``, a request's most tokens)."""
        most = self.most_slots if max_slots is None else min(self.most_slots, max_slots)
        return hole_lengths((config or self.config).lengths, self.spec.max_len, most)

    def plan(
        self, prefix: str, suffix: str, language: str = "python", config: InfillConfig | None = None,
        max_slots: int | None = None,
    ) -> HolePlan:  # fmt: skip
        """The hole between ``prefix`` and ``suffix`` laid out with ``config`` (default: the infiller's)."""
        config = config or self.config
        get_grammar(language)  # unknown language: an error that lists the known ones
        lengths = self.lengths(config, max_slots)
        layout = hole_canvas(self.tokenizer, self.spec, prefix, suffix, lengths, config.num, self.device)
        steps = max(lengths) + SPARE_STEPS if config.steps is None else config.steps
        return HolePlan(prefix, suffix, language, config, layout, steps)

    def remasker(self, plan: HolePlan) -> UpToFirstEoi | None:
        """A fresh syntax remasker of the plan's hole (remaskers keep state), or None without syntax remasking."""
        if not plan.config.syntax_remask:
            return None
        layout = plan.layout
        return hole_remasker(layout.prefix, plan.suffix, plan.language, self.tokenizer, layout.hole)

    def sampler_config(self, plans: list[HolePlan]) -> SamplerConfig:
        """One sampler for plans filled together (one temperature): the most steps any of them needs, blocks over
        the largest hole."""
        config = plans[0].config
        steps, slots = max(p.steps for p in plans), max(max(p.layout.lengths) for p in plans)
        strategy = hole_strategy(config.sampler, config.block_length, slots, steps)
        return SamplerConfig(steps=steps, strategy=strategy, temperature=config.temperature, cache=config.cache)

    def generator(self, plan: HolePlan) -> torch.Generator:
        """The sampler's random generator, seeded with the plan's seed, on the model's device."""
        return torch.Generator(device=self.device).manual_seed(plan.config.seed)

    def rank(self, plan: HolePlan, out: Canvas) -> list[Candidate]:
        """Every row's candidate of the plan's filled canvas ``out`` (B, L), best first."""
        return ranked_candidates(plan.layout, out, self.tokenizer, plan.prefix, plan.suffix, plan.language)

    def best(self, plan: HolePlan, out: Canvas) -> list[Candidate]:
        """The ``num`` best distinct candidates of the plan's filled canvas."""
        best: dict[str, Candidate] = {}
        for candidate in self.rank(plan, out):
            best.setdefault(candidate.text, candidate)
        return list(best.values())[: plan.config.num]

    def fill(
        self, prefix: str, suffix: str, language: str = "python", trace: Callable[[StepRecord], None] | None = None
    ) -> list[Candidate]:
        """Up to ``num`` distinct candidates for the code between ``prefix`` and ``suffix``, best first (a
        ``ContextTruncatedWarning`` when far context was left out). ``trace`` receives every denoising step."""
        plan = self.plan(prefix, suffix, language)
        hole = plan.layout.hole
        if plan.layout.truncated:
            warnings.warn(
                f"the file does not fit the model's window of {self.spec.max_len} tokens with a "
                f"{max(plan.layout.lengths)}-slot hole: only the {hole.start} tokens before the hole and "
                f"{plan.canvas.shape[1] - hole.stop} after it are seen",
                ContextTruncatedWarning,
                stacklevel=3,  # the caller of infill
            )
        out = generate(
            self.model, plan.canvas, self.sampler_config([plan]), remasker=self.remasker(plan), trace=trace,
            generator=self.generator(plan),
        )  # fmt: skip
        return self.best(plan, out)


def infill(
    prefix: str,
    suffix: str,
    language: str = "python",
    *,
    config: InfillConfig = InfillConfig(),
    model: Loaded | str | Path = DEFAULT_MODEL,
    device: torch.device | str = "cpu",
    trace: Callable[[StepRecord], None] | None = None,
) -> list[Candidate]:
    """Up to ``config.num`` distinct candidates for the code between ``prefix`` and ``suffix``, best first.

    ``model``: a ``Loaded`` code model, a registered name or a folder. ``trace`` receives every denoising step
    of the whole batch (one row per length tried and sample).
    """
    get_grammar(language)  # an unknown language fails before a model is loaded
    return Infiller(resolve_model(model, device), config).fill(prefix, suffix, language, trace)


def hole_strategy(sampler: str, block_length: int | None, slots: int | None = None, steps: int | None = None):
    """The core strategy ``sampler`` in semi-autoregressive blocks of ``block_length`` (None or 0: none), over
    each row's hole. Given the hole's ``slots`` and the ``steps``, a block too short for the steps to cover
    every block is widened to ``ceil(slots / steps)``."""
    if block_length and slots and steps:
        block_length = max(block_length, math.ceil(slots / steps))
    return make_strategy(sampler, block_length or None)


def ranked_candidates(
    made: HoleCanvas, out: Canvas, tokenizer, prefix: str, suffix: str, language: str
) -> list[Candidate]:
    """Every row's candidate of a filled hole canvas, best first (``rank_key``; ties keep row order)."""
    eoi, lead = tokenizer.eoi_token_id, made.lead
    whitespace = made.healing.whitespace if made.healing else ""
    candidates = []
    for row, n in enumerate(made.lengths):
        tokens = out.ids[row, made.hole][:n].tolist()
        end = tokens.index(eoi) if eoi in tokens else n
        text = tokenizer.decode(tokens[:end], skip_special_tokens=True)
        if text.startswith(whitespace):  # always, with a byte-level tokenizer (heal_whitespace checks it splits so)
            text = text[len(whitespace) :]
        if suffix.startswith(("\n", "\r\n")):  # the file's own line break ends the fill: add no blank line
            text = text.rstrip()
        score = float(out.logp[row, made.hole][lead:end].mean()) if end > lead else math.nan
        candidates.append(Candidate(text, parses(prefix + text + suffix, language), score, end, n, lead))
    return sorted(candidates, key=candidate_rank, reverse=True)


def candidate_rank(candidate: Candidate) -> tuple:
    """``rank_key`` of a candidate: code before blanks, parsing before not, then the model's score."""
    return rank_key(candidate.parses, candidate.score, blank=not candidate.text.strip())

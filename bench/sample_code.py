"""The code task of `dlm-bench sample`: HumanEval single-line infilling, each hole filled as `apps.code.infill`
fills it (its canvas, its syntax remasker, its steps and its ranking), then judged on the top candidate.

Quality: parse rate (the spliced function parses) and exact match (``apps.code.evaluate.normalise``
compares the candidate with the task's middle), both over the top candidate of each task, and the share
of empty top candidates (a deleted line often still parses, so the parse rate alone flatters a model that
stops at once).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from apps.code.evaluate import normalise
from apps.code.grammars import parses
from apps.code.infill import (
    DEFAULT_LENGTHS,
    SPARE_STEPS,
    HoleCanvas,
    hole_canvas,
    trained_slots,
)
from apps.code.syntax import SyntaxRemasker, rank_key
from apps.code.tasks import InfillTask, infill_tasks
from bench.sample import Input
from shared_dlm import Canvas, Loaded

LANGUAGE = "python"


class _UpToFirstEoi:
    """Shows the remasker each row's hole as it will be read, ``<eoi>`` from the first one on (as infill does)."""

    def __init__(self, remasker: SyntaxRemasker, hole: slice, eoi_id: int):
        self.remasker, self.hole, self.eoi_id = remasker, hole, eoi_id

    def __call__(self, canvas: Canvas, step: int) -> Tensor:
        ids = canvas.ids.clone()  # (B, L)
        hole = ids[:, self.hole]
        hole[(hole == self.eoi_id).cumsum(-1) > 0] = self.eoi_id
        ids[:, self.hole] = hole
        return self.remasker(replace(canvas, ids=ids), step)


@dataclass
class CodeTask:
    loaded: Loaded  # a code denoiser with its tokenizer
    num_inputs: int
    seed: int = 0
    num: int = 4  # rows per hole length, infill's default
    temperature: float = 0.5  # infill's default

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    def lengths(self) -> list[int]:
        """infill's default hole lengths: those up to the most slots the model was trained with."""
        most = trained_slots(self.loaded.path, self.model.spec.max_len)
        return [n for n in DEFAULT_LENGTHS if n <= most] or [most]

    def chosen(self) -> list[InfillTask]:
        """A seeded sample of the single-line tasks."""
        tasks = infill_tasks("single-line")
        return random.Random(self.seed).sample(tasks, min(self.num_inputs, len(tasks)))

    def inputs(self) -> list[Input]:
        tokenizer, spec = self.loaded.tokenizer, self.model.spec
        device = next(self.model.parameters()).device
        lengths = self.lengths()
        out = []
        for i, task in enumerate(self.chosen()):
            made = hole_canvas(tokenizer, spec, task.prefix, task.suffix, lengths, self.num, device)

            def remasker(task=task, made=made):
                syntax = SyntaxRemasker(task.prefix, task.suffix, LANGUAGE, tokenizer, made.hole)
                return _UpToFirstEoi(syntax, made.hole, tokenizer.eoi_token_id)

            out.append(Input(made.canvas, self.seed + i, remasker, max(lengths) + SPARE_STEPS, about=(task, made)))
        return out

    def top(self, task: InfillTask, made: HoleCanvas, filled: Canvas) -> str:
        """The top candidate as infill ranks them: parsing first, then mean log-probability."""
        tokenizer, eoi = self.loaded.tokenizer, self.loaded.tokenizer.eoi_token_id
        best, best_key = "", None
        for row, n in enumerate(made.lengths):
            tokens = filled.ids[row, made.hole][:n].tolist()
            length = tokens.index(eoi) if eoi in tokens else n
            text = tokenizer.decode(tokens[:length], skip_special_tokens=True)
            score = float(filled.logp[row, made.hole][:length].mean()) if length else math.nan
            key = rank_key(parses(task.prefix + text + task.suffix, LANGUAGE), score)
            if best_key is None or key > best_key:
                best, best_key = text, key
        return best

    def quality(self, inputs: list[Input], outputs: list[Canvas]) -> dict[str, float]:
        tops = [(item.about[0], self.top(*item.about, out)) for item, out in zip(inputs, outputs)]
        return {
            "parse_rate": sum(parses(t.prefix + m + t.suffix, LANGUAGE) for t, m in tops) / len(tops),
            "exact_match": sum(normalise(m) == normalise(t.middle) for t, m in tops) / len(tops),
            "empty_rate": sum(not m.strip() for _, m in tops) / len(tops),
        }

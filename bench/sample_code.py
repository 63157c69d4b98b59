"""The code task of `dlm-bench sample`: HumanEval single-line infilling, each hole filled as `apps.code.infill`
fills it (its canvas, its syntax remasker, its steps and its ranking), then judged on the top candidate.

Quality: parse rate (the spliced function parses) and exact match (``apps.code.evaluate.normalise``
compares the candidate with the task's middle), both over the top candidate of each task, and the share
of empty top candidates (a deleted line often still parses, so the parse rate alone flatters a model that
stops at once).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from apps.code.evaluate import normalise
from apps.code.grammars import parses
from apps.code.infill import (
    SPARE_STEPS,
    HoleCanvas,
    hole_canvas,
    hole_lengths,
    hole_remasker,
    ranked_candidates,
    trained_slots,
)
from apps.code.tasks import InfillTask, infill_tasks
from bench.sample import Input
from shared_dlm import Canvas, Loaded

LANGUAGE = "python"


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
        window = self.model.spec.max_len
        return hole_lengths(None, window, trained_slots(self.loaded.path, window))

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
                return hole_remasker(task.prefix, task.suffix, LANGUAGE, tokenizer, made.hole)

            out.append(Input(made.canvas, self.seed + i, remasker, max(lengths) + SPARE_STEPS, about=(task, made)))
        return out

    def top(self, task: InfillTask, made: HoleCanvas, filled: Canvas) -> str:
        """The top candidate as infill ranks them (code before blanks, parsing first, then mean log-probability)."""
        tokenizer = self.loaded.tokenizer
        return ranked_candidates(made, filled, tokenizer, task.prefix, task.suffix, LANGUAGE)[0].text

    def quality(self, inputs: list[Input], outputs: list[Canvas]) -> dict[str, float]:
        tops = [(item.about[0], self.top(*item.about, out)) for item, out in zip(inputs, outputs)]
        return {
            "parse_rate": sum(parses(t.prefix + m + t.suffix, LANGUAGE) for t, m in tops) / len(tops),
            "exact_match": sum(normalise(m) == normalise(t.middle) for t, m in tops) / len(tops),
            "empty_rate": sum(not m.strip() for _, m in tops) / len(tops),
        }

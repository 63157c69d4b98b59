"""The code task of `dlm-bench sample`: HumanEval single-line infilling, each hole planned by the app's
``Infiller`` as `apps.code.infill` plans it (its canvas, its syntax remasker, its steps), filled by the
benchmark's modes, and ranked by the ``Infiller``; judged on the top candidate.

Quality: parse rate (the spliced function parses) and exact match (``apps.code.normalise`` compares the
candidate with the task's middle), both over the top candidate of each task, and the share of empty top
candidates (a deleted line often still parses, so the parse rate alone flatters a model that stops at once).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import partial

import torch

from apps.code import (
    HolePlan,
    InfillConfig,
    Infiller,
    InfillTask,
    infill_tasks,
    normalise,
    parses,
)
from bench.sample import Input
from shared_dlm import Canvas, Loaded

LANGUAGE = "python"


@dataclass
class CodeTask:
    loaded: Loaded  # a code denoiser with its tokenizer
    num_inputs: int
    seed: int = 0
    num: int = InfillConfig.num  # rows per hole length
    temperature: float = InfillConfig.temperature
    infiller: Infiller = field(init=False)  # plans the holes and ranks them, as infill does

    def __post_init__(self):
        self.infiller = Infiller(self.loaded, InfillConfig(num=self.num, temperature=self.temperature, seed=self.seed))

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    def lengths(self) -> list[int]:
        """infill's default hole lengths: those up to the most slots the model was trained with."""
        return self.infiller.lengths()

    def chosen(self) -> list[InfillTask]:
        """A seeded sample of the single-line tasks."""
        tasks = infill_tasks("single-line")
        return random.Random(self.seed).sample(tasks, min(self.num_inputs, len(tasks)))

    def inputs(self) -> list[Input]:
        out = []
        for i, task in enumerate(self.chosen()):
            hole = self.infiller.plan(task.prefix, task.suffix, LANGUAGE)
            remasker = partial(self.infiller.remasker, hole)  # a fresh one each run
            out.append(Input(hole.canvas, self.seed + i, remasker, hole.steps, about=(task, hole)))
        return out

    def top(self, hole: HolePlan, filled: Canvas) -> str:
        """The top candidate as infill ranks them (code before blanks, parsing first, then mean log-probability)."""
        return self.infiller.rank(hole, filled)[0].text

    def quality(self, inputs: list[Input], outputs: list[Canvas]) -> dict[str, float]:
        tops = [(item.about[0], self.top(item.about[1], out)) for item, out in zip(inputs, outputs)]
        return {
            "parse_rate": sum(parses(t.prefix + m + t.suffix, LANGUAGE) for t, m in tops) / len(tops),
            "exact_match": sum(normalise(m) == normalise(t.middle) for t, m in tops) / len(tops),
            "empty_rate": sum(not m.strip() for _, m in tops) / len(tops),
        }

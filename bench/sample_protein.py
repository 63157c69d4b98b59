"""The protein task of `dlm-bench sample`: designs of one length around a fixed motif, laid out as
`apps.protein.design` lays them out (its ``plan``: ``<cls>`` residues ``<eos>``, after the control slots of a
GO-conditioned generator), one canvas of ``config.num`` designs per input, each input with its own sampling seed;
one step per free residue at most.

Quality: the mean ESM-2 pseudo-perplexity of the designs under the scorer (``apps.protein.Scorer``), their
mean motif recovery (1.0 unless a fixed motif residue was lost), and the mean share of a design's most common
residue: confidence-ordered decoding can collapse a weak generator's designs to runs of one residue, which
ESM-2 finds easy to predict, so a low pseudo-perplexity alone can flatter them (natural proteins: about 0.1 to 0.15).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch

from apps.protein import DesignConfig, Generator, Scorer, plan
from bench.sample import Input
from shared_dlm import Canvas


@dataclass
class ProteinTask:
    generator: Generator  # a protein generator (ESM alphabet ids)
    scorer: Scorer | None
    num_inputs: int
    config: DesignConfig = field(default_factory=lambda: DesignConfig(num=8))  # designs per input and their temperature; seed: the first input's
    length: int = 120  # the demo's design (apps/protein/examples/demo.json)
    motif: str = "50:HEXXHXXGXXH"  # its fixed metzincin zinc-binding motif

    @property
    def model(self) -> torch.nn.Module:
        return self.generator.model

    @property
    def num(self) -> int:
        return self.config.num

    @property
    def temperature(self) -> float:
        return self.config.temperature

    def inputs(self) -> list[Input]:
        planned = plan(self.length, [self.motif], self.config, self.generator)
        return [Input(planned.canvas, self.config.seed + i, about=planned) for i in range(self.num_inputs)]

    def quality(self, inputs: list[Input], outputs: list[Canvas]) -> dict[str, float]:
        designs = [
            (placement, sequence)
            for item, out in zip(inputs, outputs)
            for placement, sequence in zip(item.about.placements, item.about.sequences(out))
        ]
        quality = {
            "motif_recovery": sum(p.recovery(s) for p, s in designs) / len(designs),
            "most_common_residue_share": sum(Counter(s).most_common(1)[0][1] / len(s) for _, s in designs) / len(designs),
        }
        if self.scorer is not None:
            scores = self.scorer.score([s for _, s in designs])
            quality["pseudo_perplexity"] = sum(s["pseudo_perplexity"] for s in scores) / len(scores)
        return quality

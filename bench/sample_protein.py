"""The protein task of `dlm-bench sample`: designs of one length around a fixed motif, laid out as
`apps.protein.design` lays them out (``motifs.to_canvas``: ``<cls>`` residues ``<eos>``), one canvas of ``num``
designs per input, each input with its own sampling seed; one step per free residue at most.

Quality: the mean ESM-2 pseudo-perplexity of the designs under the scorer (``apps.protein.scoring``), their
mean motif recovery (1.0 unless a fixed motif residue was lost), and the mean share of a design's most common
residue: confidence-ordered decoding can collapse a weak generator's designs to runs of one residue, which
ESM-2 finds easy to predict, so a low pseudo-perplexity alone can flatter them (natural proteins: about 0.1 to 0.15).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from apps.protein.motifs import from_canvas, parse_motifs, place, to_canvas
from apps.protein.scoring import Scorer
from bench.sample import Input
from shared_dlm import Canvas


@dataclass
class ProteinTask:
    model: torch.nn.Module  # a protein generator (ESM alphabet ids)
    scorer: Scorer | None
    num_inputs: int
    seed: int = 0
    length: int = 120  # the demo's design (apps/protein/examples/demo.json)
    motif: str = "50:HEXXHXXGXXH"  # its fixed metzincin zinc-binding motif
    num: int = 8  # designs per input
    temperature: float = 1.0  # design's default

    def inputs(self) -> list[Input]:
        placement = place(parse_motifs(self.motif), self.length, torch.Generator().manual_seed(self.seed))
        device = next(self.model.parameters()).device
        canvas = to_canvas(placement, self.model.spec, batch=self.num, device=device)
        return [Input(canvas, self.seed + i, about=placement) for i in range(self.num_inputs)]

    def quality(self, inputs: list[Input], outputs: list[Canvas]) -> dict[str, float]:
        designs = [(item.about, sequence) for item, out in zip(inputs, outputs) for sequence in from_canvas(out)]
        quality = {
            "motif_recovery": sum(p.recovery(s) for p, s in designs) / len(designs),
            "most_common_residue_share": sum(Counter(s).most_common(1)[0][1] / len(s) for _, s in designs) / len(designs),
        }
        if self.scorer is not None:
            scores = self.scorer.score([s for _, s in designs])
            quality["pseudo_perplexity"] = sum(s["pseudo_perplexity"] for s in scores) / len(scores)
        return quality

"""`dlm-bench antibody`: how fast the antibody models design on this CPU, as ratios in one run against the
protein generator on the same canvas.

Rows: a whole-CDR-H3 redesign of trastuzumab's VH (``num`` designs, one residue a step) by the protein generator,
AntiBERTy and Sapiens VH, each through the one design pipeline on the same template (the chain with ``X`` over
CDR-H3): seconds a call and designs a second, with each model's ratio to the protein generator; and the
humanization of one VH/VL pair (OKT3's) by each method. Every row is the median of ``repeats`` timed calls after
one untimed warm-up call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from apps.protein import design
from apps.protein.antibody import DEFAULT_CONFIG, HumanizeConfig, humanize, number, region_indices
from apps.protein.antibody.redesign import antibody_generator

VH = "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS"
OKT3 = (
    "QVQLQQSGAELARPGASVKMSCKASGYTFTRYTMHWVKQRPGQGLEWIGYINPSRGYTNYNQKFKDKATLTTDKSSSTAYMQLSSLTSEDSAVYYCARYYDDHYCLDYWGQGTTLTVSS",
    "QIVLTQSPAIMSASPGEKVTMTCSASSSVSYMNWYQQKSGTSPKRWIYDTSKLASGVPAHFRGSGSGTSYSLTISGMEAEDAATYYCQQWSSNPFTFGSGTKLEIN",
)
GENERATORS = ("protein-default", "antiberty", "sapiens-vh")


def timed(call: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(num: int = 8, repeats: int = 3, seed: int = 0) -> dict:
    """The rows of the module docstring."""
    cdr = set(region_indices(number(VH), "cdrh3"))
    template = "".join("X" if i in cdr else r for i, r in enumerate(VH))
    config = replace(DEFAULT_CONFIG, num=num, seed=seed)
    rows = {}
    for name in GENERATORS:
        generator = name if name == "protein-default" else antibody_generator(name)
        seconds = timed(lambda g=generator: design(len(template), [f"1:{template}"], config, generator=g, scorer=None), repeats)
        rows[name] = {"seconds": seconds, "designs_per_s": num / seconds}
    base = rows["protein-default"]["seconds"]
    for row in rows.values():
        row["ratio_to_protein_generator"] = base / row["seconds"]
    humanization = {
        method: timed(lambda m=method: [humanize(chain, HumanizeConfig(method=m)) for chain in OKT3], repeats)
        for method in ("masked", "diffusion")
    }  # fmt: skip
    return {
        "task": f"whole-CDR-H3 redesign of trastuzumab VH ({len(cdr)} residues), {num} designs a call, one residue a step",
        "settings": {"num": num, "repeats": repeats, "seed": seed, "sampler": config.sampler,
                     "temperature": config.temperature, "torch_threads": torch.get_num_threads()},  # fmt: skip
        "cdrh3_redesign": rows,
        "humanize_okt3_pair_seconds": humanization,
    }


"""``dlm-protein eval antibody``: the antibody models against trivial baselines on the Swiss-Prot evaluation set
(``evalset``), measured the same way.

Redesign (sequence recovery: the share of redesigned positions given back their native residue), for three tasks
on every chain: its CDR3, its three CDRs at once, its four frameworks at once. Methods:
  - ``antiberty`` / ``sapiens``: the diffusion redesign (``redesign``), ``num`` designs a chain; recovery averaged
    over the designs (``mean``) and of the best-ranked one (``top1``);
  - ``antiberty_one_shot``: AntiBERTy reads the chain with every redesigned position masked and each takes its most
    probable standard residue, one forward, no iterative denoising;
  - ``most_frequent``: each position's most frequent residue in the other clusters' chains (leave one cluster out:
    the profile of a chain never counts the chain or its near relatives);
  - ``profile_sample``: ``num`` draws from those per-position frequencies, averaged.
Pseudo-log-likelihood: AntiBERTy's mean log-probability of the CDR3 residues (each masked in turn) of the native
chain, of its CDR3 shuffled, and of each method's CDR3 (its best-ranked or first design).
Humanization, on the chains whose best-fitting profile is not human: the parent, ``humanize`` (masked, at its
default threshold, at thresholds 1 and 0.3, and with the Vernier zone kept) and the CDR graft onto the closest
human germline, each scored by human V-gene identity, Sapiens humanness, the share of the parent's CDR residues
kept and the number of mutations (both read off an alignment to the parent, ``compare``).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from statistics import mean

import torch
from Bio.Align import PairwiseAligner, substitution_matrices

from apps.protein.alphabet import STANDARD_RESIDUES
from apps.protein.antibody.baselines import PositionProfile, recovery, shuffled
from apps.protein.antibody.evalset import Entry, EvalSet
from apps.protein.antibody.humanize import HumanizeConfig, HumanizeError, cdr_graft, humanize, humanness
from apps.protein.antibody.models import ANTIBERTY, chain_ids
from apps.protein.antibody.numbering import Numbered, number
from apps.protein.antibody.redesign import DEFAULT_CONFIG, redesign
from apps.protein.antibody.scores import masked_log_probs, model
from apps.protein.design import DesignConfig

TASKS: dict[str, Callable[[Numbered], list[int]]] = {
    "cdr3": lambda n: n.indices("CDR3"),
    "cdrs": lambda n: n.cdr_indices(),
    "frameworks": lambda n: n.framework_indices(),
}
MODELS = ("antiberty", "sapiens")


def evaluate_antibodies(
    evalset: EvalSet,
    sample: int | None = None,
    num: int = 4,
    models: Sequence[str] = MODELS,
    tasks: Sequence[str] = tuple(TASKS),
    max_steps: int | None = 24,
    seed: int = 0,
    config: DesignConfig = DEFAULT_CONFIG,
    humanization: bool = True,
    chain: str | None = None,
    pll: bool = True,
    log: Callable[[str], None] = lambda line: None,
) -> dict:
    """Every figure of the module docstring on ``sample`` chains of the set (all by default; a sample is the
    first chains in the order of a hash of their accession, so it is the same on every run). ``config``: the
    redesign's sampler settings (its ``num`` and ``seed`` are replaced by the arguments). ``max_steps``: the
    most denoising steps of a redesign (a framework redesign of ~85 positions then commits several a step)."""
    entries = sorted(evalset.reference + evalset.test, key=lambda e: hashlib.sha256(e.accession.encode()).hexdigest())
    entries = [e for e in entries if chain is None or e.chain == chain]
    entries = entries[:sample] if sample else entries
    config = replace(config, num=num, seed=seed)
    started = time.monotonic()
    per_task = {task: {} for task in tasks}
    log_probs: dict[str, list[float]] = {}
    for count, entry in enumerate(entries, start=1):
        numbered = entry.numbered()
        profile = PositionProfile.fit(e for e in evalset.reference + evalset.test if e.cluster != entry.cluster)
        rng = random.Random(f"{seed}:{entry.accession}")
        for task in tasks:
            indices = TASKS[task](numbered)
            steps = None if max_steps is None or len(indices) <= max_steps else max_steps
            made = _redesigns(entry, numbered, indices, replace(config, steps=steps), models, profile, rng)
            for method, designs in made.items():
                scores = [recovery(d, entry.sequence, indices) for d in designs]
                for group in ("all", entry.chain):
                    figures = per_task[task].setdefault(group, {}).setdefault(method, {"mean": [], "top1": []})
                    figures["mean"].append(mean(scores))
                    figures["top1"].append(scores[0])
            if task == "cdr3" and pll:
                for method, sequence in [("native", entry.sequence), ("shuffled", shuffled(entry.sequence, indices, rng)),
                                         *((m, d[0]) for m, d in made.items())]:  # fmt: skip
                    log_probs.setdefault(method, []).append(float(masked_log_probs(model(ANTIBERTY), sequence)[indices].mean()))
        log(f"{count}/{len(entries)} {entry.accession} ({entry.chain_type}, {entry.species}) {time.monotonic() - started:.0f} s")
    redesign_figures = {
        task: {
            "chains": len(entries),
            **{m: {k: mean(v) for k, v in f.items()} for m, f in groups["all"].items()},
            "by_chain": {
                c: {"chains": len(next(iter(groups[c].values()))["mean"]),
                    **{m: {k: mean(v) for k, v in f.items()} for m, f in groups[c].items()}}
                for c in ("H", "L") if c in groups
            },
        }
        for task, groups in per_task.items()
    }  # fmt: skip
    non_human = [e for e in entries if e.species != "human"]
    return {
        "chains": len(entries),
        "by_chain_type": {t: sum(e.chain_type == t for e in entries) for t in "HKL"},
        "settings": {"chain": chain, "num": num, "models": list(models), "sampler": config.sampler, "temperature": config.temperature,
                     "order_noise": config.order_noise, "max_steps": max_steps, "seed": seed},  # fmt: skip
        "redesign_recovery": redesign_figures,
        "cdr3_antiberty_log_prob": {m: mean(v) for m, v in log_probs.items()} if log_probs else None,
        "humanization": evaluate_humanization(non_human, log) if non_human and humanization else None,
        "seconds": round(time.monotonic() - started, 1),
    }


def _redesigns(entry: Entry, numbered: Numbered, indices: list[int], config, models, profile, rng) -> dict:
    """Each method's designs of one chain and task, best-ranked first."""
    out = {}
    for name in models:
        designs = redesign(entry.sequence, _regions(numbered, indices), config, generator=name, numbered=numbered)
        out[name] = [d.sequence for d in designs]
    out["antiberty_one_shot"] = [one_shot(entry.sequence, indices)]
    out["most_frequent"] = [profile.most_frequent(numbered, indices)]
    out["profile_sample"] = [profile.sample(numbered, indices, rng) for _ in range(config.num)]
    return out


def _regions(numbered: Numbered, indices: list[int]) -> list[str]:
    """The region names whose union is ``indices`` (cdrh3, frl1, ...)."""
    chain = numbered.chain.lower()
    names = sorted({numbered.regions[i] for i in indices})
    return [f"{r[:-1].lower()}{chain}{r[-1]}" for r in names]


def model_files() -> dict[str, str]:
    """The weights behind the figures, for their provenance."""
    from apps.protein.antibody.models import ANTIBERTY_FOLDER, SAPIENS, antiberty_package

    return {ANTIBERTY: str(antiberty_package() / ANTIBERTY_FOLDER / "pytorch_model.bin"),
            **{name: str(folder) for name, folder in SAPIENS.items()}}  # fmt: skip


def one_shot(sequence: str, indices: Sequence[int]) -> str:
    """AntiBERTy's argmax at every position of ``indices``, all masked at once, from one forward."""
    loaded = model(ANTIBERTY)
    ids = torch.tensor(chain_ids(loaded.tokenizer, sequence))  # (L + 2,)
    where = torch.tensor(indices) + 1
    ids[where] = loaded.model.spec.mask_id
    standard = torch.tensor(loaded.tokenizer.convert_tokens_to_ids(list(STANDARD_RESIDUES)))
    with torch.no_grad():
        logits = loaded.model(ids[None])[0, where][:, standard]  # (n, 20)
    residues = list(sequence)
    for i, best in zip(indices, logits.argmax(-1).tolist()):
        residues[i] = STANDARD_RESIDUES[best]
    return "".join(residues)


def compare(parent: str, design: str, cdrs: Sequence[int]) -> tuple[float, int]:
    """The share of the parent's CDR residues (``cdrs``, its indices) that the design keeps, and the design's
    mutations (substitutions, insertions and deletions), read off a global alignment of the two (BLOSUM62, gaps
    open -10, extend -1): a CDR graft may change a framework's length, so position by position would mislead."""
    aligner = PairwiseAligner(mode="global", substitution_matrix=substitution_matrices.load("BLOSUM62"),
                              open_gap_score=-10, extend_gap_score=-1)  # fmt: skip
    alignment = aligner.align(parent, design)[0]
    to_design = {}
    for (a0, a1), (b0, b1) in zip(*alignment.aligned):
        to_design.update({a0 + k: b0 + k for k in range(a1 - a0)})
    same = {i for i, j in to_design.items() if parent[i] == design[j]}
    mutations = (len(parent) - len(same)) + (len(design) - len(to_design))  # substituted or deleted, and inserted
    return sum(i in same for i in cdrs) / len(cdrs), mutations


def _humanness(sequence: str) -> float:
    """Humanness of a chain of another length than its parent (numbered afresh)."""
    return humanness(sequence, number(sequence, germline=False))


def evaluate_humanization(entries: Sequence[Entry], log: Callable[[str], None] = lambda line: None) -> dict:
    """Parent, humanized (masked; Vernier kept) and CDR-grafted chains of non-human entries, side by side."""
    methods: dict[str, Callable[[str, Numbered], str]] = {
        "parent": lambda s, n: s,
        "humanize": lambda s, n: humanize(s, HumanizeConfig(), n).sequence,
        "humanize_threshold_1": lambda s, n: humanize(s, HumanizeConfig(threshold=1.0), n).sequence,
        "humanize_threshold_0.3": lambda s, n: humanize(s, HumanizeConfig(threshold=0.3), n).sequence,
        "humanize_vernier": lambda s, n: humanize(s, HumanizeConfig(keep_vernier=True), n).sequence,
        "cdr_graft": lambda s, n: cdr_graft(s, n),
    }
    rows: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    skipped = []
    for entry in entries:
        numbered = number(entry.sequence)
        try:
            made = {m: make(entry.sequence, numbered) for m, make in methods.items()}
        except HumanizeError as err:
            skipped.append({"accession": entry.accession, "reason": str(err)})
            continue
        for method, sequence in made.items():
            kept, mutations = compare(entry.sequence, sequence, numbered.cdr_indices())
            figures = {
                "human_v_identity": number(sequence).v_identity or 0.0,
                "humanness": humanness(sequence, numbered) if len(sequence) == len(entry.sequence) else _humanness(sequence),
                "cdrs_kept": kept,
                "mutations": mutations,
            }
            for key, value in figures.items():
                rows[method].setdefault(key, []).append(float(value))
        log(f"humanized {entry.accession} ({entry.species})")
    return {
        "chains": len(entries) - len(skipped),
        "skipped": skipped,
        **{m: {k: mean(v) for k, v in figures.items()} for m, figures in rows.items() if figures},
    }

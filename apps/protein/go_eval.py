"""Does conditioning on a GO term make designs that have that function? Judged by two annotators that are
independent of the generator (``dlm-protein eval go``):

* Probe (``probes.py``): per term, a logistic regression on the shipped ESM scorer's mean embeddings, its
  threshold set on the validation split at a false-positive rate of ``ProbeConfig.fpr``, its AUROC reported
  on the test split.
* Homology: designs searched against the training split with MMseqs2; a design has a term when a training
  hit with E-value below ``HOMOLOGY_EVALUE`` carries it (annotations propagated to ancestors).

Designs: for each term, ``num`` designs of ``length`` residues conditioned on it (classifier-free guidance
``guidance``), and ``num`` designs of the same length from the same model with guidance 0 (the terms not
attended: unconditional; with the same seed a design with guidance 0 equals one with no terms at all).
Per term: the hit rate of its conditioned designs, of the unconditioned designs, and of the designs
conditioned on the other terms; the novelty of its designs (highest identity to a training sequence).
Then motifs and conditioning together: designs with a motif and a term, against the same motif alone.
Every set's median pseudo-perplexity under the same scorer sits beside its rates, so that a stronger guidance
weight that buys a term at the price of implausible sequences shows it. ``compare_guidance``: further
conditioned sets at other weights, from the same seeds as the main ones (so the weight is all that differs),
measured under the probe against the same unconditioned designs (not searched for homology).

``term_elbo`` (``dlm-protein eval go-elbo``) asks the model itself: the held-out negative ELBO of natural
proteins without terms and with a random subset of their own terms, under the same noise; the difference is
what the terms tell the generator, in bits per token. The reports' text forms are in ``report.py``.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from apps.protein.design import (
    DEFAULT_GO_MODEL,
    DEFAULT_SAMPLER,
    DEFAULT_SCORER,
    DesignConfig,
    DesignError,
    Generator,
    check_guidance,
    load_generator,
    load_scorer,
)
from apps.protein.evaluate import designed, load_corpus
from apps.protein.go import GoGraph, default_graph
from apps.protein.homology import TrainingSearch
from apps.protein.metrics import PseudoPerplexities, floored_ratio, motif_kept, rate
from apps.protein.motifs import parse_motifs, place
from apps.protein.probes import ProbeConfig, Probes
from apps.protein.report import named, timed
from shared_dlm import diffusion_loss, get_schedule, resolve

DEFAULT_TERMS = (
    "GO:0003677",  # DNA binding (molecular function, binding)
    "GO:0008270",  # zinc ion binding
    "GO:0005524",  # ATP binding
    "GO:0016301",  # kinase activity (catalytic activity)
    "GO:0016491",  # oxidoreductase activity
    "GO:0022857",  # transmembrane transporter activity
    "GO:0003735",  # structural constituent of ribosome
    "GO:0016021",  # integral component of membrane (cellular component)
    "GO:0005634",  # nucleus
    "GO:0005739",  # mitochondrion
    "GO:0006412",  # translation (biological process)
    "GO:0006355",  # regulation of transcription, DNA-templated
)
DEFAULT_MOTIF_PAIRS = (
    ("GO:0008270", "30-90:HEXXH"),  # the zincin metalloprotease motif with zinc ion binding
    ("GO:0005524", "5-50:GXXXXGKT"),  # the Walker A (P-loop) motif with ATP binding
)
HOMOLOGY_EVALUE = 1e-3
ENRICHED = 3.0  # a term counts as enriched when its conditioned rate is at least this many times the baseline's


@dataclass(frozen=True)
class GoEvalConfig:
    terms: tuple[str, ...] = DEFAULT_TERMS
    length: int = 150  # residues per design
    num: int = 32  # designs per term, and unconditioned designs
    guidance: float = 2.0
    compare_guidance: tuple[float, ...] = ()  # further conditioned sets at these weights, probe only
    steps: int | None = None  # None: one per residue
    sampler: str = DEFAULT_SAMPLER
    motif_pairs: tuple[tuple[str, str], ...] = DEFAULT_MOTIF_PAIRS
    motif_num: int = 16
    probes: ProbeConfig = ProbeConfig()
    seed: int = 0  # seeds the designs and the probes' samples
    threads: int = 1

    def __post_init__(self):
        for weight in (self.guidance, *self.compare_guidance):
            check_guidance(weight)
        if len({self.guidance, *self.compare_guidance}) != len(self.compare_guidance) + 1:
            raise ValueError(f"compare_guidance {list(self.compare_guidance)} repeats a weight (the main one is {self.guidance:g})")

    def design_config(self) -> DesignConfig:
        """How the designs are sampled (``GoDesignSets.make`` sets each set's size, term, weight and seed)."""
        return DesignConfig(sampler=self.sampler, steps=self.steps, seed=self.seed)



def homology_terms(
    search: TrainingSearch, training_go: Sequence[Sequence[str]], sequences: Sequence[str], graph: GoGraph
) -> tuple[list[set[str]], list[float]]:
    """Per sequence: the GO terms (propagated) of its training hits with E < HOMOLOGY_EVALUE, and its highest
    identity to any training sequence (identical aligned residues over the shorter length; 0 with no hit)."""
    terms = [set() for _ in sequences]
    identity = [0.0] * len(sequences)
    for hit in search.hits(sequences):
        identity[hit.query] = max(identity[hit.query], hit.identity)
        if hit.evalue < HOMOLOGY_EVALUE:
            terms[hit.query] |= graph.propagate(training_go[hit.target])
    return terms, identity


def _go_generator(model: str | Path | Generator, device: torch.device | str) -> Generator:
    """The generator, which must carry a term vocabulary; a ValueError for one without."""
    generator = load_generator(model, device)
    if generator.vocabulary is None:
        raise ValueError(f"{named(model)}: not a GO-conditioned generator (no go_terms.json)")
    return generator


@dataclass
class GoDesignSets:
    """The designs ``evaluate_go`` measures: a set a term and one unconditioned, a set a term at each other
    guidance weight, and a pair of sets (with the term, motif only) a motif + term pair."""

    unconditioned: list[str]
    conditioned: dict[str, list[str]]
    compared: dict[float, dict[str, list[str]]]
    motifs: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)

    @classmethod
    def make(cls, generator: Generator, config: GoEvalConfig, device: torch.device | str) -> GoDesignSets:
        """Every set from its own seed: ``seed`` unconditioned, ``seed + 1 + i`` term i at every weight,
        ``seed + 100 + i`` motif pair i both ways."""
        base = config.design_config()

        def make(go: str, guidance: float, motifs=(), num=config.num, seed=config.seed) -> list[str]:
            settings = replace(base, num=num, go=(go,), guidance=guidance, seed=seed)
            return designed(config.length, motifs, settings, generator, device)

        terms = config.terms
        sets = cls(
            unconditioned=make(terms[0], 0.0),  # guidance 0: the terms are not attended
            conditioned={term: make(term, config.guidance, seed=config.seed + 1 + i) for i, term in enumerate(terms)},
            compared={
                weight: {term: make(term, weight, seed=config.seed + 1 + i) for i, term in enumerate(terms)}
                for weight in config.compare_guidance
            },
        )  # fmt: skip
        for i, (term, motif) in enumerate(config.motif_pairs):
            seed = config.seed + 100 + i
            sets.motifs[(term, motif)] = {
                "with_term": make(term, config.guidance, [motif], config.motif_num, seed),
                "motif_only": make(term, 0.0, [motif], config.motif_num, seed),
            }
        return sets

    def annotated(self) -> list[str]:
        """The sequences both annotators read: all but the other guidance weights' (probe only)."""
        everything = self.unconditioned + [s for sequences in self.conditioned.values() for s in sequences]
        return everything + [s for pair in self.motifs.values() for s in pair["with_term"] + pair["motif_only"]]

    def compared_only(self) -> list[str]:
        return [s for sets in self.compared.values() for sequences in sets.values() for s in sequences]


@dataclass
class Annotations:
    """What is known of each design: the probes' calls (terms,) bool, the homology terms, the highest identity
    to training, and the pseudo-perplexities."""

    calls: dict[str, np.ndarray]
    homology: dict[str, set[str]]
    novelty: dict[str, float]
    pppl: PseudoPerplexities


def evaluate_go(
    data: str | Path,
    *,
    model: str | Path | Generator = DEFAULT_GO_MODEL,
    scorer: str | Path = DEFAULT_SCORER,
    config: GoEvalConfig = GoEvalConfig(),
    workdir: str | Path | None = None,
    device: torch.device | str = "cpu",
    save_probes: str | Path | None = None,
) -> dict:
    """The report described in the module docstring, JSON-ready: ``terms`` (a row per term), ``motifs``,
    ``guidance_compare``, ``summary``, ``settings``, ``seconds``. ``save_probes``: a file to save the fitted
    probes in."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    with timed(seconds, "load"):
        corpus = load_corpus(Path(data))
        graph = default_graph()
        generator = _go_generator(model, device)
        for term in config.terms + tuple(t for t, _ in config.motif_pairs):
            generator.vocabulary.check(term)
        for _, motif in config.motif_pairs:  # a motif that cannot fit fails now, not after the probes and designs
            try:
                place(parse_motifs([motif]), config.length, torch.Generator().manual_seed(0))
            except ValueError as error:
                raise DesignError(f"motif + term pair: {error} (--length {config.length})") from None
        scoring = load_scorer(scorer, device)
    with timed(seconds, "probes"):
        probes = Probes(scoring.model, config.terms, graph, corpus, config.probes, config.seed)
    if save_probes is not None:
        probes.probe_set(named(scorer)).save(save_probes)
    with timed(seconds, "designs"):
        sets = GoDesignSets.make(generator, config, device)
    everything, extra = sets.annotated(), sets.compared_only()
    with timed(seconds, "probe_calls"):
        calls = dict(zip(everything + extra, probes.calls(everything + extra)))  # sequence -> (terms,) bool
    with timed(seconds, "pseudo_perplexity"):
        pppl = PseudoPerplexities(scoring)
        pppl(everything + extra)
    with tempfile.TemporaryDirectory(prefix="dlm-protein-eval-go-") as tmp:
        with timed(seconds, "homology"):
            search = TrainingSearch(list(corpus["train"]["sequence"]), Path(workdir or tmp), config.threads)
            found, identity = homology_terms(search, corpus["train"]["go"], everything, graph)
    notes = Annotations(calls, dict(zip(everything, found)), dict(zip(everything, identity)), pppl)
    rows = term_rows(config, sets, notes, probes, graph)
    summary = {
        "terms": len(rows),
        "probe_enriched_3x_over_unconditioned": sum(r["probe"]["ratio_unconditioned"] >= ENRICHED for r in rows),
        "probe_enriched_3x_over_other_terms": sum(r["probe"]["ratio_other_terms"] >= ENRICHED for r in rows),
        "homology_enriched_over_unconditioned": sum(r["homology"]["conditioned"] > r["homology"]["unconditioned"] for r in rows),
        "unconditioned_novelty_median_max_identity": statistics.median(notes.novelty[s] for s in sets.unconditioned),
        "unconditioned_pseudo_perplexity_median": statistics.median(pppl(sets.unconditioned)),
        "conditioned_pseudo_perplexity_median": statistics.median(pppl([s for t in config.terms for s in sets.conditioned[t]])),
    }
    seconds["total"] = round(time.monotonic() - started, 1)
    settings = {
        **asdict(config),
        "data": str(data),
        "model": named(model),
        "scorer": named(scorer),
        "device": str(device),
        "probe": (
            "per term: StandardScaler + LogisticRegression(C=0.1, class_weight='balanced') on the concatenated "
            f"per-layer residue means of the scorer; threshold: validation FPR {config.probes.fpr:g}; AUROC on the test split"
        ),
        "homology": f"mmseqs easy-search against the training split; terms of hits with E < {HOMOLOGY_EVALUE:g}",
        "ratios": "conditioned rate / baseline rate, the baseline floored at 1/n",
    }
    return {
        "terms": rows, "motifs": motif_rows(config, sets, notes, graph),
        "guidance_compare": guidance_rows(config, sets, notes, rows), "summary": summary, "settings": settings,
        "seconds": seconds,
    }  # fmt: skip


def term_rows(config: GoEvalConfig, sets: GoDesignSets, notes: Annotations, probes: Probes, graph: GoGraph) -> list[dict]:
    """A row a term: its probe and homology rates on its designs, the unconditioned ones and the other terms'."""
    rows = []
    for j, term in enumerate(config.terms):
        conditioned = sets.conditioned[term]
        others = [s for other in config.terms if other != term for s in sets.conditioned[other]]
        probe = {
            "conditioned": rate(notes.calls[s][j] for s in conditioned),
            "unconditioned": rate(notes.calls[s][j] for s in sets.unconditioned),
            "other_terms": rate(notes.calls[s][j] for s in others),
        }
        hom = {
            "conditioned": rate(term in notes.homology[s] for s in conditioned),
            "unconditioned": rate(term in notes.homology[s] for s in sets.unconditioned),
            "other_terms": rate(term in notes.homology[s] for s in others),
        }
        rows.append({
            "term": term,
            "name": graph.names.get(term, term),
            "namespace": graph.namespace(term),
            "probe": {**probe, "ratio_unconditioned": floored_ratio(probe["conditioned"], probe["unconditioned"], config.num),
                      "ratio_other_terms": floored_ratio(probe["conditioned"], probe["other_terms"], len(others)),
                      **probes.checks[term], **probes.fit_counts[term]},
            "homology": {**hom, "designs_with_any_hit": rate(bool(notes.homology[s]) for s in conditioned)},
            "novelty_median_max_identity": statistics.median(notes.novelty[s] for s in conditioned),
            "pseudo_perplexity_median": statistics.median(notes.pppl(conditioned)),
        })  # fmt: skip
    return rows


def guidance_rows(config: GoEvalConfig, sets: GoDesignSets, notes: Annotations, rows: Sequence[dict]) -> list[dict]:
    """A row for each other guidance weight: its probe rate a term against the main unconditioned rate."""
    compare = []
    for weight, by_term in sets.compared.items():
        terms = {}
        for j, term in enumerate(config.terms):
            conditioned = rate(notes.calls[s][j] for s in by_term[term])
            terms[term] = {
                "conditioned": conditioned,
                "ratio_unconditioned": floored_ratio(conditioned, rows[j]["probe"]["unconditioned"], config.num),
                "pseudo_perplexity_median": statistics.median(notes.pppl(by_term[term])),
            }
        enriched = sum(t["ratio_unconditioned"] >= ENRICHED for t in terms.values())
        compare.append({"guidance": weight, "terms": terms, "probe_enriched_3x_over_unconditioned": enriched})
    return compare


def motif_rows(config: GoEvalConfig, sets: GoDesignSets, notes: Annotations, graph: GoGraph) -> list[dict]:
    """A row for each motif + term pair: motif kept, probe and homology rates, with the term and motif only."""
    motifs = []
    for (term, motif), pair in sets.motifs.items():
        j = config.terms.index(term) if term in config.terms else None
        entry = {"term": term, "name": graph.names.get(term, term), "motif": motif, "num": config.motif_num}
        for name, sequences in pair.items():
            entry[name] = {
                "motif_kept": motif_kept(sequences, motif),
                "probe": None if j is None else rate(notes.calls[s][j] for s in sequences),
                "homology": rate(term in notes.homology[s] for s in sequences),
            }
        motifs.append(entry)
    return motifs


@torch.inference_mode()
def term_elbo(
    data: str | Path,
    *,
    model: str | Path = DEFAULT_GO_MODEL,
    split: str = "validation",
    proteins: int | None = None,
    batch_size: int = 16,
    term_weight_power: float = 0.5,
    subset: str = "keep_rate",
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict:
    """Negative ELBO (bits per token: residues, ``<cls>`` and ``<eos>``, as in training) of the ``split``
    proteins (a seeded sample of ``proteins``, None: all) without terms and with a random subset of their own
    vocabulary terms (``go_train.term_subset``: ``subset``, at most the model's slots), each protein under the
    same noise both ways; proteins longer than the model's window are cropped at a seeded start. Only
    proteins with at least one vocabulary term count."""
    from apps.protein.go_train import encode as encode_terms
    from apps.protein.go_train import lay_out, residues_only, term_subset

    started = time.monotonic()
    generator = _go_generator(model, device)
    vocabulary = generator.vocabulary
    corpus = load_corpus(Path(data))
    if split not in corpus:
        raise ValueError(f"{data}: no {split!r} split (has {', '.join(corpus)})")
    rows = encode_terms(corpus[split], vocabulary, default_graph())
    rng = random.Random(seed)
    chosen = [i for i, terms in enumerate(rows["terms"]) if terms]
    if proteins is not None:
        chosen = sorted(rng.sample(chosen, min(proteins, len(chosen))))
    if not chosen:
        raise ValueError(f"{data}: no {split} protein carries a vocabulary term")
    spec = generator.spec
    room = spec.max_len - vocabulary.slots
    weights = torch.tensor([t.count for t in vocabulary.terms], dtype=torch.float64).pow(-term_weight_power)
    schedule_name = "loglinear"  # the trainer's default, for a model without its training record
    if isinstance(model, (str, Path)) and (record := resolve(model) / "training.json").is_file():
        schedule_name = json.loads(record.read_text())["train_config"].get("schedule", schedule_name)
    schedule = get_schedule(schedule_name)
    forward = residues_only(generator.model.eval(), vocabulary.first_token)
    pick = torch.Generator().manual_seed(seed)
    totals = {"no_terms": 0.0, "with_terms": 0.0}
    tokens = 0.0
    for start in range(0, len(chosen), batch_size):
        examples = []
        for i in chosen[start : start + batch_size]:
            seq = rows[i]["input_ids"]
            if len(seq) > room:
                at = int(torch.randint(0, len(seq) - room + 1, (), generator=pick))
                seq = seq[at : at + room]
            examples.append((seq, term_subset(rows[i]["terms"], weights, vocabulary.slots, pick, subset)))
        for name, layout in (("no_terms", [(s, []) for s, _ in examples]), ("with_terms", examples)):
            seq_len = vocabulary.slots + max(len(s) for s, _ in layout)
            batch = {k: v.to(device) for k, v in lay_out(layout, vocabulary, seq_len).items()}
            noise = torch.Generator(device=device).manual_seed(seed * 1_000_003 + start)
            elbo = diffusion_loss(forward, batch["input_ids"], schedule, spec.mask_id, maskable=batch["maskable"],
                                  attention_mask=batch["attention_mask"], generator=noise)  # fmt: skip
            totals[name] += float(elbo.nll) / math.log(2)
        tokens += float(elbo.tokens)  # the same positions both ways
    no_terms, with_terms = totals["no_terms"] / tokens, totals["with_terms"] / tokens
    return {
        "model": str(model), "split": split, "proteins": len(chosen), "tokens": int(tokens),
        "no_terms_bits": no_terms, "with_terms_bits": with_terms, "gain_bits": no_terms - with_terms,
        "seed": seed, "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip

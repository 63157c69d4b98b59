"""Does conditioning on a GO term make designs that have that function? Judged by two annotators that are
independent of the generator (``dlm-protein eval go``):

* Probe: per term, a logistic regression on the shipped ESM scorer's mean embeddings (every layer's mean
  over the residues, concatenated, standardised), fit on training proteins (a seeded random sample plus
  enough carriers of each term), with classes weighted to balance. Its threshold is set on the validation
  split so that ``fpr`` of the natural proteins without the term are called positive; its AUROC is
  reported on the test split. A design "has the term" when its probe score reaches the threshold.
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
what the terms tell the generator, in bits per token.
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from apps.protein.design import (
    DEFAULT_GO_MODEL,
    DEFAULT_SAMPLER,
    DEFAULT_SCORER,
    DesignError,
    check_guidance,
    design,
    load_generator,
    load_scorer,
)
from apps.protein.evaluate import PseudoPerplexities, TrainingSearch, _timed, load_corpus
from apps.protein.go import GoGraph, default_graph
from apps.protein.motifs import parse_motifs, place
from apps.protein.scoring import _batches, _pad, encode
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
PROBES_FILE = "go_probes.json"
"""The fitted probes, saved beside a GO generator by ``dlm-protein eval go --save-probes``."""


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
    probe_sample: int = 6000  # random training proteins the probes are fit on
    probe_positives: int = 600  # carriers of each term added to them (at least)
    probe_heldout: int = 2000  # validation proteins (thresholds) and test proteins (AUROC), each at most
    probe_max_length: int = 500  # proteins longer than this are left out of the probe sets
    fpr: float = 0.05
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        for weight in (self.guidance, *self.compare_guidance):
            check_guidance(weight)
        if len({self.guidance, *self.compare_guidance}) != len(self.compare_guidance) + 1:
            raise ValueError(f"compare_guidance {list(self.compare_guidance)} repeats a weight (the main one is {self.guidance:g})")


@torch.inference_mode()
def layer_means(model, sequences: Sequence[str], max_tokens: int = 8192) -> np.ndarray:
    """(N, layers * E): each layer's output (embedding layer excluded) averaged over each sequence's residues."""
    layers = list(range(1, model.num_layers + 1))
    device = next(model.parameters()).device
    encoded = [encode(model, s) for s in sequences]
    out = np.empty((len(sequences), len(layers) * model.embed_dim), dtype=np.float32)
    for batch in _batches([len(ids) for ids in encoded], max_tokens):
        ids = _pad(model, [encoded[s] for s in batch], device)  # (B, T)
        reps = model(ids, repr_layers=layers)["representations"]
        residues = ((ids != model.padding_idx) & (ids != model.cls_idx) & (ids != model.eos_idx))[..., None]
        pooled = [(reps[layer].float() * residues).sum(1) / residues.sum(1) for layer in layers]  # each (B, E)
        out[batch] = torch.cat(pooled, -1).cpu().numpy()
    return out


class Probes:
    """One logistic regression per term on ``layer_means`` features (see the module docstring)."""

    def __init__(self, scorer_model, terms: Sequence[str], graph: GoGraph, corpus, config: GoEvalConfig):
        from sklearn.linear_model import LogisticRegression  # scikit-learn only where probes are fitted
        from sklearn.metrics import roc_auc_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model, self.terms, self.graph, self.fpr = scorer_model, list(terms), graph, config.fpr
        rng = random.Random(config.seed)
        train = corpus["train"]
        short = [i for i, n in enumerate(train["length"]) if n <= config.probe_max_length]
        labels_all = [self._labels(go) for go in train["go"]]
        pool = set(rng.sample(short, min(config.probe_sample, len(short))))
        for j in range(len(self.terms)):
            carriers = [i for i in short if labels_all[i][j]]
            have = sum(labels_all[i][j] for i in pool)
            pool.update(rng.sample(carriers, min(max(config.probe_positives - have, 0), len(carriers))))
        rows = sorted(pool)
        x = layer_means(self.model, [train[i]["sequence"] for i in rows])
        y = np.array([labels_all[i] for i in rows])
        self.fit_counts = {t: {"proteins": len(rows), "positives": int(y[:, j].sum())} for j, t in enumerate(self.terms)}
        self.classifiers = []
        for j in range(len(self.terms)):
            classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced"))
            self.classifiers.append(classifier.fit(x, y[:, j]))
        val_x, val_y = self._heldout(corpus["validation"], config, rng)
        test_x, test_y = self._heldout(corpus["test"], config, rng)
        val_scores, test_scores = self.scores_of(val_x), self.scores_of(test_x)
        self.thresholds = [float(np.quantile(val_scores[~val_y[:, j], j], 1 - config.fpr)) for j in range(len(self.terms))]
        self.checks = {}
        for j, term in enumerate(self.terms):
            positive = test_y[:, j]
            calls = test_scores[:, j] >= self.thresholds[j]
            self.checks[term] = {
                "test_auroc": float(roc_auc_score(positive, test_scores[:, j])) if 0 < positive.sum() < len(positive) else None,
                "test_positives": int(positive.sum()),
                "test_proteins": len(positive),
                "test_tpr": float(calls[positive].mean()) if positive.any() else None,
                "test_fpr": float(calls[~positive].mean()),
                "natural_rate_test": float(positive.mean()),
            }

    def _labels(self, go: Sequence[str]) -> list[bool]:
        carried = self.graph.propagate(go)
        return [t in carried for t in self.terms]

    def _heldout(self, split, config: GoEvalConfig, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        rows = [i for i, n in enumerate(split["length"]) if n <= config.probe_max_length]
        rows = sorted(rng.sample(rows, min(config.probe_heldout, len(rows))))
        x = layer_means(self.model, [split[i]["sequence"] for i in rows])
        return x, np.array([self._labels(split[i]["go"]) for i in rows])

    def scores_of(self, x: np.ndarray) -> np.ndarray:
        return np.stack([c.decision_function(x) for c in self.classifiers], axis=1)  # (N, terms)

    def calls(self, sequences: Sequence[str]) -> np.ndarray:
        """(N, terms) bool: which terms the probes assign to each sequence."""
        return self.scores_of(layer_means(self.model, sequences)) >= np.array(self.thresholds)

    def probe_set(self, scorer: str) -> ProbeSet:
        """The fitted probes as plain arrays, to save beside the GO generator (the dashboard reads them)."""
        scalers = [c.named_steps["standardscaler"] for c in self.classifiers]
        models = [c.named_steps["logisticregression"] for c in self.classifiers]
        return ProbeSet(
            terms=self.terms, names=[self.graph.names.get(t, t) for t in self.terms], scorer=scorer,
            mean=np.stack([s.mean_ for s in scalers]), scale=np.stack([s.scale_ for s in scalers]),
            coef=np.stack([m.coef_[0] for m in models]), intercept=np.array([m.intercept_[0] for m in models]),
            thresholds=np.array(self.thresholds), checks=self.checks, fpr=self.fpr,
        )  # fmt: skip


@dataclass
class ProbeSet:
    """Fitted per-term probes without scikit-learn: score = ((x - mean) / scale) . coef + intercept, a call
    where it reaches the threshold. Saved as ``go_probes.json`` (``save``) beside the generator."""

    terms: list[str]
    names: list[str]
    scorer: str  # the ESM scorer whose ``layer_means`` the probes read
    mean: np.ndarray  # (T, D)
    scale: np.ndarray  # (T, D)
    coef: np.ndarray  # (T, D)
    intercept: np.ndarray  # (T,)
    thresholds: np.ndarray  # (T,)
    checks: dict
    fpr: float = 0.05  # the share of natural validation proteins without a term that its threshold calls positive

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(N, T) from (N, D) ``layer_means`` features."""
        return np.einsum("ntd,td->nt", (features[:, None, :] - self.mean) / self.scale, self.coef) + self.intercept

    def assign(self, scorer_model, sequences: Sequence[str]) -> list[list[str]]:
        """The terms the probes assign to each sequence."""
        calls = self.scores(layer_means(scorer_model, sequences)) >= self.thresholds
        return [[t for t, hit in zip(self.terms, row) if hit] for row in calls]

    def save(self, path: str | Path) -> Path:
        arrays = {k: np.round(getattr(self, k), 6).tolist() for k in ("mean", "scale", "coef", "intercept", "thresholds")}
        data = {"terms": self.terms, "names": self.names, "scorer": self.scorer, "checks": self.checks, "fpr": self.fpr, **arrays}
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProbeSet:
        data = json.loads(Path(path).read_text())
        arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept", "thresholds")}
        return cls(terms=data["terms"], names=data["names"], scorer=data["scorer"], checks=data["checks"], fpr=data["fpr"], **arrays)


def homology_terms(
    search: TrainingSearch, training_go: Sequence[Sequence[str]], sequences: Sequence[str], graph: GoGraph
) -> tuple[list[set[str]], list[float]]:
    """Per sequence: the GO terms (propagated) of its training hits with E < HOMOLOGY_EVALUE, and its highest
    identity to any training sequence (identical aligned residues over the shorter length; 0 with no hit)."""
    terms = [set() for _ in sequences]
    identity = [0.0] * len(sequences)
    fields = "query,target,qaln,taln,qlen,tlen,evalue"
    for line in search._search(sequences, fields, ["-e", "inf", "--threads", str(search.threads), "-v", "1"]):
        query, target, qaln, taln, qlen, tlen, evalue = line.split("\t")
        q = int(query)
        same = sum(a == b != "-" for a, b in zip(qaln, taln)) / min(int(qlen), int(tlen))
        identity[q] = max(identity[q], same)
        if float(evalue) < HOMOLOGY_EVALUE:
            terms[q] |= graph.propagate(training_go[int(target)])
    return terms, identity


def _rate(values) -> float:
    values = list(values)
    return float(sum(values) / len(values)) if values else 0.0


def _ratio(conditioned: float, baseline: float, n: int) -> float:
    """conditioned / baseline, the baseline floored at one design in n (a rate of 0 is below 1/n, not 0)."""
    return conditioned / max(baseline, 1.0 / n)


def _go_generator(model, device: torch.device | str):
    """The generator and its term vocabulary; a ValueError for a generator without one."""
    generator = load_generator(model, device)
    vocabulary = getattr(generator, "go_vocabulary", None)
    if vocabulary is None:
        raise ValueError(f"{model}: not a GO-conditioned generator (no go_terms.json)")
    return generator, vocabulary


def evaluate_go(
    data: str | Path,
    *,
    model: str | Path = DEFAULT_GO_MODEL,
    scorer: str | Path = DEFAULT_SCORER,
    config: GoEvalConfig = GoEvalConfig(),
    workdir: str | Path | None = None,
    device: torch.device | str = "cpu",
    save_probes: str | Path | None = None,
) -> dict:
    """The report described in the module docstring, JSON-ready: ``terms`` (a row per term), ``motifs``,
    ``summary``, ``settings``, ``seconds``. ``save_probes``: a file to save the fitted probes in."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    with _timed(seconds, "load"):
        corpus = load_corpus(Path(data))
        graph = default_graph()
        generator, vocabulary = _go_generator(model, device)
        for term in config.terms + tuple(t for t, _ in config.motif_pairs):
            vocabulary.check(term)
        for _, motif in config.motif_pairs:  # a motif that cannot fit fails now, not after the probes and designs
            try:
                place(parse_motifs([motif]), config.length, torch.Generator().manual_seed(0))
            except ValueError as error:
                raise DesignError(f"motif + term pair: {error} (--length {config.length})") from None
        scoring = load_scorer(scorer, device)
        esm = scoring.model
    with _timed(seconds, "probes"):
        probes = Probes(esm, config.terms, graph, corpus, config)
    if save_probes is not None:
        probes.probe_set(str(scorer) if isinstance(scorer, (str, Path)) else type(scorer).__name__).save(save_probes)

    def make(go: Sequence[str], guidance: float | None, motifs=(), num=config.num, seed=config.seed) -> list[str]:
        made = design(
            config.length, motifs, num, model=generator, scorer=None, steps=config.steps, sampler=config.sampler,
            go=go, guidance=guidance, seed=seed, device=device,
        )  # fmt: skip
        return [d.sequence for d in sorted(made, key=lambda d: d.sample)]

    with _timed(seconds, "designs"):
        unconditioned = make([config.terms[0]], 0.0)  # guidance 0: the terms are not attended
        conditioned = {term: make([term], config.guidance, seed=config.seed + 1 + i) for i, term in enumerate(config.terms)}
        compared = {
            weight: {term: make([term], weight, seed=config.seed + 1 + i) for i, term in enumerate(config.terms)}
            for weight in config.compare_guidance
        }  # fmt: skip
        motif_sets = {}
        for i, (term, motif) in enumerate(config.motif_pairs):
            seed = config.seed + 100 + i
            motif_sets[(term, motif)] = {
                "with_term": make([term], config.guidance, [motif], config.motif_num, seed),
                "motif_only": make([term], 0.0, [motif], config.motif_num, seed),
            }
    everything = unconditioned + [s for term in config.terms for s in conditioned[term]]
    everything += [s for pair in motif_sets.values() for s in pair["with_term"] + pair["motif_only"]]
    extra = [s for sets in compared.values() for term in config.terms for s in sets[term]]
    with _timed(seconds, "probe_calls"):
        calls = dict(zip(everything + extra, probes.calls(everything + extra)))  # sequence -> (terms,) bool
    with _timed(seconds, "pseudo_perplexity"):
        pppl = PseudoPerplexities(scoring)
        pppl(everything + extra)
    with tempfile.TemporaryDirectory(prefix="dlm-protein-eval-go-") as tmp:
        with _timed(seconds, "homology"):
            training = list(corpus["train"]["sequence"])
            search = TrainingSearch(training, Path(workdir or tmp), config.threads)
            found, identity = homology_terms(search, corpus["train"]["go"], everything, graph)
    homology = dict(zip(everything, found))
    novelty = dict(zip(everything, identity))

    rows = []
    for j, term in enumerate(config.terms):
        others = [s for other in config.terms if other != term for s in conditioned[other]]
        probe = {
            "conditioned": _rate(calls[s][j] for s in conditioned[term]),
            "unconditioned": _rate(calls[s][j] for s in unconditioned),
            "other_terms": _rate(calls[s][j] for s in others),
        }
        hom = {
            "conditioned": _rate(term in homology[s] for s in conditioned[term]),
            "unconditioned": _rate(term in homology[s] for s in unconditioned),
            "other_terms": _rate(term in homology[s] for s in others),
        }
        rows.append({
            "term": term,
            "name": graph.names.get(term, term),
            "namespace": graph.namespace(term),
            "probe": {**probe, "ratio_unconditioned": _ratio(probe["conditioned"], probe["unconditioned"], config.num),
                      "ratio_other_terms": _ratio(probe["conditioned"], probe["other_terms"], len(others)),
                      **probes.checks[term], **probes.fit_counts[term]},
            "homology": {**hom, "designs_with_any_hit": _rate(bool(homology[s]) for s in conditioned[term])},
            "novelty_median_max_identity": statistics.median(novelty[s] for s in conditioned[term]),
            "pseudo_perplexity_median": statistics.median(pppl(conditioned[term])),
        })  # fmt: skip
    compare = []
    for weight, sets in compared.items():
        terms = {}
        for j, term in enumerate(config.terms):
            rate = _rate(calls[s][j] for s in sets[term])
            terms[term] = {
                "conditioned": rate,
                "ratio_unconditioned": _ratio(rate, rows[j]["probe"]["unconditioned"], config.num),
                "pseudo_perplexity_median": statistics.median(pppl(sets[term])),
            }
        enriched_here = sum(t["ratio_unconditioned"] >= 3.0 for t in terms.values())
        compare.append({"guidance": weight, "terms": terms, "probe_enriched_3x_over_unconditioned": enriched_here})
    motifs = []
    for (term, motif), sets in motif_sets.items():
        j = config.terms.index(term) if term in config.terms else None
        entry = {"term": term, "name": graph.names.get(term, term), "motif": motif, "num": config.motif_num}
        for name, sequences in sets.items():
            entry[name] = {
                "motif_kept": _motif_kept(sequences, motif),
                "probe": None if j is None else _rate(calls[s][j] for s in sequences),
                "homology": _rate(term in homology[s] for s in sequences),
            }
        motifs.append(entry)
    enriched = sum(r["probe"]["ratio_unconditioned"] >= 3.0 for r in rows)
    summary = {
        "terms": len(rows),
        "probe_enriched_3x_over_unconditioned": enriched,
        "probe_enriched_3x_over_other_terms": sum(r["probe"]["ratio_other_terms"] >= 3.0 for r in rows),
        "homology_enriched_over_unconditioned": sum(r["homology"]["conditioned"] > r["homology"]["unconditioned"] for r in rows),
        "unconditioned_novelty_median_max_identity": statistics.median(novelty[s] for s in unconditioned),
        "unconditioned_pseudo_perplexity_median": statistics.median(pppl(unconditioned)),
        "conditioned_pseudo_perplexity_median": statistics.median(pppl([s for t in config.terms for s in conditioned[t]])),
    }
    seconds["total"] = round(time.monotonic() - started, 1)
    settings = {
        **asdict(config),
        "data": str(data),
        "model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
        "scorer": str(scorer) if isinstance(scorer, (str, Path)) else type(scorer).__name__,
        "device": str(device),
        "probe": (
            "per term: StandardScaler + LogisticRegression(C=0.1, class_weight='balanced') on the concatenated "
            f"per-layer residue means of the scorer; threshold: validation FPR {config.fpr:g}; AUROC on the test split"
        ),
        "homology": f"mmseqs easy-search against the training split; terms of hits with E < {HOMOLOGY_EVALUE:g}",
        "ratios": "conditioned rate / baseline rate, the baseline floored at 1/n",
    }
    return {
        "terms": rows, "motifs": motifs, "guidance_compare": compare, "summary": summary, "settings": settings,
        "seconds": seconds,
    }  # fmt: skip


def _motif_kept(sequences: Sequence[str], spec: str) -> float:
    """Share of the sequences holding the motif (X: any residue) inside its window ("START-END:RESIDUES"), or
    at its position ("POS:RESIDUES"), read from the sequences themselves."""
    window, residues = spec.split(":")
    start, _, end = window.partition("-")
    lo = int(start)
    hi = int(end) if end else lo + len(residues) - 1
    pattern = re.compile("(?=" + residues.replace("X", ".") + ")")
    return _rate(bool(pattern.search(s[lo - 1 : hi])) for s in sequences)


def format_go_report(report: Mapping) -> str:
    lines = ["GO conditioning: share of designs assigned the term (conditioned / unconditioned / other terms)"]
    lines.append(
        f"{'term':<11} {'name':<36} {'AUROC':>6} {'probe c/u/o':>17} {'x':>5} {'homology c/u/o':>17} {'id':>5} {'PPPL':>6}"
    )
    for r in report["terms"]:
        p, h = r["probe"], r["homology"]
        auc = "-" if p["test_auroc"] is None else f"{p['test_auroc']:.2f}"
        lines.append(
            f"{r['term']:<11} {r['name'][:36]:<36} {auc:>6} "
            f"{p['conditioned']:>5.2f}/{p['unconditioned']:.2f}/{p['other_terms']:.2f} {p['ratio_unconditioned']:>5.1f} "
            f"{h['conditioned']:>5.2f}/{h['unconditioned']:.2f}/{h['other_terms']:.2f} {r['novelty_median_max_identity']:>5.2f} "
            f"{r['pseudo_perplexity_median']:>6.2f}"
        )
    lines += ["", "motif + term (motif kept / probe / homology)"]
    for m in report["motifs"]:
        w, o = m["with_term"], m["motif_only"]
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(
            f"{m['term']} {m['name'][:28]:<28} {m['motif']:<16} with term {w['motif_kept']:.2f}/{fmt(w['probe'])}/{w['homology']:.2f}"
            f"  motif only {o['motif_kept']:.2f}/{fmt(o['probe'])}/{o['homology']:.2f}"
        )
    s = report["summary"]
    if report.get("guidance_compare"):
        lines += ["", "other guidance weights (same seeds; probe rate conditioned, x unconditioned, median PPPL)"]
    for c in report.get("guidance_compare", ()):
        cells = "  ".join(f"{t}: {v['conditioned']:.2f} {v['ratio_unconditioned']:.1f}x {v['pseudo_perplexity_median']:.1f}"
                          for t, v in c["terms"].items())  # fmt: skip
        lines.append(f"guidance {c['guidance']:g}: {c['probe_enriched_3x_over_unconditioned']} terms at 3x; {cells}")
    lines += [
        "",
        f"median PPPL: conditioned {s['conditioned_pseudo_perplexity_median']:.2f}, unconditioned "
        f"{s['unconditioned_pseudo_perplexity_median']:.2f}",
        f"probe: {s['probe_enriched_3x_over_unconditioned']} of {s['terms']} terms at least 3x the unconditioned rate, "
        f"{s['probe_enriched_3x_over_other_terms']} at least 3x the other terms' rate",
        f"settings: length {report['settings']['length']}, {report['settings']['num']} designs a set, guidance "
        f"{report['settings']['guidance']}, sampler {report['settings']['sampler']}; "
        f"{report['seconds']['total']:.0f} s",
    ]
    return "\n".join(lines)


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
    generator_model, vocabulary = _go_generator(model, device)
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
    spec = generator_model.spec
    room = spec.max_len - vocabulary.slots
    weights = torch.tensor([t.count for t in vocabulary.terms], dtype=torch.float64).pow(-term_weight_power)
    schedule_name = "loglinear"  # the trainer's default, for a model without its training record
    if isinstance(model, (str, Path)) and (record := resolve(model) / "training.json").is_file():
        schedule_name = json.loads(record.read_text())["train_config"].get("schedule", schedule_name)
    schedule = get_schedule(schedule_name)
    forward = residues_only(generator_model.eval(), vocabulary.first_token)
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

"""Per-term probes: does a protein have a GO term, judged from the shipped ESM scorer's embeddings alone
(one of the two annotators of ``dlm-protein eval go``, independent of the generator).

Per term, a logistic regression on the scorer's mean embeddings (every layer's mean over the residues,
concatenated, standardised), fit on training proteins (a seeded random sample plus enough carriers of each
term), with classes weighted to balance. Its threshold is set on the validation split so that ``fpr`` of the
natural proteins without the term are called positive; its AUROC is reported on the test split. A sequence
"has the term" when its probe score reaches the threshold. ``ProbeSet`` is the fitted probes as plain arrays,
saved beside a GO generator as ``PROBES_FILE`` (the dashboard reads it without scikit-learn).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from apps.protein.go import GoGraph
from apps.protein.scoring import batch_indices, encode, pad_batch

PROBES_FILE = "go_probes.json"
"""The fitted probes, saved beside a GO generator by ``dlm-protein eval go --save-probes``."""


@dataclass(frozen=True)
class ProbeConfig:
    """Which proteins the probes are fit, thresholded and checked on."""

    sample: int = 6000  # random training proteins the probes are fit on
    positives: int = 600  # carriers of each term added to them (at least)
    heldout: int = 2000  # validation proteins (thresholds) and test proteins (AUROC), each at most
    max_length: int = 500  # proteins longer than this are left out of the probe sets
    fpr: float = 0.05


@torch.inference_mode()
def layer_means(model, sequences: Sequence[str], max_tokens: int = 8192) -> np.ndarray:
    """(N, layers * E): each layer's output (embedding layer excluded) averaged over each sequence's residues."""
    layers = list(range(1, model.num_layers + 1))
    device = next(model.parameters()).device
    encoded = [encode(model, s) for s in sequences]
    out = np.empty((len(sequences), len(layers) * model.embed_dim), dtype=np.float32)
    for batch in batch_indices([len(ids) for ids in encoded], max_tokens):
        ids = pad_batch(model, [encoded[s] for s in batch], device)  # (B, T)
        reps = model(ids, repr_layers=layers)["representations"]
        residues = ((ids != model.padding_idx) & (ids != model.cls_idx) & (ids != model.eos_idx))[..., None]
        pooled = [(reps[layer].float() * residues).sum(1) / residues.sum(1) for layer in layers]  # each (B, E)
        out[batch] = torch.cat(pooled, -1).cpu().numpy()
    return out


class Probes:
    """One logistic regression per term on ``layer_means`` features (see the module docstring); ``seed`` draws
    the proteins they are fit and checked on."""

    def __init__(self, scorer_model, terms: Sequence[str], graph: GoGraph, corpus, config: ProbeConfig, seed: int = 0):
        from sklearn.linear_model import (
            LogisticRegression,  # scikit-learn only where probes are fitted
        )
        from sklearn.metrics import roc_auc_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model, self.terms, self.graph, self.fpr = scorer_model, list(terms), graph, config.fpr
        rng = random.Random(seed)
        train = corpus["train"]
        short = [i for i, n in enumerate(train["length"]) if n <= config.max_length]
        labels_all = [self._labels(go) for go in train["go"]]
        pool = set(rng.sample(short, min(config.sample, len(short))))
        for j in range(len(self.terms)):
            carriers = [i for i in short if labels_all[i][j]]
            have = sum(labels_all[i][j] for i in pool)
            pool.update(rng.sample(carriers, min(max(config.positives - have, 0), len(carriers))))
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

    def _heldout(self, split, config: ProbeConfig, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        rows = [i for i, n in enumerate(split["length"]) if n <= config.max_length]
        rows = sorted(rng.sample(rows, min(config.heldout, len(rows))))
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

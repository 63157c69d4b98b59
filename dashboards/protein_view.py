"""What the protein page computes apart from Streamlit: the form's settings as a DesignConfig, the request
checked before any model loads, the designs and the natural sequences as tables, their embedding map, and the
FASTA and CSV downloads."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from apps.protein import (
    Design,
    DesignConfig,
    Record,
    Scorer,
    design_record,
    embed,
    embedding_similarity,
    format_fasta,
    parse_motifs,
    place,
    properties,
    read_fasta,
)
from shared_dlm import strategy_options

PROPERTIES = ("length", "molecular_weight", "isoelectric_point", "gravy", "instability_index", "aromaticity")
SCORES = ("pseudo_perplexity", "mean_log_prob", "embedding_similarity", "generator_log_prob", "motif_recovery")
COMPARED = ("pseudo_perplexity", "mean_log_prob", "embedding_similarity", *PROPERTIES[1:])
"""What the distributions compare between designs and natural sequences (those both sets have)."""
MAX_NATURAL = 200
"""Natural sequences scored at most: pseudo-perplexity costs one forward pass per residue."""


def form_config(inputs: Mapping) -> DesignConfig:
    """The one place the form's values become a DesignConfig: 0 steps is one step a generated residue, a
    remasking threshold of 0 none; the guidance weight counts only with GO terms, the order noise only for a
    sampler that ranks positions. A DesignError names a bad value."""
    go = tuple(inputs["go"])
    return DesignConfig(
        num=inputs["num"], sampler=inputs["sampler"], steps=inputs["steps"] or None, temperature=inputs["temperature"],
        order_noise=inputs["order_noise"] if "order_noise" in strategy_options(inputs["sampler"]) else None,
        cache=inputs["cache"], forbid=inputs["forbid"], esm_remask=inputs["remask"] or None, go=go,
        guidance=inputs["guidance"] if go else None, seed=inputs["seed"],
    )  # fmt: skip


def check_request(length: int, motifs: str, config: DesignConfig) -> list[str]:
    """The motif specs, one a line (commas also separate them), checked against the length and the forbidden
    residues as ``design`` would check them, before any model is loaded: a ValueError names what is wrong."""
    specs = [line.strip() for line in motifs.splitlines() if line.strip()]
    place(parse_motifs(specs), length, torch.Generator().manual_seed(config.seed), forbid=config.forbid)
    return specs


def read_fasta_upload(name: str, data: bytes) -> list[Record]:
    """The records of an uploaded FASTA file; errors name the upload, not the temporary copy read."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.fasta"
        path.write_bytes(data)
        try:
            return read_fasta(path)
        except ValueError as error:
            raise ValueError(str(error).replace(str(path), name)) from None


@dataclass
class Natural:
    """The natural sequences compared against: scores and properties, and ESM-2 embeddings."""

    table: pd.DataFrame  # one row a sequence: id, ESM-2 scores (with a scorer), PROPERTIES
    embeddings: np.ndarray | None  # (M, E); None without a scorer
    left_out: int  # sequences past MAX_NATURAL, not scored


def natural_profile(records: Sequence[Record], scorer: Scorer | None) -> Natural:
    """Scores and properties of the natural sequences; their ``embedding_similarity`` is to their own
    centroid, the one the designs are compared with."""
    kept = list(records[:MAX_NATURAL])
    sequences = [r.sequence for r in kept]
    rows = [
        {"id": r.id, **{k: v for k, v in properties(r.sequence).as_dict().items() if k in PROPERTIES}} for r in kept
    ]
    embeddings = None
    if scorer is not None:
        embeddings = embed(scorer.model, sequences, scorer.max_tokens)  # (M, E)
        similarity = embedding_similarity(embeddings, embeddings).tolist()
        for row, scores, value in zip(rows, scorer.score(sequences), similarity):
            row.update(scores, embedding_similarity=value)
        embeddings = embeddings.numpy()
    return Natural(pd.DataFrame(rows), embeddings, len(records) - len(kept))


def design_table(
    designs: Sequence[Design], full: bool = False, assigned: Sequence[Sequence[str]] | None = None
) -> pd.DataFrame:
    """One row a design: rank, sequence, placed motifs, scores and properties (``full``: every property,
    composition included, for the CSV); with GO terms, those it was conditioned on and, with ``assigned``
    (one list a design, in the designs' order), the terms the probes assign it."""
    rows = []
    conditioned = any(d.go for d in designs)
    for i, d in enumerate(designs):
        values = dict(d.properties) if full else {k: d.properties[k] for k in PROPERTIES}
        motifs = ", ".join(f"{m.spec} at {m.start}-{m.end}" for m in d.motifs)
        scores = {k: d.scores[k] for k in SCORES if k in d.scores}
        terms = {"go": ", ".join(d.go)} if conditioned else {}
        if assigned is not None:
            terms["probe_terms"] = ", ".join(assigned[i])
        rows.append({"rank": d.rank, "sample": d.sample, **scores, **values, **terms, "motifs": motifs, "sequence": d.sequence})
    return pd.DataFrame(rows)


def term_label(term) -> str:
    """How the term picker shows a vocabulary term; ``term_id`` reads the id back."""
    return f"{term.id} · {term.name}"


def term_id(label: str) -> str:
    return label.split(" ", 1)[0]


def residue_table(designs: Sequence[Design]) -> pd.DataFrame:
    """One row a residue of a design: its position, whether a motif placed it, and its confidences (the
    generator's log-probability when committed, NaN at fixed motif residues; ESM-2's, NaN without a scorer)."""
    rows = []
    for d in designs:
        fixed = {p for m in d.motifs for p, r in enumerate(m.residues, start=m.start) if r != "X"}
        motif = {p for m in d.motifs for p in range(m.start, m.end + 1)}
        esm = d.esm_log_probs or [float("nan")] * len(d.sequence)
        for p, (residue, generated, scored) in enumerate(zip(d.sequence, d.confidence, esm), start=1):
            rows.append(
                {
                    "rank": d.rank,
                    "position": p,
                    "residue": residue,
                    "motif": p in motif,
                    "generator_log_prob": float("nan") if p in fixed else generated,
                    "esm_log_prob": scored,
                }
            )
    return pd.DataFrame(rows)


def compared(designs: pd.DataFrame, natural: pd.DataFrame) -> pd.DataFrame:
    """Long table (set, metric, value) of the measures both sets have, for their distributions."""
    frames = []
    for name, table in (("design", designs), ("natural", natural)):
        columns = [c for c in COMPARED if c in designs.columns and c in natural.columns]
        long = table[columns].melt(var_name="metric", value_name="value")
        frames.append(long.assign(set=name))
    return pd.concat(frames, ignore_index=True)


def pca(points: np.ndarray, components: int = 2) -> np.ndarray:
    """(N, components) coordinates of (N, E) points on their principal axes (SVD of the centred points)."""
    centred = points - points.mean(0, keepdims=True)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    coordinates = u[:, :components] * s[:components]
    return np.pad(coordinates, ((0, 0), (0, components - coordinates.shape[1])))


def fasta_text(designs: Sequence[Design], config: DesignConfig) -> str:
    """The designs as FASTA, headers as ``dlm-protein design`` writes them."""
    return format_fasta(design_record(d, config) for d in designs)

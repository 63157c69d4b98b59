"""The protein app's evaluation run (``dlm-protein eval design``): is the ESM-2 scorer a fair judge, and how
protein-like, diverse and novel are the generator's designs? Every quality figure stands beside trivial
baselines measured alike.

* Scorer check: the scorer's pseudo-perplexity (PPPL) of natural sequences against the same sequences
  with their residues shuffled, on the test split (no relative in training, by construction of the corpus)
  and on the external set (``external.py``) less the sequences identical to a training sequence and those
  with a training relative (``homology.options``: >= 30% identity over 80% of both, as the corpus split).
  A scorer that cannot tell a protein from its shuffle cannot rank designs.
* Generation: designs with no motifs, one for each natural test sequence of the set and of its length;
  the baselines of the same lengths (``baselines.py``): i.i.d. residues from the training composition (a
  unigram model), a residue trigram model, the natural sequences and their shuffles. Per set (``metrics.py``):
  PPPL, the KL divergence of the set's residue composition from the test split's, diversity (mean pairwise
  identity within the set) and novelty (highest identity to a training sequence, ``homology.TrainingSearch``).
  ``compare_temperatures`` adds design sets sampled at other temperatures, made and measured alike, so a
  sampling setting is judged beside the same baselines.

The report's text form is ``report.format_report``.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from datasets import DatasetDict, load_from_disk

from apps.protein.baselines import NGRAM_ADD_K, NGRAM_ORDER, baseline_sets, shuffled
from apps.protein.corpus import SPLITS, CorpusConfig, CorpusError
from apps.protein.design import (
    DEFAULT_MODEL,
    DEFAULT_SAMPLER,
    DEFAULT_SCORER,
    DesignConfig,
    Generator,
    design,
    load_generator,
    load_scorer,
)
from apps.protein.external import EXTERNAL_TEST_FASTA, external_test_set
from apps.protein.homology import NOVELTY_EVALUE, TrainingSearch
from apps.protein.homology import options as relative_options
from apps.protein.metrics import DIVERSITY_SEQUENCES, PseudoPerplexities, set_summary, shuffle_pairs_fraction
from apps.protein.report import named, timed
from apps.protein.scoring import Scorer

EXTERNAL_CANDIDATES = 10  # external sequences searched for training relatives, per one wanted (70-85% have one)
SETS = ("designs", "unigram", "ngram", "natural", "shuffled")


@dataclass(frozen=True)
class EvalConfig:
    """What ``evaluate`` samples and how the designs are made (``design``'s defaults)."""

    num_natural: int = 200  # sequences a scorer-check set
    num_designs: int = 64  # sequences a generation set
    max_length: int = 400  # residues: exact PPPL costs L forward passes of L tokens a sequence
    seed: int = 0
    steps: int | None = None
    sampler: str = DEFAULT_SAMPLER
    temperature: float = 1.0
    # further design sets, one a temperature, made and measured exactly as ``designs`` (``designs_t0.8``...)
    compare_temperatures: tuple[float, ...] = ()
    threads: int = 2  # mmseqs

    def __post_init__(self) -> None:
        if self.num_natural < 1:
            raise ValueError(f"num_natural must be at least 1, got {self.num_natural}")
        if self.num_designs < 2:
            raise ValueError(f"num_designs must be at least 2 (diversity compares pairs), got {self.num_designs}")
        if self.max_length < CorpusConfig.min_len:
            raise ValueError(f"max_length must be at least the corpus's min_len {CorpusConfig.min_len}, got {self.max_length}")
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        for temperature in (self.temperature, *self.compare_temperatures):
            self.design_config(temperature)  # refuses a bad sampler, step count or temperature
        if len(set(self.compare_temperatures) | {self.temperature}) != len(self.compare_temperatures) + 1:
            raise ValueError(
                f"compare_temperatures {list(self.compare_temperatures)} repeats a temperature "
                f"(the main designs use {self.temperature})"
            )

    def design_config(self, temperature: float) -> DesignConfig:
        """How a design set at ``temperature`` is made (``make_designs`` sets its size and seed a length)."""
        return DesignConfig(sampler=self.sampler, steps=self.steps, temperature=temperature, seed=self.seed)

    def design_sets(self) -> dict[str, float]:
        """The name of each design set and its sampling temperature, the main set first."""
        return {"designs": self.temperature, **{f"designs_t{t:g}": t for t in self.compare_temperatures}}


def sample_sequences(sequences: Sequence[str], max_length: int, seed: int) -> list[str]:
    """Every sequence of at most ``max_length`` residues, in a seeded random order (take a prefix)."""
    kept = [s for s in sequences if len(s) <= max_length]
    random.Random(seed).shuffle(kept)
    return kept


def load_corpus(data: Path) -> DatasetDict:
    """The corpus written by ``dlm-protein corpus``; a CorpusError that says what is missing."""
    data = Path(data)
    if not (data / "dataset_dict.json").is_file():
        raise CorpusError(f"{data}: not a corpus folder (no dataset_dict.json); build one with `dlm-protein corpus`")
    corpus = load_from_disk(str(data))
    for split in SPLITS:
        if split not in corpus or "sequence" not in corpus[split].column_names:
            raise CorpusError(f"{data}: expected the splits {', '.join(SPLITS)} with a 'sequence' column, got {corpus}")
    return corpus


def scorer_check(natural: Sequence[str], pppl: PseudoPerplexities, seed: int) -> dict:
    """Natural against shuffled PPPL over a set of natural sequences."""
    ours, theirs = pppl(natural), pppl([shuffled(s, seed) for s in natural])
    return {
        "n": len(natural),
        "natural_lower_fraction": shuffle_pairs_fraction(ours, theirs),
        "median_pppl_natural": statistics.median(ours),
        "median_pppl_shuffled": statistics.median(theirs),
    }


def external_sample(
    external: Sequence[str], training: set[str], search: TrainingSearch, config: EvalConfig
) -> tuple[list[str], dict[str, int]]:
    """Up to ``num_natural`` external sequences with neither an identical sequence nor a relative in training,
    and how many were dropped on the way."""
    novel = [s for s in external if s not in training]
    candidates = sample_sequences(novel, config.max_length, config.seed)[: EXTERNAL_CANDIDATES * config.num_natural]
    related = search.relatives(candidates, CorpusConfig.identity, CorpusConfig.coverage)
    kept = [s for i, s in enumerate(candidates) if i not in related][: config.num_natural]
    counts = {
        "external_sequences": len(external),
        "identical_to_training_removed": len(external) - len(novel),
        "searched_for_relatives": len(candidates),
        "with_training_relative_removed": len(related),
    }
    return kept, counts


def designed(
    length: int, motifs: Sequence[str], config: DesignConfig, generator: Generator, device: torch.device | str
) -> list[str]:
    """The sequences of one ``design`` call without a scorer, in sample order (not ranked): with the seed, the
    order that reproduces each."""
    made = design(length, motifs, config, generator=generator, scorer=None, device=device)
    return [d.sequence for d in sorted(made, key=lambda d: d.sample)]


def make_designs(generator: Generator, lengths: Sequence[int], config: DesignConfig, device: torch.device | str) -> list[str]:
    """One unconstrained design of each length, in order; one ``design`` call a distinct length, seeded
    with ``config.seed`` plus the length's rank among the distinct lengths."""
    by_length = {
        length: designed(length, (), replace(config, num=lengths.count(length), seed=config.seed + rank), generator, device)
        for rank, length in enumerate(sorted(set(lengths)))
    }
    return [by_length[length].pop(0) for length in lengths]


def evaluate(
    data: str | Path,
    *,
    model: str | Path | Generator = DEFAULT_MODEL,
    scorer: str | Path | Scorer = DEFAULT_SCORER,
    config: EvalConfig = EvalConfig(),
    workdir: str | Path | None = None,
    external: Path = EXTERNAL_TEST_FASTA,
    device: torch.device | str = "cpu",
    window: int | None | str = "trained",
) -> dict:
    """The scorer check and the generation figures (see the module docstring) as one JSON-ready report:
    ``scorer_check`` {test, external}, ``generation`` {designs, unigram, ngram, natural, shuffled},
    ``settings`` and ``seconds``. ``workdir`` keeps the training search database between runs; ``window``:
    the scorer's pseudo-likelihood window (see ``Scorer``)."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    with timed(seconds, "load"):
        corpus = load_corpus(Path(data))
        training = list(corpus["train"]["sequence"])
        test = list(corpus["test"]["sequence"])
        external_sequences = list(external_test_set(external)["sequence"])
        esm_scorer = load_scorer(scorer, device, window=window)
        generator = load_generator(model, device)
    longest = min(config.max_length, generator.spec.max_len - 2)  # <cls> and <eos> take two positions
    with tempfile.TemporaryDirectory(prefix="dlm-protein-eval-") as tmp:
        with timed(seconds, "training_search"):
            search = TrainingSearch(training, Path(workdir or tmp), config.threads)
            outside, external_counts = external_sample(external_sequences, set(training), search, config)
        pppl = PseudoPerplexities(esm_scorer)
        test_order = sample_sequences(test, config.max_length, config.seed)
        with timed(seconds, "scorer_check"):
            checks = {
                "test": scorer_check(test_order[: config.num_natural], pppl, config.seed),
                "external": {**scorer_check(outside, pppl, config.seed), **external_counts} if outside else external_counts,
            }
        natural = [s for s in test_order if len(s) <= longest][: config.num_designs]
        with timed(seconds, "designs"):
            sets = {
                name: make_designs(generator, [len(s) for s in natural], config.design_config(t), device)
                for name, t in config.design_sets().items()
            }
        with timed(seconds, "baselines"):
            baselines, fit_on = baseline_sets(training, natural, config.seed)
            sets.update(baselines)
        generation = measure_sets(sets, pppl, search, test, seconds)
    seconds["total"] = round(time.monotonic() - started, 1)
    settings = {
        **asdict(config),
        "data": str(data),
        "model": named(model),
        "scorer": named(scorer),
        "scorer_window": esm_scorer.window,
        "device": str(device),
        "generator_max_residues": generator.spec.max_len - 2,
        "generation_max_length": longest,
        "external": str(external),
        **method_settings(config, fit_on, len(test)),
    }
    return {"scorer_check": checks, "generation": generation, "settings": settings, "seconds": seconds}


def measure_sets(
    sets: dict[str, list[str]], pppl: PseudoPerplexities, search: TrainingSearch, reference: Sequence[str],
    seconds: dict[str, float],
) -> dict[str, dict]:  # fmt: skip
    """``set_summary`` of each set, in order; the novelty of all of them from one training search."""
    with timed(seconds, "generation_pppl"):
        perplexities = {name: pppl(sequences) for name, sequences in sets.items()}
    with timed(seconds, "novelty"):
        pooled = search.novelty([s for name in sets for s in sets[name]])
    with timed(seconds, "summaries"):
        generation, at = {}, 0
        for name in sets:
            novelty, at = pooled[at : at + len(sets[name])], at + len(sets[name])
            generation[name] = set_summary(sets[name], perplexities[name], novelty, reference)
    return generation


def method_settings(config: EvalConfig, fit_on: int, test_sequences: int) -> dict[str, str]:
    """How each figure of the report was measured, in words, for its settings."""
    return {
        "relatives": "mmseqs easy-search " + " ".join(relative_options(CorpusConfig.identity, CorpusConfig.coverage, config.threads)),
        "ngram": (
            f"order {NGRAM_ORDER}, add-{NGRAM_ADD_K:g} smoothing; unigram and n-gram fit on {fit_on} training sequences "
            "(seeded sample)"
        ),
        "composition_reference": f"the test split ({test_sequences} sequences), add-one smoothed, KL in bits",
        "diversity": (
            f"all pairs of the first {DIVERSITY_SEQUENCES} of a set: global alignment with free end gaps "
            "(Biopython PairwiseAligner, BLOSUM62, gaps -11/-1), identical residues over the shorter length"
        ),
        "novelty": (
            "mmseqs easy-search against the training split, -e inf: highest identity (identical aligned residues "
            f"over the shorter length, 0 with no alignment); no hit: no alignment with E-value < {NOVELTY_EVALUE:g}"
        ),
    }

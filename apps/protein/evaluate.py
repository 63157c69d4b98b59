"""The protein app's evaluation: is the ESM-2 scorer a fair judge, and how protein-like, diverse and novel
are the generator's designs? Every quality figure stands beside trivial baselines measured alike.

* Scorer check: the scorer's pseudo-perplexity (PPPL) of natural sequences against the same sequences
  with their residues shuffled, on the test split (no relative in training, by construction of the corpus)
  and on the external set (``external.py``) less the sequences identical to a training sequence and those
  with a training relative (``homology.options``: >= 30% identity over 80% of both, as the corpus split).
  A scorer that cannot tell a protein from its shuffle cannot rank designs.
* Generation: designs with no motifs, one for each natural test sequence of the set and of its length;
  baselines of the same lengths: i.i.d. residues from the training composition (a unigram model), a
  residue trigram model, the natural sequences and their shuffles. Per set: PPPL, the KL divergence of the
  set's residue composition from the test split's, diversity (mean pairwise identity within the set) and
  novelty (highest identity to a training sequence). Identity is ``properties.identity``'s: identical
  aligned residues over the shorter sequence's length. ``compare_temperatures`` adds design sets sampled
  at other temperatures, made and measured alike, so a sampling setting is judged beside the same baselines.

The training set is searched with MMseqs2 (Steinegger and Söding 2017) through a database built once in
a work folder (``TrainingSearch``), which caches it across runs when the folder is kept.
"""

from __future__ import annotations

import hashlib
import math
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict, load_from_disk

from apps.protein.alphabet import STANDARD_RESIDUES
from apps.protein.corpus import SPLITS, CorpusConfig, CorpusError
from apps.protein.design import DEFAULT_MODEL, DEFAULT_SAMPLER, DEFAULT_SCORER, design, load_generator, load_scorer
from apps.protein.external import EXTERNAL_TEST_FASTA, external_test_set
from apps.protein.homology import options as relative_options
from apps.protein.properties import composition_kl, mean_pairwise_identity
from apps.protein.scoring import Scorer
from apps.protein.tools import run
from shared_dlm import SamplerConfig, SupportsDenoise, make_strategy

NGRAM_ORDER = 3
NGRAM_FIT_SEQUENCES = 20_000  # training sequences the baselines are fit on (a seeded sample)
NGRAM_ADD_K = 1.0
DIVERSITY_SEQUENCES = 50  # all pairs of the first 50 of a set (1,225 alignments)
EXTERNAL_CANDIDATES = 10  # external sequences searched for training relatives, per one wanted (70-85% have one)
NOVELTY_EVALUE = 1e-3  # a training hit below this E-value counts as a hit (mmseqs's default threshold)
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
        steps = 1 if self.steps is None else self.steps  # None: one a residue, always valid
        for temperature in (self.temperature, *self.compare_temperatures):
            SamplerConfig(steps=steps, strategy=make_strategy(self.sampler), temperature=temperature).validate()
        if len(set(self.compare_temperatures) | {self.temperature}) != len(self.compare_temperatures) + 1:
            raise ValueError(
                f"compare_temperatures {list(self.compare_temperatures)} repeats a temperature "
                f"(the main designs use {self.temperature})"
            )

    def design_sets(self) -> dict[str, float]:
        """The name of each design set and its sampling temperature, the main set first."""
        return {"designs": self.temperature, **{f"designs_t{t:g}": t for t in self.compare_temperatures}}


def shuffled(sequence: str, seed: int) -> str:
    """The residues of ``sequence`` in a random order that depends only on ``seed`` and the sequence
    (``random`` seeds from a string with SHA-512), so a sequence shuffles alike wherever it is met."""
    residues = list(sequence)
    random.Random(f"{seed}:{sequence}").shuffle(residues)
    return "".join(residues)


def shuffle_pairs_fraction(natural: Sequence[float], shuffled_: Sequence[float]) -> float:
    """Share of pairs whose natural sequence has the lower pseudo-perplexity than its shuffle."""
    if len(natural) != len(shuffled_) or not natural:
        raise ValueError(f"need one shuffled value for each of at least one natural, got {len(shuffled_)} for {len(natural)}")
    return sum(n < s for n, s in zip(natural, shuffled_)) / len(natural)


def kl_bits(sequences: Sequence[str], reference: Sequence[str]) -> float:
    """KL(set || reference) of the pooled residue compositions in bits, add-one smoothed (``composition_kl``)."""
    return composition_kl(sequences, reference) / math.log(2)


def diversity(sequences: Sequence[str]) -> float:
    """Mean identity over all pairs of the first ``DIVERSITY_SEQUENCES`` (lower is more diverse)."""
    first = sequences[:DIVERSITY_SEQUENCES]
    return mean_pairwise_identity(first, max_pairs=len(first) * (len(first) - 1) // 2)


class NGramModel:
    """P(residue | the previous order - 1 residues) with add-k smoothing (Chen and Goodman 1999, sec. 2.1),
    sampled left to right from a start context; order 1 is i.i.d. residues from the fitted composition."""

    START = len(STANDARD_RESIDUES)  # the context symbol before the first residue

    def __init__(self, order: int, probs: np.ndarray):
        assert probs.shape == ((len(STANDARD_RESIDUES) + 1) ** (order - 1), len(STANDARD_RESIDUES))
        self.order = order
        self.probs = probs  # (contexts, 20): a context's symbols in base 21, the latest the lowest digit

    @classmethod
    def fit(cls, sequences: Sequence[str], order: int = NGRAM_ORDER, add_k: float = NGRAM_ADD_K) -> NGramModel:
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if add_k <= 0:
            raise ValueError(f"add_k must be positive, got {add_k}")
        if not sequences:
            raise ValueError("cannot fit an n-gram model on no sequences")
        start = "^"  # stands for START in the text; the padding before each sequence keeps contexts apart
        text = "".join(start * (order - 1) + s for s in sequences)
        if set(text) - set(STANDARD_RESIDUES + start) or text.count(start) != (order - 1) * len(sequences):
            raise ValueError(f"n-gram sequences must hold only the standard residues {STANDARD_RESIDUES}")
        code = np.zeros(256, dtype=np.int64)
        code[list(STANDARD_RESIDUES.encode())] = range(len(STANDARD_RESIDUES))
        code[ord(start)] = cls.START
        symbols = code[np.frombuffer(text.encode(), dtype=np.uint8)]
        at = np.flatnonzero(symbols != cls.START)  # positions of residues
        context = np.zeros_like(at)
        for back in range(order - 1, 0, -1):
            context = context * (cls.START + 1) + symbols[at - back]
        rows, width = (cls.START + 1) ** (order - 1), len(STANDARD_RESIDUES)
        counts = np.bincount(context * width + symbols[at], minlength=rows * width).reshape(rows, width) + add_k
        return cls(order, counts / counts.sum(1, keepdims=True))

    def sample(self, lengths: Sequence[int], rng: np.random.Generator) -> list[str]:
        """One sequence of each length, all drawn together position by position (inverse-CDF)."""
        if not lengths:
            return []
        rows = len(self.probs)
        context = np.zeros(len(lengths), dtype=np.int64)
        for _ in range(self.order - 1):
            context = context * (self.START + 1) + self.START
        cdf = self.probs.cumsum(1)  # (contexts, 20)
        drawn = np.empty((len(lengths), max(lengths)), dtype=np.int64)  # (B, longest)
        for t in range(drawn.shape[1]):
            u = rng.random(len(lengths))
            residue = np.minimum((u[:, None] > cdf[context]).sum(1), len(STANDARD_RESIDUES) - 1)
            drawn[:, t] = residue
            context = (context * (self.START + 1) + residue) % rows
        return ["".join(STANDARD_RESIDUES[r] for r in row[:length]) for row, length in zip(drawn, lengths)]


class TrainingSearch:
    """MMseqs2 searches of query sequences against the training split, through a FASTA file and a database
    written once under ``workdir`` (named by a hash of the sequences, so a changed corpus gets its own)."""

    def __init__(self, training: Sequence[str], workdir: Path, threads: int = 2):
        digest = hashlib.sha256()
        for sequence in training:
            digest.update(sequence.encode() + b"\n")
        self.folder = Path(workdir) / f"train-{digest.hexdigest()[:16]}"
        self.database = self.folder / "train.db"
        self.threads = threads
        if not self.folder.is_dir():
            self._build(training)

    def _build(self, training: Sequence[str]) -> None:
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.building-", dir=self.folder.parent))
        try:
            _write_fasta(training, building / "train.fasta")
            run(["mmseqs", "createdb", str(building / "train.fasta"), str(building / "train.db"), "-v", "1"])
            building.rename(self.folder)  # whole or not at all
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def relatives(self, queries: Sequence[str], identity: float, coverage: float) -> set[int]:
        """Indices of the queries with a training relative at ``identity`` over ``coverage`` of both."""
        hits = self._search(queries, "query", relative_options(identity, coverage, self.threads))
        return {int(line) for line in hits}

    def novelty(self, queries: Sequence[str]) -> list[tuple[float, bool]]:
        """Per query: its highest identity to a training sequence over every alignment MMseqs2 reports
        (0.0 where none), and whether any hit has an E-value below ``NOVELTY_EVALUE``. MMseqs2 masks
        low-complexity regions, so a repeat such as LLLL... finds nothing: read novelty beside diversity."""
        best = [(0.0, False)] * len(queries)
        fields = "query,qaln,taln,qlen,tlen,evalue"
        for line in self._search(queries, fields, ["-e", "inf", "--threads", str(self.threads), "-v", "1"]):
            query, qaln, taln, qlen, tlen, evalue = line.split("\t")
            # counted from the aligned strings, as properties.novelty does: mmseqs 14's `nident` reads 0
            same = sum(a == b != "-" for a, b in zip(qaln, taln)) / min(int(qlen), int(tlen))
            q = int(query)
            best[q] = (max(best[q][0], same), best[q][1] or float(evalue) < NOVELTY_EVALUE)
        return best

    def _search(self, queries: Sequence[str], fields: str, options: list[str]) -> list[str]:
        if not queries:
            return []
        with tempfile.TemporaryDirectory(prefix="search-", dir=self.folder) as tmp:
            work = Path(tmp)
            _write_fasta(queries, work / "queries.fasta")
            run(
                ["mmseqs", "easy-search", str(work / "queries.fasta"), str(self.database), str(work / "hits.m8"),
                 str(work / "tmp"), *options, "--format-output", fields]
            )  # fmt: skip
            return (work / "hits.m8").read_text().splitlines()


def _write_fasta(sequences: Sequence[str], path: Path) -> None:
    with path.open("w") as out:
        for index, sequence in enumerate(sequences):
            out.write(f">{index}\n{sequence}\n")


def sample_sequences(sequences: Sequence[str], max_length: int, seed: int) -> list[str]:
    """Every sequence of at most ``max_length`` residues, in a seeded random order (take a prefix)."""
    kept = [s for s in sequences if len(s) <= max_length]
    random.Random(seed).shuffle(kept)
    return kept


class PseudoPerplexities:
    """The scorer's PPPL of sequences, each computed once however often it is asked for."""

    def __init__(self, scorer: Scorer):
        self.scorer = scorer
        self.known: dict[str, float] = {}

    def __call__(self, sequences: Sequence[str]) -> list[float]:
        new = list(dict.fromkeys(s for s in sequences if s not in self.known))
        for sequence, score in zip(new, self.scorer.score(new)):
            self.known[sequence] = score["pseudo_perplexity"]
        return [self.known[s] for s in sequences]


def scorer_check(natural: Sequence[str], pppl: PseudoPerplexities, seed: int) -> dict:
    """Natural against shuffled PPPL over a set of natural sequences."""
    ours, theirs = pppl(natural), pppl([shuffled(s, seed) for s in natural])
    return {
        "n": len(natural),
        "natural_lower_fraction": shuffle_pairs_fraction(ours, theirs),
        "median_pppl_natural": statistics.median(ours),
        "median_pppl_shuffled": statistics.median(theirs),
    }


def set_summary(
    sequences: Sequence[str], pppl: Sequence[float], novelty: Sequence[tuple[float, bool]], reference: Sequence[str]
) -> dict:
    """The generation figures of one set; ``reference``: the natural sequences whose composition is the target."""
    return {
        "n": len(sequences),
        "median_length": statistics.median(len(s) for s in sequences),
        "median_pppl": statistics.median(pppl),
        "mean_pppl": statistics.fmean(pppl),
        "kl_bits": kl_bits(sequences, reference),
        "mean_pairwise_identity": diversity(sequences),
        "mean_max_train_identity": statistics.fmean(identity for identity, _ in novelty),
        "no_hit_fraction": sum(not hit for _, hit in novelty) / len(novelty),
    }


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


def make_designs(
    generator: SupportsDenoise, lengths: Sequence[int], config: EvalConfig, device: torch.device | str
) -> list[str]:
    """One unconstrained design of each length, in order; one ``design`` call a distinct length, seeded
    with ``seed`` plus the length's rank among the distinct lengths."""
    by_length: dict[int, list[str]] = {}
    for rank, length in enumerate(sorted(set(lengths))):
        made = design(
            length, (), lengths.count(length), model=generator, scorer=None, steps=config.steps, sampler=config.sampler,
            temperature=config.temperature, seed=config.seed + rank, device=device,
        )  # fmt: skip
        by_length[length] = [d.sequence for d in sorted(made, key=lambda d: d.sample)]
    return [by_length[length].pop(0) for length in lengths]


@contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    seconds[name] = round(seconds.get(name, 0.0) + time.monotonic() - start, 1)


def evaluate(
    data: str | Path,
    *,
    model: str | Path | SupportsDenoise = DEFAULT_MODEL,
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
    with _timed(seconds, "load"):
        corpus = load_corpus(Path(data))
        training = list(corpus["train"]["sequence"])
        test = list(corpus["test"]["sequence"])
        external_sequences = list(external_test_set(external)["sequence"])
        esm_scorer = load_scorer(scorer, device, window=window)
        generator = load_generator(model, device)
    longest = min(config.max_length, generator.spec.max_len - 2)  # <cls> and <eos> take two positions
    with tempfile.TemporaryDirectory(prefix="dlm-protein-eval-") as tmp:
        with _timed(seconds, "training_search"):
            search = TrainingSearch(training, Path(workdir or tmp), config.threads)
            outside, external_counts = external_sample(external_sequences, set(training), search, config)
        pppl = PseudoPerplexities(esm_scorer)
        test_order = sample_sequences(test, config.max_length, config.seed)
        with _timed(seconds, "scorer_check"):
            checks = {
                "test": scorer_check(test_order[: config.num_natural], pppl, config.seed),
                "external": {**scorer_check(outside, pppl, config.seed), **external_counts} if outside else external_counts,
            }

        natural = [s for s in test_order if len(s) <= longest][: config.num_designs]
        lengths = [len(s) for s in natural]
        rng = np.random.default_rng(config.seed)
        fit_on = [training[i] for i in rng.choice(len(training), min(NGRAM_FIT_SEQUENCES, len(training)), replace=False)]
        with _timed(seconds, "designs"):
            sets = {
                name: make_designs(generator, lengths, replace(config, temperature=temperature, compare_temperatures=()), device)
                for name, temperature in config.design_sets().items()
            }
        with _timed(seconds, "baselines"):
            sets["unigram"] = NGramModel.fit(fit_on, order=1).sample(lengths, rng)
            sets["ngram"] = NGramModel.fit(fit_on, order=NGRAM_ORDER).sample(lengths, rng)
            sets["natural"] = natural
            sets["shuffled"] = [shuffled(s, config.seed) for s in natural]
        with _timed(seconds, "generation_pppl"):
            perplexities = {name: pppl(sequences) for name, sequences in sets.items()}
        with _timed(seconds, "novelty"):
            pooled = search.novelty([s for name in sets for s in sets[name]])
        with _timed(seconds, "summaries"):
            generation, at = {}, 0
            for name in sets:
                novelty, at = pooled[at : at + len(sets[name])], at + len(sets[name])
                generation[name] = set_summary(sets[name], perplexities[name], novelty, test)
    seconds["total"] = round(time.monotonic() - started, 1)
    settings = {
        **asdict(config),
        "data": str(data),
        "model": _name(model),
        "scorer": _name(scorer),
        "scorer_window": esm_scorer.window,
        "device": str(device),
        "generator_max_residues": generator.spec.max_len - 2,
        "generation_max_length": longest,
        "external": str(external),
        "relatives": "mmseqs easy-search " + " ".join(relative_options(CorpusConfig.identity, CorpusConfig.coverage, config.threads)),
        "ngram": (
            f"order {NGRAM_ORDER}, add-{NGRAM_ADD_K:g} smoothing; unigram and n-gram fit on {len(fit_on)} training sequences "
            "(seeded sample)"
        ),
        "composition_reference": f"the test split ({len(test)} sequences), add-one smoothed, KL in bits",
        "diversity": (
            f"all pairs of the first {DIVERSITY_SEQUENCES} of a set: global alignment with free end gaps "
            "(Biopython PairwiseAligner, BLOSUM62, gaps -11/-1), identical residues over the shorter length"
        ),
        "novelty": (
            "mmseqs easy-search against the training split, -e inf: highest identity (identical aligned residues "
            f"over the shorter length, 0 with no alignment); no hit: no alignment with E-value < {NOVELTY_EVALUE:g}"
        ),
    }
    return {"scorer_check": checks, "generation": generation, "settings": settings, "seconds": seconds}


def _name(thing) -> str:
    return str(thing) if isinstance(thing, (str, Path)) else type(thing).__name__


def format_report(report: Mapping) -> str:
    """The report as two plain-text tables, then the settings and timings that matter most."""
    lines = ["scorer check: pseudo-perplexity of natural sequences against their shuffles"]
    lines.append(f"{'set':<10}{'n':>6}{'natural<shuffled':>18}{'median natural':>16}{'median shuffled':>17}")
    for name, row in report["scorer_check"].items():
        if "n" in row:
            lines.append(
                f"{name:<10}{row['n']:>6}{row['natural_lower_fraction']:>18.3f}"
                f"{row['median_pppl_natural']:>16.2f}{row['median_pppl_shuffled']:>17.2f}"
            )
        else:
            lines.append(f"{name:<10}{0:>6}  (no sequence left)")
    external = report["scorer_check"]["external"]
    lines.append(
        f"external: {external['external_sequences']} sequences, {external['identical_to_training_removed']} identical to "
        f"a training sequence removed; of {external['searched_for_relatives']} searched, "
        f"{external['with_training_relative_removed']} with a training relative removed"
    )
    lines += ["", "generation (lengths of the natural set)"]
    columns = [
        ("n", "n", "d"), ("median_pppl", "med pppl", ".2f"), ("mean_pppl", "mean pppl", ".2f"), ("kl_bits", "KL bits", ".4f"),
        ("mean_pairwise_identity", "pair id", ".3f"), ("mean_max_train_identity", "train id", ".3f"),
        ("no_hit_fraction", "no hit", ".3f"),
    ]  # fmt: skip
    lines.append(f"{'set':<14}" + "".join(f"{title:>11}" for _, title, _ in columns))
    for name, row in report["generation"].items():
        lines.append(f"{name:<14}" + "".join(f"{row[key]:>11{fmt}}" for key, _, fmt in columns))
    settings = report["settings"]
    lines += [
        "",
        (
            f"model {settings['model']}, scorer {settings['scorer']}, seed {settings['seed']}, "
            f"sampler {settings['sampler']}, steps {settings['steps'] or 'one a residue'}, "
            f"temperature {settings['temperature']}"
        ),
        (
            "pair id: diversity, mean pairwise identity; train id: novelty, mean highest identity to training; "
            f"no hit: share with no training hit at E < {NOVELTY_EVALUE:g}"
        ),
        f"{report['seconds']['total']:.0f} s: " + ", ".join(f"{k} {v:.0f}" for k, v in report["seconds"].items() if k != "total"),
    ]
    return "\n".join(lines)

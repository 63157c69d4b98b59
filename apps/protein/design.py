"""Motif-constrained protein design: place the motifs, let the diffusion generator fill the rest, score
every design with ESM-2 and the ProtParam properties, and rank them.

``design(length, motifs, DesignConfig(...), generator=..., scorer=...)``: the request (length and motifs), its
settings (``DesignConfig``, every one with a default that works), and the models: a ``Generator`` (the
denoiser with its GO vocabulary, ``load_generator``) and an ESM-2 ``Scorer`` (``load_scorer``), or their names.
``plan`` lays a request out for the sampler; ``design`` samples, scores and ranks.

Placement: every design (row of the batch) gets its own placement of the floating motifs, drawn in row
order from a CPU ``torch.Generator`` seeded with ``config.seed``, so one call explores where the floating
motifs sit; fixed motifs are at the same place in every row. Sampling uses a second generator, on ``device``,
seeded with ``config.seed`` too: a seed reproduces the designs on a given device.

Layout: the generator reads ``<cls>`` residues ``<eos>``, as ``alphabet.build_tokenizer`` encodes its
training sequences, so a design of L residues takes L + 2 of the model's positions. A GO-conditioned
generator (one with ``go_terms.json``, ``go_train.py``) reads its control slots first: the requested GO
terms as fixed control tokens, then empty slots that it does not attend to (all empty: unconditional).
``config.guidance`` is the classifier-free guidance weight w of the core sampler (logits uncond + w * (cond -
uncond)): 1 (the default with terms) samples the conditional model as it is, 0 ignores the terms.

Ranking (``rank_key``): designs that keep every specified motif residue (``motif_recovery`` 1.0, which
the fixed canvas guarantees) come first; then, with an ESM-2 scorer, lower pseudo-perplexity first
(more protein-like to ESM-2); without one, higher mean generator log-probability of the generated
residues first; ties by sample index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from apps.protein.alphabet import (
    ALPHABET,
    ESM_IDS,
    MASK_ID,
    PAD_ID,
    RARE_RESIDUES,
    STANDARD_RESIDUES,
    VOCAB_SIZE,
    ResidueIds,
    check_residues,
)
from apps.protein.go import VOCABULARY_FILE, TermVocabulary
from apps.protein.motifs import Placement, from_canvas, parse_motifs, place, to_canvas
from apps.protein.properties import properties
from apps.protein.remask import EsmRemasker
from apps.protein.scoring import Scorer, load_esm
from shared_dlm import (
    STRATEGIES,
    Canvas,
    CheckpointError,
    DeviceError,
    Remasker,
    SamplerConfig,
    StepRecord,
    SupportsDenoise,
    check_device,
    generate,
    load,
    make_strategy,
    registered_names,
    resolve,
    strategy_options,
)

DEFAULT_MODEL = "protein-default"
DEFAULT_GO_MODEL = "protein-go"
"""The generator ``design`` uses when GO terms are asked for and ``model`` is left at its default."""
DEFAULT_SCORER = "protein-scorer-default"
DEMO = Path(__file__).parent / "examples" / "demo.json"
"""The bundled example request (a zinc-binding motif and a floating linker): ``dlm-protein demo`` and the dashboard."""
# Random-order (ancestral) unmasking: with LLaDA's probability-confidence rule alone, the shipped generator commits
# its safest residue first and designs collapse to runs of one residue (`dlm-bench sample --task protein
# --order-noise 0`: 91% of a design one residue); the confidence-ordered samplers get ORDER_NOISE below instead.
DEFAULT_SAMPLER = "ancestral"
ORDER_NOISE = 4.5
"""The order noise (MaskGIT's choice temperature, ``shared_dlm.sampling.confidence``) that design gives the
confidence-ordered samplers (confidence, threshold, factor, fixed) unless told otherwise: without it their designs
collapse to runs of one residue (`dlm-bench sample --task protein`, README)."""
REMASK_CALLS = 8
"""With ``esm_remask``, ESM-2 judges the canvas after every (steps // 8)-th step: at most 8 extra forwards."""
REMASK_FRACTION = 0.1
"""At most this share of a design's free positions goes back to the mask per remasking call."""


class DesignError(ValueError):
    """A design request that cannot be met; the message names the bad value and what was expected."""


def check_guidance(weight: float) -> None:
    """A DesignError unless ``weight`` is a classifier-free guidance weight: finite and >= 0."""
    if not (weight >= 0 and math.isfinite(weight)):
        raise DesignError(f"guidance must be a finite weight >= 0 (0: ignore the GO terms, 1: plain conditioning), got {weight}")


def _order_options(sampler: str, order_noise: float | None) -> dict[str, float]:
    """The order-noise option of ``sampler``: ``ORDER_NOISE`` by default where it has one."""
    if "order_noise" in strategy_options(sampler):
        return {"order_noise": ORDER_NOISE if order_noise is None else order_noise}
    if order_noise is not None and sampler in STRATEGIES:  # an unknown sampler: make_strategy names the known ones
        ranked = sorted(n for n in STRATEGIES if "order_noise" in strategy_options(n))
        raise DesignError(
            f"order_noise ranks the positions of a confidence-ordered sampler ({', '.join(ranked)}); "
            f"the sampler {sampler!r} has none"
        )
    return {}


def _people(function, *args, prefix: str = "", **kwargs):
    """Call a validating function of the app or core; its ValueError becomes a DesignError."""
    try:
        return function(*args, **kwargs)
    except DesignError:
        raise
    except ValueError as err:
        raise DesignError(f"{prefix}{err}") from None


@dataclass(frozen=True)
class PlacedMotif:
    spec: str  # as requested, in CLI syntax: "20:HEXXH", "60-80:GGSGGS"
    residues: str
    start: int  # 1-based position of the first residue in the design, as placed
    end: int  # 1-based position of the last residue


@dataclass(frozen=True)
class Design:
    rank: int  # 1 is best (``rank_key``)
    sample: int  # row of the batch: with the seed, what reproduces this design
    sequence: str
    motifs: tuple[PlacedMotif, ...]
    # motif_recovery, generator_log_prob; with ESM-2: pseudo_perplexity, mean_log_prob, embedding_similarity (with a reference)
    scores: Mapping[str, float]
    properties: Mapping[str, float]  # ProtParam values and composition (properties.Properties.as_dict)
    confidence: tuple[float, ...]  # (L,) generator log-prob of each residue when committed; 0.0 at fixed motif residues
    esm_log_probs: tuple[float, ...] | None  # (L,) ESM-2 log p(residue i | rest, i masked); None without a scorer
    go: tuple[str, ...] = ()  # the GO terms the design was conditioned on
    guidance: float | None = None  # the classifier-free guidance weight used with them

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {
            "rank": self.rank,
            "sample": self.sample,
            "sequence": self.sequence,
            "motifs": [asdict(m) for m in self.motifs],
            "scores": dict(self.scores),
            "properties": dict(self.properties),
            "confidence": list(self.confidence),
            "esm_log_probs": None if self.esm_log_probs is None else list(self.esm_log_probs),
            "go": list(self.go),
            "guidance": self.guidance,
        }


def rank_key(design: Design) -> tuple:
    """Sort key of the ranking documented in the module docstring (ascending: best first)."""
    scores = design.scores
    quality = scores["pseudo_perplexity"] if "pseudo_perplexity" in scores else -scores["generator_log_prob"]
    return (scores["motif_recovery"] < 1.0, -scores["motif_recovery"], quality, design.sample)


@dataclass(frozen=True)
class DesignConfig:
    """Every setting of a design run; the defaults are ``design``'s. ``steps``: None is one step per generated
    residue; fewer commit several residues a step (``fixed``: spread evenly over the steps). ``order_noise``: for
    the confidence-ordered samplers, the Gumbel noise on their ranking (None: ``ORDER_NOISE``; 0 ranks by
    confidence alone); refused with a sampler that has no ranking. ``cache``: reuse the context's keys and values
    between full forwards (every ``SamplerConfig.refresh_every`` steps), Fast-dLLM's DualCache: faster, and close
    to the uncached designs. ``forbid`` removes residues at non-motif positions; ``allowed_at`` maps 1-based
    positions to their allowed residues. ``esm_remask``: a log-probability threshold for ``EsmRemasker`` (needs
    the scorer). ``go``: GO term ids to design for (needs a GO-conditioned generator; ``pick_generator``);
    ``guidance``: the classifier-free guidance weight (>= 0; None: 1 with terms). ``seed`` seeds the placements
    and the sampler."""

    num: int = 16
    sampler: str = DEFAULT_SAMPLER
    steps: int | None = None
    temperature: float = 1.0
    order_noise: float | None = None
    cache: bool = False
    forbid: str = ""
    allowed_at: Mapping[int, str] | None = None
    esm_remask: float | None = None
    go: tuple[str, ...] = ()
    guidance: float | None = None
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "go", (self.go,) if isinstance(self.go, str) else tuple(self.go))
        if self.num < 1:
            raise DesignError(f"num must be at least 1, got {self.num}")
        if self.guidance is not None:
            check_guidance(self.guidance)
            if not self.go:
                raise DesignError("guidance weighs GO terms: pass go=[...] (CLI: --go GO:...) with it")
        self.sampler_config(1)  # the sampler, its order noise, the steps and the temperature: refused here, not mid-run

    @property
    def weight(self) -> float | None:
        """The guidance weight the sampler uses: None without terms, 1 with terms unless told otherwise."""
        return None if not self.go else 1.0 if self.guidance is None else float(self.guidance)

    def sampler_config(self, free: int) -> SamplerConfig:
        """The core sampler's settings for a canvas whose rows have at most ``free`` positions to fill."""
        strategy = _people(make_strategy, self.sampler, **_order_options(self.sampler, self.order_noise))
        config = SamplerConfig(
            steps=max(free, 1) if self.steps is None else self.steps, strategy=strategy, temperature=self.temperature,
            guidance=self.weight, cache=self.cache,
        )  # fmt: skip
        _people(config.validate)
        return config


@dataclass(frozen=True)
class Generator:
    """A protein generator and, for a GO-conditioned one, the term vocabulary it was trained with (``go_terms.json``
    beside its weights); ``source`` names it in messages. ``residue_ids``: how the model writes residues (our
    generators read the ESM alphabet ids, checked here; a pretrained masked LM such as AntiBERTy or Sapiens brings
    its own, ``ResidueIds.of_tokenizer``)."""

    model: SupportsDenoise
    vocabulary: TermVocabulary | None = None
    source: str = "the model"
    residue_ids: ResidueIds = ESM_IDS

    def __post_init__(self):
        if self.residue_ids == ESM_IDS:
            _check_alphabet(self.model.spec, None, self.source)
        elif self.vocabulary is not None:
            raise DesignError(f"{self.source}: a GO-conditioned generator reads the ESM alphabet ids")

    @property
    def spec(self):
        return self.model.spec

    def to(self, device: torch.device | str) -> Generator:
        """This generator on ``device`` (the module moved in place, as ``nn.Module.to`` does)."""
        return replace(self, model=self.model.to(_device(device)))


def pick_generator(source: str | Path | Generator, go: Sequence[str]) -> str | Path | Generator:
    """The generator to load for a request: the shipped GO-conditioned one in place of the default when GO terms
    are asked for, else ``source``."""
    return DEFAULT_GO_MODEL if go and isinstance(source, (str, Path)) and str(source) == DEFAULT_MODEL else source


def design(
    length: int,
    motifs: str | Iterable[str] = (),
    config: DesignConfig = DesignConfig(),
    *,
    generator: str | Path | Generator = DEFAULT_MODEL,
    scorer: str | Path | Scorer | None = DEFAULT_SCORER,
    reference: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    trace: Callable[[StepRecord], None] | None = None,
) -> list[Design]:
    """``config.num`` designs of ``length`` residues keeping ``motifs``, best first (see the module docstring).

    ``generator``: a registered name, a folder of a generator trained with the protein tokenizer (with GO terms,
    the default name becomes ``"protein-go"``: ``pick_generator``), or a loaded ``Generator``. ``scorer``: an
    ESM-2 (``scoring.load_esm`` sources, or a ``Scorer``), None to skip ESM scoring. ``reference``: natural
    sequences for ``embedding_similarity``. ``trace`` receives every denoising step.
    """
    if config.esm_remask is not None and scorer is None:
        raise DesignError("esm_remask needs an ESM-2 scorer: pass scorer=PATH, or esm_remask=None")
    device = _device(device)
    generator = load_generator(pick_generator(generator, config.go), device)
    if config.esm_remask is not None and generator.residue_ids != ESM_IDS:
        raise DesignError(f"esm_remask reads the canvas in ESM ids; {generator.source} writes residues with its own ids")
    planned = plan(length, motifs, config, generator)
    esm_scorer = load_scorer(scorer, device, reference)
    remasker = None
    if config.esm_remask is not None:
        every = max(planned.sampler.steps // REMASK_CALLS, 1)
        remasker = _people(EsmRemasker, esm_scorer.model, config.esm_remask, every=every, max_fraction=REMASK_FRACTION)
        if planned.slots:
            remasker = AfterPrefix(remasker, planned.slots)

    sampling = torch.Generator(device).manual_seed(config.seed)
    out = generate(generator.model, planned.canvas, planned.sampler, remasker=remasker, trace=trace, generator=sampling)
    designs = _assemble(planned.residues(out), planned.sequences(out), planned.placements, esm_scorer)
    if config.go:
        designs = [replace(d, go=config.go, guidance=config.weight) for d in designs]
    ranked = sorted(designs, key=rank_key)
    return [replace(d, rank=rank) for rank, d in enumerate(ranked, start=1)]


@dataclass(frozen=True)
class Plan:
    """A design request laid out for the sampler: where each row's motifs sit, the canvas (``<cls>`` residues
    ``<eos>`` after the ``slots`` GO control positions of a GO-conditioned generator) and the sampler's settings."""

    placements: tuple[Placement, ...]  # one a row of the canvas
    canvas: Canvas  # (B, slots + L + 2)
    slots: int
    sampler: SamplerConfig
    residue_ids: ResidueIds = ESM_IDS  # the generator's

    def residues(self, out: Canvas) -> Canvas:
        """The filled canvas without the control slots: ``<cls>`` residues ``<eos>``, as ``motifs.from_canvas`` reads it."""
        return without_prefix(out, self.slots)

    def sequences(self, out: Canvas) -> list[str]:
        """The residue strings of the filled canvas."""
        return from_canvas(self.residues(out), residues=self.residue_ids)


def plan(length: int, motifs: str | Iterable[str], config: DesignConfig, generator: Generator) -> Plan:
    """The canvas and sampler settings of ``config.num`` designs of ``length`` residues keeping ``motifs`` (each row
    its own placement of the floating motifs, drawn from ``config.seed``), on the generator's device; a DesignError
    names a request the generator cannot meet."""
    if length < 1:
        raise DesignError(f"length must be at least 1 residue, got {length}")
    parsed = _people(parse_motifs, motifs)
    spec, vocabulary = generator.spec, generator.vocabulary
    if config.go and vocabulary is None:
        raise DesignError(
            f"the generator {generator.source!r} was not trained with GO terms (no {VOCABULARY_FILE}): pass generator=PATH of one"
        )
    prefix = None if vocabulary is None else _people(vocabulary.prefix, list(config.go), PAD_ID)
    slots = 0 if prefix is None else len(prefix[0])
    longest = spec.max_len - 2 - slots  # <cls> and <eos> take two positions, the GO control slots the first ones
    if length > longest:
        raise DesignError(
            f"length must be between 1 and {longest} residues (the model reads {spec.max_len} positions, "
            f"two of them <cls> and <eos>" + (f", {slots} GO control slots" if slots else "") + f"), got {length}"
        )
    rng = torch.Generator().manual_seed(config.seed)
    placements = tuple(
        _people(place, parsed, length, rng, forbid=config.forbid, allowed_at=config.allowed_at, max_length=longest)
        for _ in range(config.num)
    )
    canvas = _canvas(placements, spec, next(generator.model.parameters()).device, prefix, generator.residue_ids)
    sampler = config.sampler_config(int(canvas.masked(spec.mask_id).sum(-1).max()))
    return Plan(placements, canvas, slots, sampler, generator.residue_ids)


class AfterPrefix:
    """A Remasker for ``<cls>`` residues ``<eos>`` canvases, run on canvases with ``slots`` control positions
    in front: it sees the canvas without them and never remasks them."""

    def __init__(self, remasker: Remasker, slots: int):
        self.remasker, self.slots = remasker, slots

    def __call__(self, canvas: Canvas, step: int) -> torch.Tensor:
        hits = self.remasker(without_prefix(canvas, self.slots), step)
        return torch.cat([torch.zeros_like(canvas.fixed[:, : self.slots]), hits.to(canvas.fixed.device)], dim=1)


def without_prefix(canvas: Canvas, slots: int) -> Canvas:
    """The canvas from position ``slots`` on (the control slots of a GO-conditioned generator dropped)."""
    if not slots:
        return canvas

    def cut(x):
        return None if x is None else x[:, slots:]

    allowed = canvas.allowed
    if allowed is not None:
        allowed = allowed[slots:] if allowed.dim() == 2 else allowed[:, slots:]
    return Canvas(cut(canvas.ids), cut(canvas.fixed), allowed, cut(canvas.attention_mask), cut(canvas.logp), cut(canvas.control))


def _assemble(out: Canvas, sequences: list[str], placements: Sequence[Placement], esm_scorer: Scorer | None) -> list[Design]:
    """The unranked designs of a filled canvas (``<cls>`` residues ``<eos>``) and its residue strings, with their
    scores and properties."""
    logp = out.logp[:, 1:-1].float().cpu()  # (B, L): 0 at fixed residues
    generated = ~out.fixed[:, 1:-1].cpu()  # (B, L)
    if esm_scorer is None:
        esm_scores, esm_log_probs = [{} for _ in sequences], [None for _ in sequences]
    else:
        esm_scores, esm_log_probs = esm_scorer.score_with_residues(sequences)
    designs = []
    for row, (sequence, placement) in enumerate(zip(sequences, placements)):
        mean_logp = float(logp[row][generated[row]].mean()) if generated[row].any() else 0.0
        scores = {"motif_recovery": placement.recovery(sequence), "generator_log_prob": mean_logp, **esm_scores[row]}
        lp = esm_log_probs[row]
        designs.append(
            Design(
                rank=0,
                sample=row,
                sequence=sequence,
                motifs=_placed(placement),
                scores=scores,
                properties=properties(sequence).as_dict(),
                confidence=tuple(logp[row].tolist()),
                esm_log_probs=None if lp is None else tuple(lp.tolist()),
            )
        )
    return designs


def model_folder(source: str | Path) -> Path | None:
    """The folder of a registered name or of a path; None if there is none."""
    if str(source) in registered_names():
        return Path(resolve(source))
    return Path(source) if Path(source).is_dir() else None


def load_generator(source: str | Path | Generator, device: torch.device | str = "cpu") -> Generator:
    """The generator by registered name or folder, with its GO term vocabulary if it has one, checked to use
    the ESM alphabet ids (a loaded one: moved to ``device``); a DesignError that says what to pass if the default
    is not shipped."""
    device = _device(device)
    if isinstance(source, Generator):
        return source.to(device)
    if str(source) == DEFAULT_GO_MODEL and DEFAULT_GO_MODEL not in registered_names():
        raise DesignError(
            f"no GO-conditioned generator ({DEFAULT_GO_MODEL!r}) is shipped: pass generator=PATH (CLI: --model PATH), a "
            "folder written by `dlm-protein train-go`"
        )
    if str(source) == DEFAULT_MODEL and DEFAULT_MODEL not in registered_names():
        raise DesignError(
            f"no default protein model ({DEFAULT_MODEL!r}) is shipped yet: pass generator=PATH (CLI: --model PATH), "
            "a folder with a Denoiser trained on the protein corpus with apps.protein.alphabet.build_tokenizer"
        )
    try:
        loaded = load(source, device=device)
    except (FileNotFoundError, CheckpointError) as err:
        raise DesignError(f"cannot load the generator {str(source)!r}: {err}") from None
    residue_ids = _people(ResidueIds.of_tokenizer, loaded.tokenizer, prefix=f"{loaded.path}: ")
    if residue_ids == ESM_IDS:
        _check_alphabet(loaded.model.spec, loaded.tokenizer, str(loaded.path))
    folder = Path(loaded.path)
    vocabulary = TermVocabulary.load(folder) if (folder / VOCABULARY_FILE).is_file() else None
    return Generator(loaded.model, vocabulary, str(source), residue_ids)


def load_scorer(
    scorer: str | Path | Scorer | None,
    device: torch.device | str = "cpu",
    reference: Sequence[str] | None = None,
    window: int | None | str = "trained",
) -> Scorer | None:
    """The ESM-2 scorer by registered name, ``load_esm`` source or object; None stays None. With
    ``reference``, the scorer also reports ``embedding_similarity`` to it. ``window``: see ``Scorer`` (a
    Scorer object keeps its own)."""
    device = _device(device)
    if reference is not None:
        if not reference:
            raise DesignError("the reference set is empty: pass None to score without embedding similarity")
        for index, sequence in enumerate(reference):
            if not sequence:
                raise DesignError(f"reference sequence {index} is empty")
            _people(check_residues, sequence, STANDARD_RESIDUES + RARE_RESIDUES, prefix=f"reference sequence {index}: ")
    if scorer is None:
        return None
    if isinstance(scorer, Scorer):
        if reference is None:
            return scorer
        return Scorer(scorer.model, device=device, reference=reference, max_tokens=scorer.max_tokens, window=scorer.window)
    if str(scorer) == DEFAULT_SCORER and DEFAULT_SCORER not in registered_names():
        raise DesignError(
            f"no default ESM-2 scorer ({DEFAULT_SCORER!r}) is shipped yet: pass scorer=PATH (CLI: --scorer PATH), "
            "a save_esm2 folder, a fair-esm checkpoint or an esm.pretrained name in the torch-hub cache; "
            "or scorer=None (CLI: --scorer none) to skip ESM scoring"
        )
    source = resolve(scorer) if str(scorer) in registered_names() else scorer
    try:
        model = load_esm(source, device)
    except (FileNotFoundError, CheckpointError) as err:
        raise DesignError(f"cannot load the ESM-2 scorer {str(scorer)!r}: {err}") from None
    try:
        return Scorer(model, device=device, reference=reference, window=window)
    except ValueError as err:
        raise DesignError(str(err)) from None


def _device(device: torch.device | str) -> torch.device:
    """The core's device check (``check_device``), its refusal a DesignError as every error of this API."""
    try:
        return check_device(device)
    except DeviceError as err:
        raise DesignError(str(err)) from None


def _check_alphabet(spec, tokenizer, where: str) -> None:
    """The canvas is written in ESM ids: the generator must read the same ids (and mask token)."""
    if spec.vocab_size < VOCAB_SIZE or spec.mask_id != MASK_ID:
        raise DesignError(
            f"{where} does not use the ESM alphabet: vocabulary {spec.vocab_size} (need at least {VOCAB_SIZE}), "
            f"mask id {spec.mask_id} (need {MASK_ID}); protein generators are trained with apps.protein.alphabet.build_tokenizer"
        )
    if tokenizer is None:
        return
    vocab = tokenizer.get_vocab()
    for token in ALPHABET.all_toks:
        if vocab.get(token) != ALPHABET.get_idx(token):
            raise DesignError(
                f"{where}: its tokenizer maps {token!r} to {vocab.get(token)}, the ESM alphabet to {ALPHABET.get_idx(token)}; "
                "protein generators are trained with apps.protein.alphabet.build_tokenizer"
            )


def _canvas(
    placements: Sequence[Placement],
    spec,
    device: torch.device,
    prefix: tuple[list[int], list[bool]] | None = None,
    residue_ids: ResidueIds = ESM_IDS,
) -> Canvas:
    """One canvas row per placement (floating motifs may sit differently in each row), after the GO control
    slots ``prefix`` (ids, attended) of a GO-conditioned generator."""
    rows = [to_canvas(p, spec, residues=residue_ids, device=device) for p in placements]
    canvas = Canvas(
        ids=torch.cat([r.ids for r in rows]),  # (B, L + 2)
        fixed=torch.cat([r.fixed for r in rows]),
        allowed=torch.stack([r.allowed for r in rows]),  # (B, L + 2, V)
    )
    if prefix is None:
        return canvas
    batch, slots = canvas.ids.shape[0], len(prefix[0])
    ids = torch.tensor(prefix[0], device=device).expand(batch, -1)
    attended = torch.tensor(prefix[1], device=device).expand(batch, -1)
    every = torch.ones_like(canvas.fixed)
    return Canvas(
        ids=torch.cat([ids, canvas.ids], 1),
        fixed=torch.cat([torch.ones_like(attended), canvas.fixed], 1),
        allowed=torch.cat([torch.zeros(batch, slots, spec.vocab_size, dtype=torch.bool, device=device), canvas.allowed], 1),
        attention_mask=torch.cat([attended, every], 1),
        control=torch.cat([attended, torch.zeros_like(every)], 1),  # the terms: guidance's unconditional forward drops them
    )


def _placed(placement: Placement) -> tuple[PlacedMotif, ...]:
    return tuple(
        PlacedMotif(str(m), m.residues, start, start + len(m.residues) - 1)
        for m, start in zip(placement.motifs, placement.starts)
    )

"""Training a denoiser on the continuous-time ELBO, with `accelerate` for devices and processes.

The data order and the diffusion noise are pure functions of (seed, micro-batch index), and the
learning rate a pure function of the step, so a run killed at any point resumes from its last
checkpoint with no step lost or repeated: the resumed weights equal those of an uninterrupted run.
`accelerate launch` runs the same code under DDP with several processes; each takes its own slice of
every global batch.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import torch
from huggingface_hub.errors import StrictDataclassError
from accelerate import Accelerator
from tqdm.auto import tqdm

from shared_dlm.data import Collator, load_files, load_split, tokenize
from shared_dlm.loading import load_state_strict
from shared_dlm.model import Denoiser, DenoiserConfig
from shared_dlm.process import diffusion_loss
from shared_dlm.schedule import get_schedule

CHECKPOINTS = "checkpoints"
SAVE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODEL_FIELDS = {f.name for f in DenoiserConfig.__dataclass_fields__.values()} - {"mask_token_id", "pad_token_id", "vocab_size"}


@dataclass
class TrainConfig:
    output_dir: str = "runs/model"
    tokenizer: str = ""  # folder of a Hugging Face tokenizer; its mask and pad ids go into the model
    model: dict = field(default_factory=dict)  # DenoiserConfig fields (hidden_size, num_hidden_layers, ...)
    # data: a `save_to_disk` dataset with splits, or local files (.txt, .jsonl, .fasta)
    dataset: str | None = None
    train_split: str = "train"
    validation_split: str = "validation"
    train_files: list[str] = field(default_factory=list)
    validation_files: list[str] = field(default_factory=list)
    text_field: str = "text"
    seq_len: int = 256
    packing: bool = False
    # diffusion
    schedule: str = "loglinear"
    weighting: str = "elbo"  # or "inverse_t" (LLaDA)
    antithetic: bool = True
    # optimisation
    batch_size: int = 32  # per process and micro-batch
    grad_accum: int = 1
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    max_steps: int = 1000
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    mixed_precision: str = "auto"  # bf16 on CUDA, none on CPU; or "no", "bf16", "fp16"
    # bookkeeping
    seed: int = 0
    eval_every: int = 200
    eval_batches: int = 20
    save_every: int = 200
    keep_checkpoints: int = 2
    log_every: int = 10
    max_minutes: float | None = None  # stop with a checkpoint after this long (chained runs)
    save_dtype: str = "float32"  # of the final model folder ("bfloat16" halves it); checkpoints stay float32
    # a finished model folder (one `save_model` wrote, e.g. a shipped model) whose weights start this run when
    # output_dir has no checkpoint yet: training goes on from its recorded step with a new optimizer (its
    # moments were not kept), so the learning-rate schedule and the data order continue where it stopped
    init_from: str | None = None

    def validate(self) -> None:
        unknown = set(self.model) - MODEL_FIELDS
        if unknown:
            raise ValueError(f"unknown model settings {sorted(unknown)}; known: {sorted(MODEL_FIELDS)}")
        for name in ("seq_len", "batch_size", "grad_accum", "max_steps", "eval_every", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.save_dtype not in SAVE_DTYPES:
            raise ValueError(f"save_dtype must be one of {sorted(SAVE_DTYPES)}, got {self.save_dtype!r}")
        if self.weighting not in ("elbo", "inverse_t"):
            raise ValueError(f"weighting must be 'elbo' or 'inverse_t', got {self.weighting!r}")
        get_schedule(self.schedule)


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr at max_steps."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    floor = config.min_lr_ratio
    return config.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def micro_batch_seed(seed: int, index: int, process: int) -> int:
    return (seed * 1_000_003 + index * 7919 + process) % (2**63 - 1)


class Trainer:
    """Trains `model` on `train_data` (a tokenised `datasets.Dataset` with `input_ids`)."""

    def __init__(
        self,
        config: TrainConfig,
        model: Denoiser,
        train_data: datasets.Dataset,
        eval_data: datasets.Dataset | None = None,
        tokenizer=None,
        accelerator: Accelerator | None = None,
    ):
        config.validate()
        self.config = config
        self.tokenizer = tokenizer
        if accelerator is None:
            precision = config.mixed_precision
            if precision == "auto":
                precision = "bf16" if torch.cuda.is_available() else "no"
            # cpu=True lets several CPU processes (torchrun, `accelerate launch --multi_gpu`) form a gloo group
            accelerator = Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())
        self.accelerator = accelerator
        self.train_data = train_data.with_format(None)
        self.eval_data = eval_data.with_format(None) if eval_data is not None else None
        world = accelerator.num_processes
        self.batches_per_epoch = len(self.train_data) // (config.batch_size * world)
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"{len(self.train_data)} training examples cannot fill one batch of {config.batch_size} x {world} processes"
            )
        self.schedule = get_schedule(config.schedule)
        self.mask_id = model.config.mask_token_id
        pad = model.config.pad_token_id
        self.pad_id = pad if pad is not None else self.mask_id
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.lr,
            betas=(0.9, 0.98),
        )
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.step = 0
        self.out = Path(config.output_dir)
        self._order: tuple[int, torch.Tensor | None] = (-1, None)  # (epoch, its permutation)

    # ---- data -------------------------------------------------------------------------------
    def micro_batch(self, index: int) -> dict[str, torch.Tensor]:
        """The index-th micro-batch of this process: a pure function of (seed, index, process)."""
        c, acc = self.config, self.accelerator
        epoch, j = divmod(index, self.batches_per_epoch)
        if self._order[0] != epoch:
            self._order = (epoch, torch.randperm(len(self.train_data), generator=torch.Generator().manual_seed(c.seed + epoch)))
        order = self._order[1]
        start = (j * acc.num_processes + acc.process_index) * c.batch_size
        rows = self.train_data[order[start : start + c.batch_size].tolist()]
        examples = [dict(zip(rows, values)) for values in zip(*rows.values())]
        crop = torch.Generator().manual_seed(micro_batch_seed(c.seed, index, acc.process_index))
        batch = self.collate(examples, crop)
        return {k: v.to(acc.device) for k, v in batch.items()}

    def collate(self, examples: list[dict], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Examples -> the batch tensors `loss` reads (input_ids, attention_mask, maskable); every random
        choice (crops, and in subclasses e.g. conditioning dropout) is drawn from `generator`."""
        return Collator(self.config.seq_len, self.pad_id, generator=generator)(examples)

    def noise_generator(self, index: int) -> torch.Generator:
        g = torch.Generator(device=self.accelerator.device)
        return g.manual_seed(micro_batch_seed(self.config.seed + 1, index, self.accelerator.process_index))

    # ---- loop -------------------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator):
        with self.accelerator.autocast():
            return diffusion_loss(
                self.model,
                batch["input_ids"],
                self.schedule,
                self.mask_id,
                maskable=batch["maskable"],
                attention_mask=batch["attention_mask"],
                weighting=self.config.weighting,
                antithetic=self.config.antithetic,
                generator=generator,
            )

    def train(self) -> dict:
        """Train to max_steps (or max_minutes), resuming from the latest checkpoint; returns the last metrics."""
        c, acc = self.config, self.accelerator
        self.resume()
        started = time.monotonic()
        metrics: dict = {}
        bar = tqdm(total=c.max_steps, initial=self.step, disable=not acc.is_main_process, desc="training")
        tokens, window_start, window_step = 0, time.monotonic(), self.step
        self.model.train()
        while self.step < c.max_steps:
            lr = lr_at(self.step, c)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            total = 0.0
            for a in range(c.grad_accum):
                index = self.step * c.grad_accum + a
                batch = self.micro_batch(index)
                sync = a == c.grad_accum - 1
                with acc.no_sync(self.model) if not sync and acc.num_processes > 1 else nullcontext():
                    elbo = self.loss(batch, self.noise_generator(index))
                    acc.backward(elbo.loss / c.grad_accum)
                total += float(elbo.loss.detach()) / c.grad_accum
                tokens += int(batch["attention_mask"].sum()) * acc.num_processes
            if c.grad_clip:
                acc.clip_grad_norm_(self.model.parameters(), c.grad_clip)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            bar.update(1)
            if self.step % c.log_every == 0 or self.step == c.max_steps:
                elapsed = time.monotonic() - window_start
                metrics = {"step": self.step, "loss": total, "lr": lr, "tokens_per_s": tokens / max(elapsed, 1e-9),
                           "s_per_step": elapsed / max(self.step - window_step, 1)}
                bar.set_postfix(loss=f"{total:.3f}", tok_s=f"{metrics['tokens_per_s']:.0f}")
                tokens, window_start, window_step = 0, time.monotonic(), self.step
                self.log(metrics)
            if self.eval_data is not None and (self.step % c.eval_every == 0 or self.step == c.max_steps):
                metrics = {"step": self.step, "eval_bits_per_token": self.evaluate()}
                self.say(bar, f"step {self.step}: held-out ELBO {metrics['eval_bits_per_token']:.4f} bits/token")
                self.log(metrics)
                self.model.train()
            out_of_time = c.max_minutes is not None and time.monotonic() - started > 60 * c.max_minutes
            if self.step % c.save_every == 0 or self.step == c.max_steps or out_of_time:
                self.save_checkpoint()
            if out_of_time:
                self.say(bar, f"stopping at step {self.step} after {c.max_minutes} minutes; run again to resume")
                break
        bar.close()
        if self.step == c.max_steps:
            self.save_model(self.out / "model", dtype=SAVE_DTYPES[c.save_dtype])
        return metrics

    @torch.no_grad()
    def evaluate(self) -> float:
        """Held-out negative ELBO in bits per token (fixed noise, so comparable across steps)."""
        c, acc = self.config, self.accelerator
        self.model.eval()
        nll = torch.zeros((), device=acc.device)
        count = torch.zeros((), device=acc.device)
        n = len(self.eval_data)
        per_batch = c.batch_size * acc.num_processes
        for b in range(min(c.eval_batches, math.ceil(n / per_batch))):
            start = b * per_batch + acc.process_index * c.batch_size
            rows = self.eval_data[start : min(start + c.batch_size, n)]
            if not rows or not rows["input_ids"]:
                continue
            examples = [dict(zip(rows, values)) for values in zip(*rows.values())]
            crop = torch.Generator().manual_seed(micro_batch_seed(c.seed + 2, b, acc.process_index))
            batch = {k: v.to(acc.device) for k, v in self.collate(examples, crop).items()}
            noise = torch.Generator(device=acc.device).manual_seed(micro_batch_seed(c.seed + 3, b, acc.process_index))
            elbo = self.loss(batch, noise)
            nll += elbo.nll.float()
            count += elbo.tokens
        nll, count = acc.reduce(nll, "sum"), acc.reduce(count, "sum")
        return float(nll / count.clamp_min(1) / math.log(2))

    # ---- checkpoints ------------------------------------------------------------------------
    def say(self, bar, message: str) -> None:
        if self.accelerator.is_main_process:
            bar.write(message)

    def log(self, metrics: dict) -> None:
        if self.accelerator.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(metrics) + "\n")

    def save_model(self, folder: Path, dtype: torch.dtype = torch.float32) -> None:
        """A self-contained model folder: config.json, model.safetensors (in `dtype`), tokenizer, training record."""
        acc = self.accelerator
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.write_model(tmp, dtype)
        record = {"train_config": asdict(self.config), "step": self.step, "num_processes": acc.num_processes}
        (tmp / "training.json").write_text(json.dumps(record, indent=2))
        _replace_dir(tmp, folder)

    def write_model(self, folder: Path, dtype: torch.dtype) -> None:
        """Write the model's files (and the tokenizer's) into the new ``folder``; ``load_weights`` reads them."""
        model = self.accelerator.unwrap_model(self.model)
        # casting breaks the sharing of tied tensors, so the tied copies are left out (loaders re-tie them)
        tied = set(model._tied_weights_keys or {}) if model.config.tie_word_embeddings else set()
        state = {name: tensor.to(dtype) for name, tensor in model.state_dict().items() if name not in tied}
        model.save_pretrained(folder, state_dict=state)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(folder)

    def save_checkpoint(self) -> None:
        acc = self.accelerator
        folder = self.out / CHECKPOINTS / f"step-{self.step:08d}"
        self.save_model(folder.with_name(folder.name + ".partial") / "model")
        if acc.is_main_process:
            partial = folder.with_name(folder.name + ".partial")
            torch.save(self.optimizer.state_dict(), partial / "optimizer.pt")
            rng = {"cpu": torch.get_rng_state()}
            if torch.cuda.is_available():
                rng["cuda"] = torch.cuda.get_rng_state()
            torch.save(rng, partial / "rng.pt")
            (partial / "state.json").write_text(json.dumps({"step": self.step}))
            _replace_dir(partial, folder)  # a checkpoint exists whole or not at all
            for old in sorted(self.checkpoints())[: -self.config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()

    def load_weights(self, folder: Path) -> None:
        """Load the weights of a model folder written by ``save_model`` (strictly: every tensor, same shapes)."""
        load_state_strict(self.accelerator.unwrap_model(self.model), folder / "model.safetensors")

    def checkpoints(self) -> list[Path]:
        root = self.out / CHECKPOINTS
        if not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and "." not in p.name)

    def resume(self) -> None:
        """Load the latest whole checkpoint of output_dir, if any; else the weights of ``init_from``, if set."""
        found = self.checkpoints()
        if not found:
            if self.config.init_from:
                self.start_from(Path(self.config.init_from))
            return
        folder = found[-1]
        self.load_weights(folder / "model")
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True, map_location="cpu"))
        rng = torch.load(folder / "rng.pt", weights_only=True)
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])
        self.step = json.loads((folder / "state.json").read_text())["step"]
        if self.accelerator.is_main_process:
            print(f"resumed from {folder} at step {self.step}")


    def start_from(self, folder: Path) -> None:
        """Weights of a finished model folder, and its step from the training.json beside them (0 if none)."""
        if not folder.is_dir():
            raise FileNotFoundError(f"init_from: no model folder at {folder}")
        self.load_weights(folder)
        record = folder / "training.json"
        self.step = int(json.loads(record.read_text()).get("step", 0)) if record.is_file() else 0
        if self.step >= self.config.max_steps:
            raise ValueError(
                f"init_from {folder} is at step {self.step}, not before max_steps {self.config.max_steps}: raise max_steps"
            )
        if self.accelerator.is_main_process:
            print(f"started from the weights of {folder} at step {self.step} (new optimizer)")


def _replace_dir(src: Path, dst: Path) -> None:
    """Move src to dst, replacing it; the rename is atomic on one file system."""
    if dst.exists():
        old = dst.with_name(dst.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def build_from_config(config: TrainConfig) -> Trainer:
    """Tokenizer, model and data as the config says; the one path used by `dlm-train`."""
    from transformers import AutoTokenizer

    config.validate()
    if not config.tokenizer:
        raise ValueError("no tokenizer given: set `tokenizer` to a folder saved with save_pretrained")
    if not Path(config.tokenizer).is_dir():
        raise FileNotFoundError(f"tokenizer folder {config.tokenizer!r} not found (a folder saved with save_pretrained)")
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer, local_files_only=True)
    if tokenizer.mask_token_id is None:
        raise ValueError(f"tokenizer {config.tokenizer} has no mask token; a masked diffusion model needs one")
    try:
        model_config = DenoiserConfig(
            vocab_size=len(tokenizer),
            mask_token_id=tokenizer.mask_token_id,
            pad_token_id=tokenizer.pad_token_id,
            max_position_embeddings=max(config.seq_len, config.model.get("max_position_embeddings", 0)),
            **{k: v for k, v in config.model.items() if k != "max_position_embeddings"},
        )
    except (StrictDataclassError, ValueError, TypeError) as err:  # the config's own checks; unknown keys
        raise ValueError(f"invalid model settings {config.model}: {err}") from err
    if config.dataset:
        train = load_split(config.dataset, config.train_split)
        valid = load_split(config.dataset, config.validation_split)
    else:
        train = load_files(config.train_files, config.text_field)
        valid = load_files(config.validation_files, config.text_field) if config.validation_files else None
    train = tokenize(train, tokenizer, config.text_field, config.seq_len, config.packing)
    valid = tokenize(valid, tokenizer, config.text_field, config.seq_len, config.packing) if valid is not None else None
    torch.manual_seed(config.seed)
    return Trainer(config, Denoiser(model_config), train, valid, tokenizer=tokenizer)

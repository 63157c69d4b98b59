"""Train the code infilling model: read a recipe, cut the infilling datasets from the corpus, run the core's Trainer.

The datasets are saved in the run folder (``data/``, with the settings that made them) and reused when the
run is started again, which resumes from its latest checkpoint (the core's Trainer). Changing the corpus,
the tokenizer or the ``infill`` settings rebuilds them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import torch
from datasets import DatasetDict, load_from_disk

from apps.code.infill import INFILL_RECORD
from apps.code.infill_data import InfillDataConfig, build_infill_datasets
from apps.code.tokenizer import load_tokenizer
from shared_dlm import Denoiser, DenoiserConfig, Trainer, read_recipe

RECIPE = Path(__file__).with_name("recipe.yaml")
DATA = "data"
DATA_RECORD = "infill-data.json"


class InfillTrainer(Trainer):
    """The core Trainer; every model folder it writes also records the infilling settings (``infill.json``),
    from which ``apps.code.infill`` learns the most hole slots the model was trained on."""

    def __init__(self, *args, infill_config: InfillDataConfig, **kwargs):
        super().__init__(*args, **kwargs)
        self.infill_config = infill_config

    def write_model(self, folder: Path, dtype: torch.dtype) -> None:
        super().write_model(folder, dtype)
        (folder / INFILL_RECORD).write_text(json.dumps(dataclasses.asdict(self.infill_config), indent=2) + "\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def infill_datasets(
    corpus: Path, tokenizer_dir: Path, out: Path, config: InfillDataConfig, num_proc: int | None = None
):
    """The run's datasets: loaded from ``out/data`` when made from the same inputs, otherwise built and saved there."""
    tokenizer = load_tokenizer(tokenizer_dir)
    source = Path(corpus) / "SOURCE.json"
    record = {
        "corpus": str(Path(corpus).resolve()),
        "corpus_source_sha256": _sha256(source) if source.is_file() else None,
        "tokenizer_sha256": _sha256(Path(tokenizer_dir) / "tokenizer.json"),
        "infill": dataclasses.asdict(config),
    }
    folder = Path(out) / DATA
    saved = folder / DATA_RECORD
    if saved.is_file() and json.loads(saved.read_text()) == record:
        return load_from_disk(str(folder)), tokenizer
    data = build_infill_datasets(corpus, tokenizer, config, num_proc)
    staging = folder.with_name(folder.name + ".partial")  # swapped in whole, so a killed build leaves no half
    shutil.rmtree(staging, ignore_errors=True)
    data.save_to_disk(str(staging))
    (staging / DATA_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return data, tokenizer


def build_trainer(
    corpus: Path,
    tokenizer_dir: Path,
    out: Path,
    recipe: Path = RECIPE,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    num_proc: int | None = None,
    init_from: Path | None = None,
) -> Trainer:
    """The core Trainer for a recipe, with the infilling datasets and a fresh model (a checkpoint replaces it;
    so does ``init_from``, a finished model folder such as the shipped one, with its step)."""
    config, data_config = read_recipe(
        recipe,
        InfillDataConfig,
        section="infill",
        output_dir=str(out),
        tokenizer=str(tokenizer_dir),
        max_steps=max_steps,
        max_minutes=max_minutes,
        init_from=None if init_from is None else str(init_from),
    )
    data, tokenizer = infill_datasets(corpus, tokenizer_dir, out, data_config, num_proc)
    if not isinstance(data, DatasetDict) or "train" not in data:
        raise ValueError(f"{Path(out) / DATA}: not the infilling datasets; remove it to rebuild")
    model_config = DenoiserConfig(
        vocab_size=len(tokenizer),
        mask_token_id=tokenizer.mask_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=config.seq_len,
        **{k: v for k, v in config.model.items() if k != "max_position_embeddings"},
    )
    torch.manual_seed(config.seed)
    return InfillTrainer(
        config, Denoiser(model_config), data["train"], data.get("validation"), tokenizer=tokenizer, infill_config=data_config
    )

"""One place that resolves a model by name or local folder and loads it strictly.

`load("code-default")` finds a name registered by an app (its shipped model); `load("/path/to/folder")`
reads a folder written by `save_pretrained`. A folder of our own `Denoiser` is loaded strictly from
safetensors (every tensor present, no extra ones, shapes equal); any other `transformers` masked LM is
wrapped in `MaskedLMAdapter`. Nothing is ever downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch
from huggingface_hub.errors import StrictDataclassError
from safetensors import SafetensorError, safe_open
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from shared_dlm.adapters import MaskedLMAdapter
from shared_dlm.model import Denoiser, DenoiserConfig

WEIGHTS = "model.safetensors"
_REGISTRY: dict[str, Path] = {}
_LOADERS: dict[str, Callable[..., "Loaded"]] = {}


class CheckpointError(RuntimeError):
    """A checkpoint folder or file that cannot be loaded; the message names the file."""


def register_pretrained(name: str, folder: str | Path) -> None:
    """Make `load(name)` find `folder` (apps register their shipped models at import)."""
    _REGISTRY[name] = Path(folder)


def register_loader(name: str, loader: Callable[..., "Loaded"]) -> None:
    """Make `load(name)` call `loader(device=..., dtype=...)`: for a pretrained model whose files are not a
    model folder of their own (weights inside an installed package, say), as fair-esm's `esm.pretrained` does."""
    _LOADERS[name] = loader


def registered_names() -> list[str]:
    return sorted({*_REGISTRY, *_LOADERS})


def resolve(name_or_path: str | Path) -> Path:
    """A registered name or an existing local folder; otherwise an error that says what was looked for."""
    if str(name_or_path) in _REGISTRY:
        return _REGISTRY[str(name_or_path)]
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    known = ", ".join(registered_names()) or "none registered"
    raise FileNotFoundError(
        f"no model folder at {str(path)!r} and no registered model of that name (registered: {known}); "
        "models are never downloaded: pass a local folder written by save_pretrained"
    )


@dataclass
class Loaded:
    """A loaded denoiser and the tokenizer saved beside it (None if the folder has none)."""

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase | None
    path: Path


def copy_state_strict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], file: Path, optional: Iterable[str] = ()
) -> None:
    """Copy `state` into `model`: every tensor present (but those in `optional`), none extra, shapes equal;
    otherwise a CheckpointError that names the file and the tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state) - set(optional))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{file}: missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{file}: tensor {name!r} has shape {tuple(tensor.shape)}, the model expects {tuple(expected[name].shape)}"
            )
    model.load_state_dict(state, strict=False)  # only the optional tensors may be absent (checked above)


def load_state_strict(model: Denoiser, file: Path) -> None:
    """Copy every tensor of a safetensors file into a Denoiser, failing with the file and tensor named."""
    try:
        with safe_open(str(file), framework="pt") as f:
            found = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{file}: not a readable safetensors file ({err}); it may be truncated or corrupt") from err
    # tied tensors (the output head shares the embedding) are saved once; tie_weights restores them
    tied = set(model._tied_weights_keys or {}) if model.config.tie_word_embeddings else set()
    copy_state_strict(model, found, file, optional=tied)
    model.tie_weights()


def load_denoiser_folder(folder: Path) -> Denoiser:
    config_file = folder / "config.json"
    try:
        config = DenoiserConfig(**{k: v for k, v in json.loads(config_file.read_text()).items()
                                   if k not in ("model_type", "transformers_version", "architectures")})
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{config_file}: cannot read the model config ({err})") from err
    except (StrictDataclassError, ValueError, TypeError) as err:  # the config's own checks: shapes, ids, unknown keys
        raise CheckpointError(f"{config_file}: invalid config ({err})") from err
    model = Denoiser(config)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights}: no weights file in the model folder")
    load_state_strict(model, weights)
    return model


def load(
    name_or_path: str | Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> Loaded:
    """Load a denoiser (ours, or any masked LM through the adapter) and its tokenizer, in eval mode."""
    if str(name_or_path) in _LOADERS:
        loaded = _LOADERS[str(name_or_path)](device=device, dtype=dtype)
        loaded.model.eval()
        return loaded
    folder = resolve(name_or_path)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{config_file}: missing; a model folder holds config.json and {WEIGHTS}")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{config_file}: not valid JSON ({err})") from err
    has_tokenizer = any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True) if has_tokenizer else None
    if model_type == DenoiserConfig.model_type:
        model = load_denoiser_folder(folder)
    else:
        model = MaskedLMAdapter.from_pretrained(folder, tokenizer=tokenizer)
    model = model.to(device=device, dtype=dtype).eval()
    return Loaded(model=model, tokenizer=tokenizer, path=folder)

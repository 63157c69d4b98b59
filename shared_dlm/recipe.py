"""Training recipes: a YAML file of ``TrainConfig`` settings at the top level and, for an app's trainer, one
section of its own settings, read into the app's dataclass. Every key must be known: a misspelt setting is
an error that names the file, the section and the key, never a silent default."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from shared_dlm.train import TrainConfig

S = TypeVar("S")


def read_recipe(
    path: str | Path, section_type: type[S] | None = None, *, section: str = "", **overrides: Any
) -> tuple[TrainConfig, S | None]:
    """The ``TrainConfig`` of the recipe at ``path`` (``overrides`` that are not None replace its settings;
    validated) and its ``section`` read into ``section_type``, a dataclass (None: the recipe has no section).
    A field of ``section_type`` that is also a ``TrainConfig`` setting (``seq_len``, ``seed``) takes the
    ``TrainConfig``'s value and is not written in the section. An int is read as a float where a float is
    declared; any other value of the wrong type for an int, float, str or bool field is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no recipe at {path}")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of settings, got {type(values).__name__}")
    if (section_type is None) != (not section):
        raise TypeError("read_recipe takes a section name exactly when it takes a section type")
    raw = values.pop(section, None) if section_type is not None else None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    _reject_unknown(path, "the top level", values, known | ({section} if section else set()))
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = TrainConfig(**values)
    config.validate()
    if section_type is None:
        return config, None
    return config, _read_section(path, section, raw or {}, section_type, config)


def _read_section(path: Path, section: str, raw: Any, section_type: type[S], config: TrainConfig) -> S:
    where = f"section {section!r}"
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: {where} must hold a mapping of settings, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(section_type)}
    shared = fields.keys() & {f.name for f in dataclasses.fields(TrainConfig)}  # taken from the top level
    _reject_unknown(path, where, raw, fields.keys() - shared)
    hints = typing.get_type_hints(section_type)
    values = {name: _typed(path, where, name, value, hints[name]) for name, value in raw.items()}
    values.update({name: getattr(config, name) for name in shared})
    missing = sorted(
        name for name, f in fields.items()
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )  # fmt: skip
    if missing:
        raise ValueError(f"{path}: {where} needs the settings {missing}")
    try:
        return section_type(**values)
    except ValueError as error:
        raise ValueError(f"{path}: {where}: {error}") from None


def _reject_unknown(path: Path, where: str, values: dict, known: set[str]) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown settings {unknown} in {where}; known: {sorted(known)}")


def _typed(path: Path, where: str, name: str, value: Any, hint: Any) -> Any:
    """``value`` checked against a plain field type (``X | None`` allows None); an int widened to a float."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if value is None and len(options) < len(typing.get_args(hint)):
            return None
        hint = options[0] if len(options) == 1 else Any
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise ValueError(f"{path}: {name} in {where} must be {hint.__name__}, got {value!r}")
    return value

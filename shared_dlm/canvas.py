"""The canvas a sampler fills: ids with masks still to generate, positions it must never change,
and the tokens allowed at each position. Also the Remasker protocol, the hook through which an app
(tree-sitter for code, ESM likelihood for proteins) sends positions back to be generated again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence

import torch
from torch import Tensor

from shared_dlm.model import TokenSpec


class CanvasError(ValueError):
    """A canvas that no sampler can fill; the message says what is wrong and where."""


@dataclass
class Canvas:
    ids: Tensor  # (B, L) long; spec.mask_id where still to generate
    fixed: Tensor  # (B, L) bool; never changed by any sampler
    allowed: Tensor | None = None  # (B, L, V) or (L, V) bool; tokens permitted per position
    attention_mask: Tensor | None = None  # (B, L) bool; False on padding (batches of unequal lengths)
    logp: Tensor | None = None  # (B, L) float; set by `generate`: log-prob of each token when committed
    # (B, L) bool, a subset of `fixed`: conditioning controls (e.g. function tags) that classifier-free
    # guidance removes (stops attending to) for its unconditional forward
    control: Tensor | None = None

    @classmethod
    def blank(cls, batch: int, length: int, spec: TokenSpec, device: torch.device | str = "cpu") -> "Canvas":
        """A fully masked canvas: unconditional generation."""
        ids = torch.full((batch, length), spec.mask_id, dtype=torch.long, device=device)
        return cls(ids=ids, fixed=torch.zeros_like(ids, dtype=torch.bool))

    @classmethod
    def from_template(
        cls,
        template: Sequence[int | None],
        spec: TokenSpec,
        batch: int = 1,
        allowed: Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> "Canvas":
        """One template repeated `batch` times: an int is a fixed token, None a position to generate."""
        row = torch.tensor([spec.mask_id if tok is None else tok for tok in template], dtype=torch.long, device=device)
        fixed = torch.tensor([tok is not None for tok in template], dtype=torch.bool, device=device)
        canvas = cls(ids=row.repeat(batch, 1), fixed=fixed.repeat(batch, 1), allowed=allowed)
        canvas.validate(spec)
        return canvas

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.ids.shape)

    def clone(self) -> "Canvas":
        return replace(self, ids=self.ids.clone())

    def masked(self, mask_id: int) -> Tensor:
        """(B, L) bool: free positions that still hold the mask token."""
        free = ~self.fixed
        if self.attention_mask is not None:
            free &= self.attention_mask
        return (self.ids == mask_id) & free

    def allowed_for_batch(self) -> Tensor | None:
        """The allowed sets broadcast to (B, L, V), or None if every token is allowed."""
        if self.allowed is None:
            return None
        return self.allowed.expand(self.ids.shape[0], *self.allowed.shape[-2:])

    def validate(self, spec: TokenSpec) -> None:
        """Raise CanvasError for a canvas that cannot be sampled with a model of this spec."""
        if self.ids.dim() != 2:
            raise CanvasError(f"canvas ids must be (batch, length), got shape {tuple(self.ids.shape)}")
        batch, length = self.ids.shape
        if length == 0:
            raise CanvasError("canvas has length 0: nothing to generate")
        if length > spec.max_len:
            raise CanvasError(f"canvas length {length} exceeds the model's maximum of {spec.max_len} positions")
        if self.fixed.shape != self.ids.shape:
            raise CanvasError(f"fixed has shape {tuple(self.fixed.shape)}, ids {tuple(self.ids.shape)}")
        if self.attention_mask is not None and self.attention_mask.shape != self.ids.shape:
            raise CanvasError(f"attention_mask has shape {tuple(self.attention_mask.shape)}, ids {tuple(self.ids.shape)}")
        if self.control is not None:
            if self.control.shape != self.ids.shape:
                raise CanvasError(f"control has shape {tuple(self.control.shape)}, ids {tuple(self.ids.shape)}")
            loose = self.control & ~self.fixed
            if loose.any():
                b, pos = (int(i) for i in loose.nonzero()[0])
                raise CanvasError(f"position {pos} of row {b} is a control position but not fixed: a sampler could change it")
        bad = (self.ids < 0) | (self.ids >= spec.vocab_size)
        if bad.any():
            b, pos = (int(i) for i in bad.nonzero()[0])
            raise CanvasError(
                f"token id {int(self.ids[b, pos])} at row {b}, position {pos} is outside the vocabulary (size {spec.vocab_size})"
            )
        fixed_mask = self.fixed & (self.ids == spec.mask_id)
        if fixed_mask.any():
            b, pos = (int(i) for i in fixed_mask.nonzero()[0])
            raise CanvasError(f"position {pos} of row {b} is fixed but holds the mask token")
        if self.allowed is None:
            return
        if self.allowed.shape[-2:] != (length, spec.vocab_size) or self.allowed.dim() not in (2, 3):
            raise CanvasError(
                f"allowed must be (length, vocab) or (batch, length, vocab) = (.., {length}, {spec.vocab_size}), "
                f"got {tuple(self.allowed.shape)}"
            )
        allowed = self.allowed_for_batch().clone()
        allowed[..., spec.mask_id] = False  # a sampler never commits the mask or pad token
        if spec.pad_id is not None:
            allowed[..., spec.pad_id] = False
        empty = ~allowed.any(-1) & self.masked(spec.mask_id)
        if empty.any():
            b, pos = (int(i) for i in empty.nonzero()[0])
            raise CanvasError(f"position {pos} of row {b} has an empty allowed set: no token may be placed there")


class Remasker(Protocol):
    """Called after each denoising step while steps remain; returns (B, L) bool, positions to mask again.

    The loop never remasks fixed positions, whatever the hook returns.
    """

    def __call__(self, canvas: Canvas, step: int) -> Tensor: ...

"""ESM-guided remasking: a core ``Remasker`` that sends generated residues ESM-2 finds unlikely back
to the mask while denoising steps remain (the ReMDM idea, Wang et al. 2025, with ESM-2 as the judge).

Cost: one ESM-2 forward per call for the whole batch, with each row read as it stands (committed
residues, and masks where residues are still to come). The score of residue i is log p(x_i | x) with
x_i visible: the "wild-type marginal" of Meier et al. 2021, not the masked pseudo-likelihood of
``scoring.py`` (one forward per residue). It runs higher than the masked value, since the model sees
the residue it scores, so thresholds are on this scale: log(1/20) = -3.0 is a uniform guess. A canvas
longer than the context the scorer was trained on is read in overlapping windows of that length
(``scoring.windowed_logits``), as ``scoring.py`` does for the pseudo-likelihood.
"""

from __future__ import annotations

import math

import torch
from esm.model.esm2 import ESM2
from torch import Tensor

from apps.protein.scoring import resolve_window, windowed_logits
from shared_dlm import Canvas, top_k_per_row


class EsmRemasker:
    """Remask committed free residues whose ESM-2 log-probability is below ``threshold``.

    Called after every ``every``-th step only (steps every-1, 2*every-1, ...), to bound the cost. Per
    call and row, at most floor(``max_fraction`` x the row's free positions) residues go back, the least
    likely first, so the loop converges. Fixed positions (motifs, ``<cls>``, ``<eos>``) and positions
    still masked are never returned.

    The canvas must hold ESM alphabet ids, as the protein generator does (``apps.protein.alphabet``).
    ``specials=True`` is the layout of ``motifs.to_canvas``: ``<cls>`` residues ``<eos>``, which ESM-2
    reads as it is; ``specials=False`` (residues only) is wrapped in ``<cls>`` ... ``<eos>`` here.
    Padding (``canvas.attention_mask``) is expected at the end of a row. ``window``: the tokens one read
    sees ("trained": the model's ``trained_context``; None: the whole canvas).
    """

    def __init__(
        self, model: ESM2, threshold: float, *, every: int = 4, max_fraction: float = 0.1, specials: bool = True,
        window: int | None | str = "trained",
    ):  # fmt: skip
        if every < 1:
            raise ValueError(f"every must be at least 1 (remask after every k-th step), got {every}")
        if not 0.0 < max_fraction <= 1.0:
            raise ValueError(f"max_fraction must lie in (0, 1], got {max_fraction}")
        if math.isnan(threshold):
            raise ValueError("threshold is NaN: expected a log-probability such as -3.0")
        self.model = model.eval()
        self.threshold = threshold
        self.every = every
        self.max_fraction = max_fraction
        self.specials = specials
        self.window = resolve_window(model, window, 2)

    @torch.no_grad()
    def __call__(self, canvas: Canvas, step: int) -> Tensor:
        """(B, L) bool: the positions to mask again after ``step``."""
        ids = canvas.ids  # (B, L)
        hit = torch.zeros_like(canvas.fixed)
        if (step + 1) % self.every:
            return hit
        real = torch.ones_like(canvas.fixed) if canvas.attention_mask is None else canvas.attention_mask.bool()
        free = ~canvas.fixed & real
        committed = free & (ids != self.model.mask_idx)
        if not committed.any():
            return hit
        vocab = len(self.model.alphabet.all_toks)
        outside = real & ((ids < 0) | (ids >= vocab))
        if outside.any():
            b, pos = (int(i) for i in outside.nonzero()[0])
            raise ValueError(
                f"canvas row {b}, position {pos} holds token id {int(ids[b, pos])}, outside the ESM alphabet ({vocab} tokens)"
            )
        device = next(self.model.parameters()).device
        ids = ids.masked_fill(~real, self.model.padding_idx).to(device)
        logits = windowed_logits(self.model, self._esm_tokens(ids, real.to(device)), self.window).float()  # (B, T, V)
        if not self.specials:
            logits = logits[:, 1:-1]
        logp = logits.log_softmax(-1).gather(-1, ids[..., None])[..., 0].to(canvas.ids.device)  # (B, L)
        low = committed & (logp < self.threshold)
        cap = (free.sum(-1).double() * self.max_fraction).floor().long()  # (B,)
        return top_k_per_row(-logp, low, cap)  # the least likely first

    def _esm_tokens(self, ids: Tensor, real: Tensor) -> Tensor:
        """ESM-2 input (B, T): the canvas itself, or wrapped in <cls> ... <eos> before any padding."""
        if self.specials:
            return ids
        batch, length = ids.shape
        tokens = torch.full((batch, length + 2), self.model.padding_idx, dtype=ids.dtype, device=ids.device)
        tokens[:, 0] = self.model.cls_idx
        tokens[:, 1:-1] = ids
        tokens[torch.arange(batch, device=ids.device), real.sum(-1) + 1] = self.model.eos_idx
        return tokens

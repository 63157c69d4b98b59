"""Any `transformers` masked language model as a denoiser.

A masked LM trained with BERT's objective already predicts x_0 at masked positions from bidirectional
context, which is what a masked-diffusion denoiser does; DiffusionBERT and Diffusion-LM-style work
sample from such models with the same loops (He et al. 2023). ESM-2, BERT, RoBERTa and ModernBERT
all load through `AutoModelForMaskedLM`.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn
from transformers import AutoModelForMaskedLM, PreTrainedModel
from transformers.utils import logging as hf_logging

from shared_dlm.model import TokenSpec

# Models whose learned positions start after the padding index, so that max_position_embeddings holds
# pad_token_id + 1 rows no token of a sequence uses (RoBERTa and its descendants).
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")


class MaskedLMAdapter(nn.Module):
    """Wraps a masked LM so that it maps ids (B, L) to logits (B, L, V); it takes no time input."""

    def __init__(self, mlm: PreTrainedModel, mask_id: int, pad_id: int | None = None, max_len: int | None = None):
        super().__init__()
        config = mlm.config
        if max_len is None:
            max_len = getattr(config, "max_position_embeddings", None)
            if max_len is None:
                raise ValueError(f"{type(config).__name__} has no max_position_embeddings: pass max_len")
            if config.model_type in OFFSET_POSITIONS:  # positions count from pad_token_id + 1 (fairseq's rule)
                max_len -= config.pad_token_id + 1
        self.mlm = mlm
        self.spec = TokenSpec(config.vocab_size, mask_id, pad_id, max_len)

    @classmethod
    def from_pretrained(cls, path: str | Path, tokenizer=None, **kwargs) -> "MaskedLMAdapter":
        """Load a local masked LM folder (never downloads); ids of mask and pad come from its tokenizer."""
        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a local read of a few tensors: no progress bar on a CLI's stderr
        try:
            mlm = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True, **kwargs)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        mask_id = getattr(tokenizer, "mask_token_id", None)
        if mask_id is None:
            mask_id = getattr(mlm.config, "mask_token_id", None)
        if mask_id is None:
            raise ValueError(f"{path}: neither its tokenizer nor its config names a mask token")
        pad_id = getattr(tokenizer, "pad_token_id", None)
        if pad_id is None:
            pad_id = getattr(mlm.config, "pad_token_id", None)
        return cls(mlm, mask_id=mask_id, pad_id=pad_id)

    @property
    def config(self):
        return self.mlm.config

    def forward(self, input_ids: Tensor, t: Tensor | None = None, attention_mask: Tensor | None = None) -> Tensor:
        """t is accepted for the common interface and ignored: a masked LM has no notion of time."""
        if attention_mask is not None:
            attention_mask = attention_mask.long()
        return self.mlm(input_ids=input_ids, attention_mask=attention_mask).logits

"""A transformers masked LM (a tiny random ESM-2 and BERT built here) serves as a denoiser."""

import torch
from transformers import BertConfig, BertForMaskedLM, EsmConfig, EsmForMaskedLM, EsmTokenizer

from shared_dlm import Canvas, MaskedLMAdapter, SamplerConfig, generate, load

ESM_TOKENS = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]


def tiny_esm(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(ESM_TOKENS))
    tokenizer = EsmTokenizer(str(vocab))
    torch.manual_seed(0)
    config = EsmConfig(
        vocab_size=len(ESM_TOKENS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, position_embedding_type="rotary", mask_token_id=tokenizer.mask_token_id,
        pad_token_id=tokenizer.pad_token_id, token_dropout=True,
    )
    return EsmForMaskedLM(config).eval(), tokenizer


def test_esm_adapter_fills_a_protein_canvas_and_keeps_the_motif(tmp_path):
    mlm, tokenizer = tiny_esm(tmp_path)
    adapter = MaskedLMAdapter(mlm, mask_id=tokenizer.mask_token_id, pad_id=tokenizer.pad_token_id)
    assert adapter.spec.mask_id == 32 and adapter.spec.vocab_size == 33
    residues = [tokenizer.convert_tokens_to_ids(a) for a in "ACDEFGHIKLMNPQRSTVWY"]
    allowed = torch.zeros(20, 33, dtype=torch.bool)
    allowed[:, residues] = True
    motif = tokenizer.convert_tokens_to_ids(list("HEAAH"))
    template = [None] * 8 + motif + [None] * 7
    canvas = Canvas.from_template(template, adapter.spec, batch=3, allowed=allowed)
    out = generate(adapter, canvas, SamplerConfig(steps=6), generator=torch.Generator().manual_seed(0))
    assert (out.ids[:, 8:13] == torch.tensor(motif)).all()
    assert torch.isin(out.ids, torch.tensor(residues)).all()


def test_load_wraps_a_saved_masked_lm_with_its_tokenizer(tmp_path):
    mlm, tokenizer = tiny_esm(tmp_path)
    folder = tmp_path / "esm"
    mlm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    loaded = load(folder)
    assert isinstance(loaded.model, MaskedLMAdapter)
    assert loaded.model.spec.mask_id == tokenizer.mask_token_id and loaded.model.spec.pad_id == tokenizer.pad_token_id
    ids = torch.tensor([tokenizer.encode("MKV")])
    assert torch.allclose(loaded.model(ids), mlm(input_ids=ids).logits)


def test_bert_adapter_samples():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=16)
    adapter = MaskedLMAdapter(BertForMaskedLM(config).eval(), mask_id=3, pad_id=0)
    out = generate(adapter, Canvas.from_template([5, None, None, 6], adapter.spec, batch=2), SamplerConfig(steps=2))
    assert out.ids[:, 0].eq(5).all() and out.ids[:, 3].eq(6).all() and not out.ids.eq(3).any()

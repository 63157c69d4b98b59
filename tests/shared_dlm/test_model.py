import json

import pytest
import torch
from transformers import AutoModel, AutoModelForMaskedLM

from shared_dlm import CheckpointError, Denoiser, load
from shared_dlm.model import apply_rotary, rotary_tables
from tests.conftest import tiny_denoiser


def test_logits_shape_and_bidirectional_context(model):
    ids = torch.randint(2, 12, (2, 10), generator=torch.Generator().manual_seed(0))
    logits = model(ids)
    assert logits.shape == (2, 10, 12)
    changed = ids.clone()
    changed[:, -1] = (ids[:, -1] + 1 - 2) % 10 + 2
    # a token at the end changes the prediction at the start: no causal mask
    assert not torch.allclose(model(changed)[:, 0], logits[:, 0])


def test_padding_does_not_change_real_positions(model):
    ids = torch.randint(2, 12, (1, 10), generator=torch.Generator().manual_seed(0))
    attention = torch.ones_like(ids, dtype=torch.bool)
    attention[:, 7:] = False
    other = ids.clone()
    other[:, 7:] = 5
    a = model(ids, attention_mask=attention)[:, :7]
    b = model(other, attention_mask=attention)[:, :7]
    assert torch.allclose(a, b, atol=1e-6)


def test_logits_at_positions_equal_the_full_forward_there(model):
    """The sampling loop asks for logits at the free positions only: the same numbers, without the rest."""
    ids = torch.randint(2, 12, (3, 10), generator=torch.Generator().manual_seed(1))
    attention = torch.ones_like(ids, dtype=torch.bool)
    attention[2, 8:] = False
    positions = torch.tensor([[4, 5, 6], [0, 9, 2], [7, 1, 3]])  # (B, Q), any order
    full = model(ids, attention_mask=attention)  # (B, L, V)
    sparse = model(ids, attention_mask=attention, positions=positions)  # (B, Q, V)
    assert sparse.shape == (3, 3, 12)
    torch.testing.assert_close(sparse, full.gather(1, positions[..., None].expand(-1, -1, 12)), rtol=0, atol=1e-6)


def test_rotary_scores_depend_only_on_the_offset():
    """RoPE's point (Su et al. 2021, eq. 16): q_m . k_n is a function of m - n, and rotation keeps norms."""
    q, k = torch.randn(2, 8, generator=torch.Generator().manual_seed(0)).unbind(0)
    cos, sin = rotary_tables(12, 8, 10000.0, "cpu", torch.float32)  # (L, D)
    rq, rk = apply_rotary(q.expand(12, 8), cos, sin), apply_rotary(k.expand(12, 8), cos, sin)  # (L, D)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm().expand(12))
    torch.testing.assert_close(rq[5] @ rk[2], rq[9] @ rk[6])
    torch.testing.assert_close(rq[0] @ rk[0], q @ k)


def test_too_long_input_is_refused(model):
    with pytest.raises(ValueError, match="exceeds max_position_embeddings 32"):
        model(torch.zeros(1, 33, dtype=torch.long))


def test_time_conditioning_is_optional_and_used_when_on():
    model = tiny_denoiser(time_conditioning=True)
    ids = torch.randint(2, 12, (2, 6))
    with pytest.raises(ValueError, match="needs t"):
        model(ids)
    a = model(ids, t=torch.tensor([0.1, 0.1]))
    b = model(ids, t=torch.tensor([0.9, 0.9]))
    assert not torch.allclose(a, b)


def test_save_and_load_round_trip_bit_exact(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    ids = torch.randint(2, 12, (3, 9))
    loaded = load(tmp_path).model
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(model(ids), loaded(ids))
    assert loaded.lm_head.weight.data_ptr() == loaded.embed.weight.data_ptr()  # tied again
    assert isinstance(AutoModelForMaskedLM.from_pretrained(tmp_path), Denoiser)
    assert isinstance(AutoModel.from_pretrained(tmp_path), Denoiser)


def test_truncated_checkpoint_names_the_file(model, tmp_path):
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="model.safetensors.*truncated"):
        load(tmp_path)


def test_wrong_shapes_name_the_file_and_tensor(model, tmp_path):
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["intermediate_size"] = 48
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"model.safetensors: tensor 'blocks.0.mlp.down.weight' has shape \(32, 64\), the model expects \(32, 48\)"):
        load(tmp_path)


def test_missing_folder_and_missing_weights_are_explained(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load(tmp_path / "nowhere")
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights file"):
        load(tmp_path)

"""Training: a toy language is learnt, runs resume exactly, checkpoints are whole, the CLI works."""

import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from shared_dlm import Canvas, Confidence, Denoiser, DenoiserConfig, SamplerConfig, generate, load, read_recipe
from shared_dlm.cli import parse_train_config
from shared_dlm.train import TrainConfig, Trainer, lr_at
from tests.shared_dlm.toy import LENGTH, balanced, bracket_dataset, bracket_tokenizer

TOKENIZER = bracket_tokenizer()


def bracket_model(seed=0, **kw):
    torch.manual_seed(seed)
    return Denoiser(DenoiserConfig(
        vocab_size=len(TOKENIZER), hidden_size=kw.get("hidden", 64), num_hidden_layers=kw.get("layers", 3),
        num_attention_heads=4, intermediate_size=2 * kw.get("hidden", 64), max_position_embeddings=LENGTH,
        mask_token_id=TOKENIZER.mask_token_id, pad_token_id=TOKENIZER.pad_token_id,
    ))


def config(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path / "run"), seq_len=LENGTH, batch_size=16, max_steps=6, lr=1e-3, warmup_steps=2,
                eval_every=1000, save_every=3, log_every=1, schedule="linear")
    base.update(kw)
    return TrainConfig(**base)


def sample_brackets(model, n=200, strategy=None, steps=LENGTH):
    out = generate(model, Canvas.blank(n, LENGTH, model.spec), SamplerConfig(steps=steps, strategy=strategy or Confidence()),
                   generator=torch.Generator().manual_seed(1))
    return [TOKENIZER.decode(row) for row in out.ids.tolist()]


@pytest.mark.slow
def test_tiny_denoiser_learns_balanced_brackets(tmp_path):
    data = bracket_dataset(4000, TOKENIZER)
    valid = bracket_dataset(256, TOKENIZER, seed=99)
    cfg = config(tmp_path, batch_size=64, max_steps=800, lr=3e-3, warmup_steps=20, eval_every=800, save_every=800, log_every=100)
    trainer = Trainer(cfg, bracket_model(), data, valid, tokenizer=TOKENIZER)
    trainer.train()
    trained = load(tmp_path / "run" / "model").model  # the saved folder, as a user would load it
    samples = sample_brackets(trained)
    valid_share = sum(map(balanced, samples)) / len(samples)
    random_share = sum(map(balanced, sample_brackets(bracket_model(seed=5).eval()))) / len(samples)
    assert valid_share >= 0.95, samples[:10]
    assert random_share <= 0.05
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    bits = [r["eval_bits_per_token"] for r in records if "eval_bits_per_token" in r]
    assert bits and bits[-1] < 0.8  # a uniform guess over ( and ) costs 1 bit a token


def test_resume_after_a_kill_matches_an_uninterrupted_run_bit_exactly(tmp_path):
    data = bracket_dataset(100, TOKENIZER)  # 6 batches an epoch: the run crosses an epoch
    straight = Trainer(config(tmp_path / "a", grad_accum=2, max_steps=8), bracket_model(hidden=32, layers=1), data)
    straight.train()

    class Killed(Exception):
        pass

    cfg = config(tmp_path / "b", grad_accum=2, max_steps=8)
    first = Trainer(cfg, bracket_model(hidden=32, layers=1), data)
    original = first.micro_batch

    def dies_at_step_4(index):
        if index == 4 * cfg.grad_accum + 1:  # the middle of step 4, after the checkpoint at step 3
            raise Killed
        return original(index)

    first.micro_batch = dies_at_step_4
    with pytest.raises(Killed):
        first.train()
    resumed = Trainer(cfg, bracket_model(seed=123, hidden=32, layers=1), data)  # other init: all state comes from disk
    resumed.train()
    assert resumed.step == 8
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    checkpoints = sorted(p.name for p in (tmp_path / "b" / "run" / "checkpoints").iterdir())
    assert checkpoints == ["step-00000006", "step-00000008"]  # keep_checkpoints=2


def test_a_half_written_checkpoint_is_ignored(tmp_path):
    data = bracket_dataset(64, TOKENIZER)
    cfg = config(tmp_path, max_steps=3)
    Trainer(cfg, bracket_model(hidden=32, layers=1), data).train()
    root = tmp_path / "run" / "checkpoints"
    (root / "step-00000009.partial").mkdir()
    resumed = Trainer(config(tmp_path, max_steps=4), bracket_model(hidden=32, layers=1), data)
    resumed.resume()
    assert resumed.step == 3


def test_logged_seconds_per_step_count_the_steps_of_the_window_also_after_a_resume(tmp_path, monkeypatch):
    import types

    import shared_dlm.train as train_module

    clock = [0.0]
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    data = bracket_dataset(64, TOKENIZER)
    for max_steps in (3, 7):  # the second run resumes at step 3
        trainer = Trainer(config(tmp_path, max_steps=max_steps, log_every=2), bracket_model(hidden=32, layers=1), data)
        original = trainer.micro_batch

        def slow_batch(index, original=original):
            clock[0] += 1.5  # each step takes 1.5 s on this clock
            return original(index)

        trainer.micro_batch = slow_batch
        trainer.train()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [(r["step"], r["s_per_step"]) for r in records if "s_per_step" in r]
    assert [step for step, _ in logged] == [2, 3, 4, 6, 7]
    assert all(value == pytest.approx(1.5) for _, value in logged)


def test_learning_rate_warms_up_then_decays():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55) and lr_at(110, cfg) == pytest.approx(0.1)


def test_bad_settings_are_refused(tmp_path):
    data = bracket_dataset(8, TOKENIZER)
    with pytest.raises(ValueError, match="cannot fill one batch"):
        Trainer(config(tmp_path, batch_size=16), bracket_model(hidden=32, layers=1), data)
    with pytest.raises(ValueError, match="unknown model settings \\['hiden_size'\\]"):
        config(tmp_path, model={"hiden_size": 3}).validate()
    with pytest.raises(ValueError, match="weighting"):
        config(tmp_path, weighting="x").validate()


def test_cli_trains_from_yaml_and_flags_then_samples(tmp_path):
    tokenizer_dir = tmp_path / "tok"
    TOKENIZER.save_pretrained(tokenizer_dir)
    import random

    from tests.shared_dlm.toy import dyck_word

    rng = random.Random(0)
    (tmp_path / "train.txt").write_text("\n".join(dyck_word(rng) for _ in range(200)))
    (tmp_path / "valid.txt").write_text("\n".join(dyck_word(rng) for _ in range(40)))
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text(textwrap.dedent(f"""
        output_dir: {tmp_path / 'run'}
        tokenizer: {tokenizer_dir}
        train_files: [{tmp_path / 'train.txt'}]
        validation_files: [{tmp_path / 'valid.txt'}]
        seq_len: {LENGTH}
        batch_size: 8
        max_steps: 100
        model: {{hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}}
    """))
    cfg = parse_train_config(["--config", str(yaml_file), "--max-steps", "4", "--model", "hidden_size=16", "--no-antithetic"])
    assert cfg.max_steps == 4 and cfg.model["hidden_size"] == 16 and cfg.model["num_hidden_layers"] == 1 and not cfg.antithetic
    run = subprocess.run([sys.executable, "-m", "shared_dlm.cli", "--config", str(yaml_file), "--max-steps", "4",
                          "--eval-every", "2"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1])["step"] == 4
    model_dir = tmp_path / "run" / "model"
    assert {"config.json", "model.safetensors", "tokenizer.json", "training.json"} <= {p.name for p in model_dir.iterdir()}
    sample = subprocess.run([sys.executable, "-c", "from shared_dlm.cli import sample_main; sample_main()", str(model_dir),
                             "--length", "8", "--num", "3", "--json"], capture_output=True, text=True)
    assert sample.returncode == 0, sample.stderr
    samples = json.loads(sample.stdout)["samples"]
    assert len(samples) == 3 and all(len(s) == 8 and set(s) <= set("()") for s in samples)


def test_cli_refuses_unknown_settings_with_a_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 3\n")
    with pytest.raises(SystemExit, match="unknown settings \\['learning_rate'\\]"):
        parse_train_config(["--config", str(bad)])


@pytest.mark.slow
def test_accelerate_launch_with_two_processes_trains_through_ddp(tmp_path):
    import random
    import shutil

    from tests.shared_dlm.toy import dyck_word

    if shutil.which("accelerate") is None:
        pytest.skip("the accelerate launcher is not on PATH")
    rng = random.Random(0)
    (tmp_path / "train.txt").write_text("\n".join(dyck_word(rng) for _ in range(200)))
    TOKENIZER.save_pretrained(tmp_path / "tok")
    run = subprocess.run(
        ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "-m", "shared_dlm.cli",
         "--output-dir", str(tmp_path / "run"), "--tokenizer", str(tmp_path / "tok"), "--train-files", str(tmp_path / "train.txt"),
         "--seq-len", str(LENGTH), "--batch-size", "8", "--max-steps", "4", "--save-every", "2",
         "--model", "hidden_size=32", "num_hidden_layers=1", "num_attention_heads=2", "intermediate_size=64"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "model" / "training.json").read_text())
    assert record["step"] == 4 and record["num_processes"] == 2
    assert load(tmp_path / "run" / "model").model.spec.max_len == LENGTH


def test_final_model_can_be_stored_in_bfloat16_and_loads_back(tmp_path):
    data = bracket_dataset(64, TOKENIZER)
    trainer = Trainer(config(tmp_path, max_steps=2, save_dtype="bfloat16"), bracket_model(hidden=32, layers=1), data)
    trainer.train()
    folder = tmp_path / "run" / "model"
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
        assert "lm_head.weight" not in f.keys()  # the tied head is stored once, as the embedding
    loaded = load(folder).model
    trained = trainer.accelerator.unwrap_model(trainer.model)
    for (name, a), b in zip(trained.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a.to(torch.bfloat16).float(), b), name
    with pytest.raises(ValueError, match="save_dtype"):
        config(tmp_path, save_dtype="int8").validate()


def test_build_from_config_explains_a_missing_tokenizer_and_bad_model_settings(tmp_path):
    from shared_dlm import build_from_config

    with pytest.raises(FileNotFoundError, match="tokenizer folder .*nope.* not found"):
        build_from_config(config(tmp_path, tokenizer=str(tmp_path / "nope"), train_files=["x.txt"]))
    TOKENIZER.save_pretrained(tmp_path / "tok")
    bad = config(tmp_path, tokenizer=str(tmp_path / "tok"), train_files=["x.txt"],
                 model={"hidden_size": 30, "num_attention_heads": 4})
    with pytest.raises(ValueError, match="(?s)invalid model settings.*not divisible"):
        build_from_config(bad)


def test_init_from_starts_a_new_run_from_a_finished_model_and_its_step(tmp_path):
    data = bracket_dataset(100, TOKENIZER)
    first = Trainer(config(tmp_path / "a", max_steps=6), bracket_model(hidden=32, layers=1), data, tokenizer=TOKENIZER)
    first.train()
    finished = tmp_path / "a" / "run" / "model"
    cfg = config(tmp_path / "b", max_steps=9, init_from=str(finished))
    second = Trainer(cfg, bracket_model(seed=123, hidden=32, layers=1), data, tokenizer=TOKENIZER)
    second.resume()
    assert second.step == 6  # the schedule and the data order go on where the finished run stopped
    for (name, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert not second.optimizer.state  # its moments were not saved with the model: a new optimizer
    second.train()
    assert second.step == 9
    assert json.loads((tmp_path / "b" / "run" / "model" / "training.json").read_text())["step"] == 9
    assert not torch.equal(next(iter(first.model.parameters())), next(iter(second.model.parameters())))

    # once the new run has a checkpoint, it resumes from that, not from init_from
    again = Trainer(config(tmp_path / "b", max_steps=12, init_from=str(finished)), bracket_model(hidden=32, layers=1), data)
    again.resume()
    assert again.step == 9


def test_init_from_refuses_a_missing_folder_and_a_finished_schedule(tmp_path):
    data = bracket_dataset(100, TOKENIZER)
    missing = Trainer(config(tmp_path / "m", init_from=str(tmp_path / "nowhere")), bracket_model(hidden=32, layers=1), data)
    with pytest.raises(FileNotFoundError, match="no model folder"):
        missing.resume()
    Trainer(config(tmp_path / "a", max_steps=3), bracket_model(hidden=32, layers=1), data).train()
    done = Trainer(config(tmp_path / "b", max_steps=3, init_from=str(tmp_path / "a" / "run" / "model")),
                   bracket_model(hidden=32, layers=1), data)
    with pytest.raises(ValueError, match="raise max_steps"):
        done.resume()


@dataclasses.dataclass(frozen=True)
class _Section:
    width: int
    rate: float = 0.5
    name: str | None = None
    seq_len: int = 0  # also a TrainConfig setting: taken from the top level


def test_read_recipe_reads_a_typed_section_and_the_shared_settings(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("seq_len: 64\nmax_steps: 10\napp: {width: 3, rate: 1}\n")
    config, section = read_recipe(recipe, _Section, section="app", max_steps=7, seed=None)
    assert config.seq_len == 64 and config.max_steps == 7 and config.seed == 0  # None overrides nothing
    assert section == _Section(width=3, rate=1.0, seq_len=64) and isinstance(section.rate, float)
    assert read_recipe(recipe, _Section, section="app")[0].max_steps == 10
    plain = tmp_path / "plain.yaml"
    plain.write_text("seq_len: 32\n")
    config, section = read_recipe(plain)
    assert section is None and config.seq_len == 32


@pytest.mark.parametrize("text, message", [
    ("seq_lenn: 3\n", r"bad.yaml: unknown settings \['seq_lenn'\] in the top level"),
    ("app: {width: 3, depth: 2}\n", r"bad.yaml: unknown settings \['depth'\] in section 'app'"),
    ("app: {width: 3, seq_len: 8}\n", r"unknown settings \['seq_len'\] in section 'app'"),
    ("app: {rate: 0.1}\n", r"bad.yaml: section 'app' needs the settings \['width'\]"),
    ("app: {width: 2.5}\n", r"bad.yaml: width in section 'app' must be int, got 2.5"),
    ("app: {width: 2, name: 4}\n", r"name in section 'app' must be str, got 4"),
    ("app: [1, 2]\n", r"section 'app' must hold a mapping"),
    ("- 1\n", r"must hold a mapping of settings"),
    ("batch_size: 0\n", r"batch_size must be at least 1"),
])  # fmt: skip
def test_read_recipe_errors_name_the_file_the_section_and_the_key(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_recipe(bad, _Section, section="app")


def test_read_recipe_without_a_section_rejects_one_and_a_missing_file_is_named(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("app: {width: 3}\n")
    with pytest.raises(ValueError, match=r"unknown settings \['app'\] in the top level"):
        read_recipe(recipe)
    with pytest.raises(FileNotFoundError, match="no recipe at .*missing.yaml"):
        read_recipe(tmp_path / "missing.yaml")

"""Infilling examples: fixed context around a hole holding the true middle then <eoi>, cut from a corpus,
and the core's Trainer training on them through `dlm-code train`."""

import json

import pytest

from apps.code.cli import main
from apps.code.corpus import CorpusConfig, build_corpus
from apps.code.fim import fit_context
from apps.code.infill_data import InfillDataConfig, build_infill_datasets, file_examples
from apps.code.licences import Licence
from apps.code.sources import directory_source
from apps.code.tokenizer import load_tokenizer
from apps.code.train import RECIPE
from shared_dlm import Denoiser, DenoiserConfig, load, read_recipe

from .conftest import module
from .infill_helpers import tiny_tokenizer

TEXT = module("alpha", 12)  # about 80 lines


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def parts(example, tokenizer):
    """(prefix ids, hole ids, suffix ids) of an example, checking the hole is one run of free slots."""
    ids, fixed = example["input_ids"], example["fixed"]
    free = [i for i, f in enumerate(fixed) if not f]
    assert free and free == list(range(free[0], free[-1] + 1))
    return ids[: free[0]], ids[free[0] : free[-1] + 1], ids[free[-1] + 1 :]


def text_of(ids, tokenizer):
    return tokenizer.decode([i for i in ids if i not in (tokenizer.bos_token_id, tokenizer.eos_token_id)])


@pytest.mark.parametrize("seq_len", [512, 64])
def test_examples_hold_fixed_context_and_the_middle_then_eoi(tokenizer, seq_len):
    config = InfillDataConfig(seq_len=seq_len, bytes_per_example=200)
    examples = file_examples(TEXT, "ab" * 32, tokenizer, config)
    assert len(examples) == len(TEXT) // 200
    eoi = tokenizer.eoi_token_id
    for example in examples:
        assert len(example["input_ids"]) == len(example["fixed"]) <= seq_len
        before, hole, after = parts(example, tokenizer)
        assert len(hole) <= config.slots_cap
        middle = hole[: hole.index(eoi)] if eoi in hole else hole
        assert middle and all(i == eoi for i in hole[len(middle) :])  # the middle, then only <eoi>
        assert not set(middle) & set(tokenizer.all_special_ids)
        # the window is one stretch of the file around the hole: nearest context kept, far context cut
        window = text_of(before, tokenizer) + tokenizer.decode(middle) + text_of(after, tokenizer)
        assert window in TEXT
        assert (before[0] == tokenizer.bos_token_id) == TEXT.startswith(window)
        assert (after[-1] == tokenizer.eos_token_id) == TEXT.endswith(window)
    if seq_len == 64:
        assert any(before[0] != tokenizer.bos_token_id for before, _, _ in (parts(e, tokenizer) for e in examples))


def test_whole_line_and_subline_holes(tokenizer):
    eoi = tokenizer.eoi_token_id
    for rate, whole_lines in ((0.0, True), (1.0, False)):
        config = InfillDataConfig(seq_len=256, bytes_per_example=100, subline_rate=rate)
        for example in file_examples(TEXT, "cd" * 32, tokenizer, config):
            before, hole, _ = parts(example, tokenizer)
            middle = tokenizer.decode([i for i in hole if i != eoi])
            if whole_lines:
                assert middle.endswith("\n") and middle.strip() and text_of(before, tokenizer)[-1:] in ("", "\n")
            else:
                assert "\n" not in middle and middle.strip()


def test_examples_are_a_function_of_file_and_seed(tokenizer):
    config = InfillDataConfig(seq_len=128, bytes_per_example=300)
    again = file_examples(TEXT, "ab" * 32, tokenizer, config)
    assert again == file_examples(TEXT, "ab" * 32, tokenizer, config)
    assert again != file_examples(
        TEXT, "ab" * 32, tokenizer, InfillDataConfig(seq_len=128, bytes_per_example=300, seed=1)
    )


def test_whole_windows_free_the_context_of_a_share_of_training_examples_only(tokenizer, run):
    plain = InfillDataConfig(seq_len=128, bytes_per_example=100)
    whole = InfillDataConfig(seq_len=128, bytes_per_example=100, whole_window_rate=0.5)
    before, after = file_examples(TEXT, "cd" * 32, tokenizer, plain), file_examples(TEXT, "cd" * 32, tokenizer, whole)
    assert [e["input_ids"] for e in before] == [e["input_ids"] for e in after]  # the same holes, the same ids
    freed = [e for e in after if not any(e["fixed"])]
    assert 0 < len(freed) < len(after)  # some examples denoise their whole window, the others only the hole
    assert all(e in before for e in after if any(e["fixed"]))
    everything = InfillDataConfig(seq_len=96, bytes_per_example=64, held_out_fraction=0.4, whole_window_rate=1.0)
    data = build_infill_datasets(run / "corpus", tokenizer, everything)
    assert not any(any(f) for f in data["train"]["fixed"])
    assert all(any(f) for f in data["validation"]["fixed"])  # the held-out ELBO stays the hole's
    with pytest.raises(ValueError, match="whole_window_rate"):
        InfillDataConfig(whole_window_rate=1.5)


def test_context_split_keeps_the_nearest_tokens_on_both_sides(tokenizer):
    prefix, suffix = module("beta", 6), module("gamma", 6)
    context = fit_context(tokenizer, prefix, suffix, 40)
    assert context.truncated and len(context.prefix) + len(context.suffix) == 40
    assert len(context.prefix) == len(context.suffix) == 20
    assert prefix.endswith(tokenizer.decode(context.prefix)) and suffix.startswith(tokenizer.decode(context.suffix))
    short = fit_context(tokenizer, "x = 1\n", suffix, 40)  # a short side leaves its share to the other
    assert short.prefix[0] == tokenizer.bos_token_id and len(short.prefix) + len(short.suffix) == 40
    whole = fit_context(tokenizer, "x = 1\n", "y = 2\n", 40)
    assert not whole.truncated and whole.suffix[-1] == tokenizer.eos_token_id


@pytest.fixture(scope="module")
def run(tmp_path_factory, tokenizer):
    """A corpus of three files (one held out), the tokenizer, and a tiny recipe."""
    root = tmp_path_factory.mktemp("train")
    src = root / "src"
    src.mkdir()
    for name, n in (("alpha", 4), ("beta", 12), ("delta", 7)):
        (src / f"{name}.py").write_text(module(name, n))
    source = directory_source("test", "1", Licence("MIT", True, "test"), src, [".py"])
    humaneval = root / "he.jsonl"
    humaneval.write_text("")
    build_corpus(CorpusConfig(out=root / "corpus", jobs=1, humaneval_path=humaneval), [source])
    tokenizer.save_pretrained(root / "tok")
    recipe = root / "recipe.yaml"
    recipe.write_text(
        "model: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}\n"
        "seq_len: 96\nbatch_size: 4\nmax_steps: 3\nwarmup_steps: 1\neval_every: 2\neval_batches: 1\n"
        "save_every: 2\nlog_every: 1\n"
        "infill: {max_slots: 32, bytes_per_example: 64, held_out_fraction: 0.4}\n"
    )
    return root


def test_datasets_split_by_held_out_files(run, tokenizer):
    config = InfillDataConfig(seq_len=96, bytes_per_example=64, held_out_fraction=0.4)
    data = build_infill_datasets(run / "corpus", tokenizer, config)
    assert set(data) == {"train", "validation"}
    for split in data.values():
        assert split.column_names == ["input_ids", "fixed"] and len(split) > 0
        assert all(len(ids) <= 96 for ids in split["input_ids"])


def test_train_command_trains_resumes_and_saves_a_loadable_model(run, capsys):
    out = run / "runs"
    args = ["train", "--corpus", str(run / "corpus"), "--tokenizer", str(run / "tok"), "--out", str(out)]
    assert main([*args, "--config", str(run / "recipe.yaml"), "--max-steps", "2", "--jobs", "1"]) == 0
    first = last_json(capsys.readouterr().out)
    assert (
        first["step"] == 2 and first["model"] == str(out / "model") and (out / "checkpoints" / "step-00000002").is_dir()
    )
    assert main([*args, "--config", str(run / "recipe.yaml"), "--jobs", "1"]) == 0  # resumes to the recipe's 3
    captured = capsys.readouterr()
    assert "resumed from" in captured.out and last_json(captured.out)["step"] == 3
    assert (out / "data" / "infill-data.json").is_file()  # the datasets are kept with the run and reused
    loaded = load(out / "model")
    assert loaded.tokenizer.eoi_token_id == load_tokenizer(run / "tok").eoi_token_id
    assert loaded.model.spec.max_len == 96
    recorded = json.loads((out / "model" / "infill.json").read_text())  # the hole settings, for infill's lengths
    assert recorded["max_slots"] == 32 and recorded["seq_len"] == 96
    assert (out / "checkpoints" / "step-00000003" / "model" / "infill.json").is_file()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("eval_bits_per_token" in m for m in metrics)

    # the finished model (as shipped: no run folder) trains on from its step in a new run folder
    more = [*args[:-1], str(run / "more"), "--config", str(run / "recipe.yaml"), "--jobs", "1"]
    assert main([*more, "--init-from", str(out / "model"), "--max-steps", "4"]) == 0
    captured = capsys.readouterr()
    assert "started from the weights" in captured.out and last_json(captured.out)["step"] == 4
    assert main([*more, "--init-from", str(run)]) == 2
    assert "not a model folder" in capsys.readouterr().err


def last_json(printed: str) -> dict:
    """The JSON object the command prints last (the trainer's progress lines come before it)."""
    return json.loads(printed[printed.rfind("\n{") + 1 :])


def test_recipe_errors_name_the_setting(tmp_path):
    config, data = read_recipe(RECIPE, InfillDataConfig, section="infill")
    assert data.seq_len == config.seq_len
    model = Denoiser(DenoiserConfig(vocab_size=8192, max_position_embeddings=config.seq_len, **config.model))
    assert sum(p.numel() for p in model.parameters()) == 7_212_288  # the size the recipe states: 14.4 MB in bf16
    bad = tmp_path / "bad.yaml"
    bad.write_text("seq_len: 64\ninfill: {holes: 3}\n")
    with pytest.raises(ValueError, match="bad.yaml: unknown settings \\['holes'\\] in section 'infill'"):
        read_recipe(bad, InfillDataConfig, section="infill")
    bad.write_text("seq_len: 64\ninfill: {seq_len: 32}\n")  # the window is the trainer's, set at the top level
    with pytest.raises(ValueError, match="unknown settings \\['seq_len'\\] in section 'infill'"):
        read_recipe(bad, InfillDataConfig, section="infill")

"""Hostile input to the CLIs, generated: each example is a working command with one or two parts made bad (a flag's
value, an input file's content), run in-process. Whatever it is, the command must fail as a tool should: a non-zero
exit, one line on stderr, no traceback, and no file left behind."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.code.cli import main as code_main
from apps.code.grammars import GRAMMARS
from apps.protein.cli import main as protein_main
from apps.protein.scoring import save_esm2
from shared_dlm import STRATEGIES, DeviceError, check_device
from tests.code.infill_helpers import tiny_model_folder, tiny_tokenizer
from tests.protein.conftest import tiny_esm2, tiny_generator_folder

pytestmark = pytest.mark.usefixtures("one_thread")

# The same examples every run, so that CI does not flake; raise max_examples (and drop derandomize) to search further:
# 1,000 examples a test took about 10 s each here.
PROPERTY = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# What a shell can pass: argv never holds NUL, and we leave out the lone surrogates of undecodable bytes.
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=24)
NOT_INT = TEXT.filter(lambda t: not t.strip().lstrip("+-").isdigit())
NOT_NUMBER = TEXT.filter(lambda t: not _is_float(t))
NON_POSITIVE = st.integers(max_value=0).map(str)
NEGATIVE = st.one_of(st.floats(max_value=-1e-6, allow_nan=False).map(str), st.just("nan"), st.just("-inf"))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unknown_device(text: str) -> bool:
    try:
        check_device(text)
    except DeviceError:
        return True
    return False


BAD_DEVICE = st.one_of(TEXT.filter(_unknown_device), st.sampled_from(["cuda:99", "gpu", "cpu:x", "tpu", "cuda:-1"]))
BAD_SAMPLER = TEXT.filter(lambda t: t.strip().lower() not in STRATEGIES)
BINARY = st.binary(min_size=1, max_size=64)
# "./NAME": NAME in the example's folder, which holds an empty folder and a file that is no model ("placed")
NOT_A_MODEL = st.one_of(TEXT.map(lambda t: f"no-such-folder/{t}"), st.sampled_from(["./empty-folder", "./a-file.txt"]))
MOTIF = re.compile(r"^\s*\d+\s*(-\s*\d+\s*)?:\s*[A-Za-z]*\s*$")  # a spec of the right form (motifs.py)


@pytest.fixture(scope="module")
def code_model(tmp_path_factory) -> Path:
    return tiny_model_folder(tmp_path_factory.mktemp("code-model"), tiny_tokenizer(), max_len=128)


@pytest.fixture(scope="module")
def protein_models(tmp_path_factory) -> tuple[Path, Path]:
    generator = tiny_generator_folder(tmp_path_factory.mktemp("protein-generator"))
    return generator, save_esm2(tiny_esm2(), tmp_path_factory.mktemp("protein-scorer"))


def placed(folder: Path, settings: dict[str, str]) -> list[str]:
    """``settings`` as flags, "./NAME" values made paths in ``folder``, beside an empty folder and a file."""
    (folder / "empty-folder").mkdir()
    (folder / "a-file.txt").write_text("not a model\n")
    values = {flag: str(folder / value[2:]) if value.startswith("./") else value for flag, value in settings.items()}
    return [part for flag, value in values.items() for part in (flag, value)]


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def fails_cleanly(main: Callable, argv: list[str], folder: Path, capsys) -> None:
    """Run ``main(argv)`` and check that it failed as a tool should, leaving ``folder`` as it was."""
    before = files_under(folder)
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit:  # argparse's usage errors
        status = exit.code
    err = capsys.readouterr().err
    assert status not in (0, None), f"{argv} succeeded"
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"{argv}: stderr is not one line: {err!r}"
    assert files_under(folder) == before, f"{argv} left files behind"


# ---- dlm-code infill ---------------------------------------------------------------------------------------------

GOOD_CODE = "def mean(values):\n    return <FILL>\n\n\nprint(mean([1, 2]))\n"
CODE_FLAGS = {
    "--num": st.one_of(NON_POSITIVE, NOT_INT),
    "--steps": st.one_of(NON_POSITIVE, NOT_INT),
    "--block-length": st.one_of(st.integers(max_value=-1).map(str), NOT_INT),
    "--temperature": st.one_of(NEGATIVE, NOT_NUMBER),
    "--sampler": BAD_SAMPLER,
    "--seed": NOT_INT,
    "--device": BAD_DEVICE,
    "--language": TEXT.filter(lambda t: t not in GRAMMARS),
    "--model": NOT_A_MODEL,
}
CODE_FILES = st.one_of(
    TEXT.filter(lambda t: "<FILL>" not in t).map(str.encode),  # no marker
    st.tuples(TEXT, TEXT, TEXT).map(lambda p: f"{p[0]}<FILL>{p[1]}<FILL>{p[2]}".encode()),  # two
    BINARY.filter(lambda b: b"\0" in b or not _utf8(b)),  # binary or not UTF-8
)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@st.composite
def code_request(draw):
    """A bad `dlm-code infill` command: one or two flags with bad values, or a bad file (its content; missing; a
    folder), or a good file whose name does not tell its language."""
    flags = draw(st.lists(st.sampled_from(sorted(CODE_FLAGS)), max_size=2, unique=True))
    bad = {flag: draw(CODE_FLAGS[flag]) for flag in flags}
    kind = draw(st.sampled_from(["file", "name"] if not flags else ["good", "file"]))
    source = draw(CODE_FILES) if kind == "file" else GOOD_CODE.encode()
    where = draw(st.sampled_from(["file", "file", "file", "missing", "folder"])) if kind == "file" else "file"
    suffix = draw(st.sampled_from([".xyz", "", ".in"])) if kind == "name" else ".py"
    return bad, source, where, suffix


@PROPERTY
@given(request=code_request())
def test_dlm_code_infill_fails_cleanly_on_bad_input(code_model, capsys, request):
    with tempfile.TemporaryDirectory(prefix="cli-property-") as name:  # a fresh folder for each example
        folder = Path(name)
        bad, source, where, suffix = request
        path = folder / f"code{suffix}"
        if where == "file":
            path.write_bytes(source)
        elif where == "folder":
            path.mkdir()
        settings = {"--model": str(code_model), "--num": "1", "--steps": "2", **bad}
        argv = ["infill", str(path), *placed(folder, settings)]
        fails_cleanly(code_main, argv, folder, capsys)


# ---- dlm-protein design and score ----------------------------------------------------------------------------------

FASTA_FILES = st.one_of(
    st.just(b""),
    TEXT.filter(lambda t: not t.lstrip().startswith((">", ";")) and t.strip()).map(str.encode),  # no header
    TEXT.filter(lambda t: any(c.isprintable() and not c.isspace() and c.upper() not in "ACDEFGHIKLMNPQRSTVWY*" for c in t)
                and "\n" not in t and "\r" not in t).map(lambda t: f">s1\n{t}\n".encode()),  # fmt: skip
    BINARY.filter(lambda b: not _utf8(b)),
    st.just(b">s1\n>s2\nMKT\n"),  # an empty record
)
DESIGN_FLAGS = {
    "--length": st.one_of(NON_POSITIVE, NOT_INT, st.integers(min_value=200, max_value=10**6).map(str)),
    "--num": st.one_of(NON_POSITIVE, NOT_INT),
    "--motif": st.one_of(
        TEXT.filter(lambda t: not MOTIF.match(t)), st.sampled_from(["0:HEXXH", "99:WW", "5-3:GG", "1-4:GGGGGG", "5:", "5:HEJXH"])
    ),
    "--steps": st.one_of(NON_POSITIVE, NOT_INT),
    "--temperature": st.one_of(NEGATIVE, NOT_NUMBER),
    "--sampler": BAD_SAMPLER,
    "--order-noise": st.one_of(NEGATIVE, NOT_NUMBER),
    "--forbid": TEXT.filter(lambda t: any(c.upper() not in "ACDEFGHIKLMNPQRSTVWY" for c in t)),
    "--go": TEXT.filter(lambda t: t.strip(", ") != ""),
    "--guidance": st.one_of(NEGATIVE, NOT_NUMBER, st.just("2")),  # a weight without --go is refused too
    "--esm-remask": NOT_NUMBER,
    "--seed": NOT_INT,
    "--device": BAD_DEVICE,
    "--model": NOT_A_MODEL,
    "--scorer": NOT_A_MODEL,
    "--out": st.sampled_from(["./missing-folder/designs.fasta", "./a-file.txt/designs.fasta"]),
    "--shard-size": st.one_of(NON_POSITIVE, NOT_INT, st.just("10")),  # a shard size with a FASTA --out is refused
}
SCORE_FLAGS = {
    "--window": st.one_of(st.integers(min_value=-5, max_value=2).filter(bool).map(str), NOT_INT),  # 0: whole
    "--device": BAD_DEVICE,
    "--scorer": NOT_A_MODEL,
}


@st.composite
def protein_request(draw, flags_of: dict):
    """One or two flags with bad values, or a bad FASTA (its content; missing; a folder: the reference for design,
    the input or the reference for score), or a scorer file that is not a checkpoint."""
    flags = draw(st.lists(st.sampled_from(sorted(flags_of)), max_size=2, unique=True))
    bad = {flag: draw(flags_of[flag]) for flag in flags}
    fasta = draw(FASTA_FILES) if not flags or draw(st.booleans()) else None
    as_reference = draw(st.booleans())  # score's: design reads a FASTA only as its reference
    where = draw(st.sampled_from(["file", "file", "file", "missing", "folder"]))
    checkpoint = draw(BINARY) if not flags and fasta is None else None
    return bad, fasta, as_reference, where, checkpoint


def protein_argv(command: str, folder: Path, models: tuple[Path, Path], request) -> list[str]:
    bad, fasta, as_reference, where, checkpoint = request
    generator, scorer = models
    good = folder / "good.fasta"
    good.write_text(">n1\nMKTAYIAKQRQISFVKSHFSRQ\n")
    reference = good
    if fasta is not None:
        reference = folder / "bad.fasta"
        if where == "file":
            reference.write_bytes(fasta)
        elif where == "folder":
            reference.mkdir()
    if checkpoint is not None:
        scorer = folder / "esm.pt"
        scorer.write_bytes(checkpoint)
    if command == "design":
        settings = {"--length": "24", "--num": "2", "--steps": "4", "--model": str(generator), "--scorer": str(scorer),
                    "--reference": str(reference), **bad}  # fmt: skip
        if "--shard-size" in bad and "--out" not in bad:
            settings["--out"] = str(folder / "designs.fasta")
        head = ["design"]
    else:
        settings = {"--scorer": str(scorer), "--reference": str(good), **bad}
        head = ["score", str(reference)]
        if as_reference:
            head, settings["--reference"] = ["score", str(good)], str(reference)
    return [*head, *placed(folder, settings)]



@PROPERTY
@given(request=protein_request(DESIGN_FLAGS))
def test_dlm_protein_design_fails_cleanly_on_bad_input(protein_models, capsys, request):
    with tempfile.TemporaryDirectory(prefix="cli-property-") as name:
        folder = Path(name)
        fails_cleanly(protein_main, protein_argv("design", folder, protein_models, request), folder, capsys)


@PROPERTY
@given(request=protein_request(SCORE_FLAGS))
def test_dlm_protein_score_fails_cleanly_on_bad_input(protein_models, capsys, request):
    with tempfile.TemporaryDirectory(prefix="cli-property-") as name:
        folder = Path(name)
        fails_cleanly(protein_main, protein_argv("score", folder, protein_models, request), folder, capsys)


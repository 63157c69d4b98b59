from __future__ import annotations

import pytest

from apps.protein.cli import main
from apps.protein.design import DEFAULT_SAMPLER, DesignConfig, design
from apps.protein.fasta import FastaError, Record, design_record, read_fasta, write_fasta


def test_write_then_read_wraps_lines_and_keeps_headers(tmp_path):
    records = [Record("a", "a first protein", "M" + "A" * 130), Record("b", "b", "WY")]
    path = write_fasta(tmp_path / "out.fasta", records, width=60)
    lines = path.read_text().splitlines()
    assert lines[0] == ">a first protein" and max(len(line) for line in lines[1:]) == 60
    assert read_fasta(path) == records
    assert [p.name for p in tmp_path.iterdir()] == ["out.fasta"]


def test_lower_case_and_comments_are_read(tmp_path):
    path = tmp_path / "x.fa"
    path.write_text("; a comment\n>s1 desc\nmkt ay\n\nIAK\n")
    assert read_fasta(path) == [Record("s1", "s1 desc", "MKTAYIAK")]


def test_a_final_stop_is_removed(tmp_path):
    path = tmp_path / "translated.fasta"
    path.write_text(">p1 from Biopython's translate\nMKTAY\nIAK*\n>p2\nWY\n")
    assert [(r.id, r.sequence) for r in read_fasta(path)] == [("p1", "MKTAYIAK"), ("p2", "WY")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no FASTA records \\(the file is empty\\)"),
        ("\n\n", "no FASTA records"),
        ("MKTAYIAKQR\n", "x.fasta:1: not FASTA: expected a '>' header line"),
        (">s1\n>s2\nMK\n", "sequence 's1' is empty"),
        (">s1\nMK\n>s2 x\nMKTJAK\n", "sequence 's2': residue 'J' at position 4"),
        (">s1\nMKT\n>s2\nMK\nT-AK\n", "sequence 's2': residue '-' at position 4 is not one of"),
        (">s1\nMK*TA*\n", "sequence 's1': a stop '\\*' at position 3, inside the sequence"),
        (">s1\n*\n", "sequence 's1' is empty"),
        (">s1\nMKß\n", "sequence 's1': residue 'ß' at position 3"),  # not 'SS', as str.upper would make it
        (">s1\nMıK\n", "sequence 's1': residue 'ı' at position 2"),  # a dotless i, not I
    ],
)
def test_bad_files_are_named(tmp_path, text, message):
    path = tmp_path / "x.fasta"
    path.write_text(text)
    with pytest.raises(FastaError, match=message):
        read_fasta(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FastaError, match="none.fasta: cannot read"):
        read_fasta(tmp_path / "none.fasta")


def test_an_error_while_writing_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "designs.fasta"
    path.write_text(">old\nMK\n")

    def records():
        yield Record("a", "a", "MKT")
        raise RuntimeError("the design failed mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        write_fasta(path, records())
    with pytest.raises(RuntimeError):
        write_fasta(tmp_path / "new.fasta", records())
    assert path.read_text() == ">old\nMK\n"
    assert [p.name for p in tmp_path.iterdir()] == ["designs.fasta"]


def header_fields(record: Record) -> dict[str, str]:
    """A design header's ``key=value`` fields after the id."""
    return dict(field.split("=", 1) for field in record.description.split()[1:])


@pytest.mark.usefixtures("one_thread")
def test_design_headers_record_what_the_designs_were_conditioned_on(tmp_path, go_generator_dir):
    out = tmp_path / "designs.fasta"
    argv = [
        "design", "--length", "30", "--motif", "5:HEXXH", "--motif", "12-30:GGSGGS", "--num", "2", "--out", str(out),
        "--model", str(go_generator_dir), "--scorer", "none", "--go", "GO:0008270,GO:0003677", "--guidance", "2.5",
        "--seed", "7", "--sampler", "confidence", "--steps", "8", "--temperature", "0.7", "--order-noise", "1.5",
        "--cache", "--forbid", "C",
    ]  # fmt: skip
    assert main(argv) == 0
    records = read_fasta(out)
    for rank, record in enumerate(records, start=1):
        fields = header_fields(record)
        assert record.id == f"design_{rank}" and fields["rank"] == str(rank)
        motifs = fields["motifs"].split(",")
        assert motifs[0] == "5:HEXXH@5" and motifs[1].startswith("12-30:GGSGGS@")
        assert fields["go"] == "GO:0008270,GO:0003677" and fields["guidance"] == "2.5"
        assert (fields["seed"], fields["sampler"], fields["steps"], fields["temperature"]) == ("7", "confidence", "8", "0.7")
        assert (fields["order_noise"], fields["cache"], fields["forbid"]) == ("1.5", "on", "C")
        assert {"generator_log_prob", "motif_recovery", "sample"} <= set(fields)
    assert sorted(header_fields(r)["sample"] for r in records) == ["0", "1"]


def test_unset_settings_are_left_out_of_a_design_header(generator_model):
    (d,) = design(12, [], DesignConfig(num=1), generator=generator_model, scorer=None)
    fields = header_fields(design_record(d, DesignConfig(num=1, esm_remask=None, allowed_at={3: "AC", 1: "W"})))
    assert fields["allowed_at"] == "1:W,3:AC" and fields["seed"] == "0" and fields["sampler"] == DEFAULT_SAMPLER
    assert not {"motifs", "go", "guidance", "steps", "order_noise", "cache", "forbid", "esm_remask"} & set(fields)

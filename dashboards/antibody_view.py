"""What the antibody page computes apart from Streamlit: the chains read from the text areas or an uploaded
FASTA, a numbered chain as colored HTML and as a table, the region names a chain offers, and the designs,
residue scores and humanization as tables and downloads."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from apps.protein import Record, format_fasta
from apps.protein.antibody import AntibodyDesign, ChainScore, Humanized, Numbered, NumberingError, number
from dashboards.protein_view import read_fasta_upload

DEMO = {
    "VH": "QVQLQQSGAELARPGASVKMSCKASGYTFTRYTMHWVKQRPGQGLEWIGYINPSRGYTNYNQKFKDKATLTTDKSSSTAYMQLSSLTSEDSAVYYCARYYDDHYCLDYWGQGTTLTVSS",
    "VL": "QIVLTQSPAIMSASPGEKVTMTCSASSSVSYMNWYQQKSGTSPKRWIYDTSKLASGVPAHFRGSGSGTSYSLTISGMEAEDAATYYCQQWSSNPFTFGSGTKLEIN",
}
"""OKT3 (muromonab-CD3), a mouse antibody: the page's prefilled pair."""
LABEL = {"H": "VH", "L": "VL"}
COLORS = {
    "FR1": "#e8e8e8", "FR2": "#e8e8e8", "FR3": "#e8e8e8", "FR4": "#e8e8e8",
    "CDR1": "#ffb3b3", "CDR2": "#b3d9ff", "CDR3": "#ffd480",
}  # fmt: skip
"""Background of each IMGT region in the colored sequence (frameworks grey, each CDR its own color)."""
REGIONS = ("CDR1", "CDR2", "CDR3", "FR1", "FR2", "FR3", "FR4")


def clean(text: str) -> str:
    """A pasted chain: FASTA header lines dropped, whitespace removed, upper case."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    return "".join("".join(lines).split()).upper()


def chains_from_upload(name: str, data: bytes) -> dict[str, str]:
    """VH and VL from an uploaded FASTA: each record numbered, the first heavy and the first light chain kept;
    a NumberingError names the record that is not an antibody chain."""
    chains: dict[str, str] = {}
    for record in read_fasta_upload(name, data):
        try:
            numbered = number(record.sequence, germline=False)
        except NumberingError as error:
            raise NumberingError(f"{name}, record {record.id!r}: {error}") from None
        chains.setdefault(LABEL[numbered.chain], record.sequence)
    return chains


def check_label(numbered: Numbered, label: str) -> None:
    """A chain pasted as VH must number as heavy, as VL as light."""
    if LABEL[numbered.chain] != label:
        kind = "heavy" if numbered.chain == "H" else "light"
        raise NumberingError(f"the {label} chain numbers as a {kind} chain: paste it as {LABEL[numbered.chain]}")


def region_names(numbered: Numbered) -> list[str]:
    """The names ``redesign`` takes for the regions of this chain (``cdrh1`` .. ``frh4``)."""
    chain = numbered.chain.lower()
    return [f"{r[:-1].lower()}{chain}{r[-1]}" for r in REGIONS]


def colored(sequence: str, regions: Sequence[str | None], positions: Sequence[str | None], bold: set[int] = frozenset()) -> str:
    """The chain as HTML: each residue on its region's color, its IMGT label and region on hover; ``bold``
    marks residues (e.g. the redesigned ones)."""
    spans = []
    for i, (residue, region, position) in enumerate(zip(sequence, regions, positions)):
        style = f"background:{COLORS.get(region or '', '#ffffff')}"
        if i in bold:
            style += ";font-weight:bold;text-decoration:underline"
        title = f"{i + 1}: IMGT {position} {region}" if position else f"{i + 1}: outside the domain"
        spans.append(f'<span title="{html.escape(title)}" style="{style}">{html.escape(residue)}</span>')
    return '<pre style="white-space:pre-wrap;word-break:break-all;font-size:1.05em">' + "".join(spans) + "</pre>"


def legend() -> str:
    """The region colors, as HTML."""
    keys = ("FR1", "CDR1", "CDR2", "CDR3")
    names = {"FR1": "framework"}
    return " ".join(
        f'<span style="background:{COLORS[k]};padding:0 0.4em">{names.get(k, k)}</span>' for k in keys
    )


def numbering_table(numbered: Numbered) -> pd.DataFrame:
    """One row a residue: its 1-based index, IMGT label and region."""
    return pd.DataFrame(
        {
            "index": range(1, len(numbered.sequence) + 1),
            "residue": list(numbered.sequence),
            "imgt": list(numbered.positions),
            "region": list(numbered.regions),
        }
    )


def summary(numbered: Numbered) -> dict[str, str]:
    """What the page says of a numbered chain, label -> value."""
    identity = "-" if numbered.v_identity is None else f"{numbered.v_identity:.0%}"
    return {
        "chain type": {"H": "heavy", "K": "kappa light", "L": "lambda light"}[numbered.chain_type],
        "species": numbered.species,
        "closest human V gene": numbered.v_gene or "-",
        "identity to it": identity,
    }


def length_range(text: str) -> tuple[int, int] | None:
    """``10-14`` (or one length, ``12``) as (10, 14); empty as None. A ValueError names a bad value."""
    text = text.strip()
    if not text:
        return None
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"length range {text!r}: expected MIN-MAX, e.g. 10-14, or one length") from None
    if not 1 <= low <= high:
        raise ValueError(f"length range {text!r}: expected 1 <= MIN <= MAX")
    return low, high


def design_table(designs: Sequence[AntibodyDesign], scores: Sequence[ChainScore]) -> pd.DataFrame:
    """One row a design (its scores beside it, in the same order): rank, sequence, what was redesigned, the
    generator's log-probability, AntiBERTy pseudo-log-likelihood, Sapiens humanness, CDRs, closest V gene."""
    rows = []
    for d, s in zip(designs, scores):
        cdrs = d.as_dict()["cdrs"] or {}
        rows.append(
            {
                "rank": d.rank, "redesigned": d.redesigned, "generator_log_prob": d.generator_log_prob,
                "antiberty_pll": s.antiberty_pll, "humanness": s.humanness,
                **{k.lower(): v for k, v in cdrs.items()}, "v_gene": s.v_gene, "v_identity": s.v_identity,
                "sequence": d.sequence,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def residue_table(named: Sequence[tuple[str, ChainScore]]) -> pd.DataFrame:
    """One row a residue of each named chain score: name, 1-based index, residue, IMGT label, region,
    AntiBERTy log-probability and Sapiens humanness (residues outside the domain are not scored)."""
    rows = []
    for name, score in named:
        for r in score.residues:
            rows.append(
                {
                    "chain": name, "index": r.index + 1, "residue": r.residue, "imgt": r.position,
                    "region": r.region, "antiberty_logp": r.antiberty_logp, "humanness": r.humanness,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def mutation_table(humanized: Humanized) -> pd.DataFrame:
    """One row a mutation of the humanization: IMGT position, region, parental and human residue."""
    return pd.DataFrame(
        [{"mutation": str(m), "imgt": m.position, "region": m.region, "parent": m.parent, "human": m.human}
         for m in humanized.mutations],
        columns=["mutation", "imgt", "region", "parent", "human"],
    )  # fmt: skip


def fasta_text(named: Sequence[tuple[str, str]]) -> str:
    """(header, sequence) pairs as FASTA; a header's first word is the record's id."""
    return format_fasta(Record(header.split()[0], header, sequence) for header, sequence in named)

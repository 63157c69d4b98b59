"""Antibody dashboard: number a VH and/or VL chain (IMGT), then redesign regions of one chain with AntiBERTy or
Sapiens, or humanize its frameworks under Sapiens beside a CDR graft; every result scored per residue.

Run: ``streamlit run dashboards/antibody_app.py``.
"""

from __future__ import annotations

import time
from dataclasses import replace

import altair as alt
import pandas as pd
import streamlit as st

from apps.protein.antibody import (
    DEFAULT_CONFIG,
    ChainScore,
    HumanizeConfig,
    Numbered,
    cdr_graft,
    humanize,
    number,
    redesign,
    score_chain,
)
from dashboards.antibody_view import (
    DEMO,
    check_label,
    chains_from_upload,
    clean,
    colored,
    design_table,
    fasta_text,
    legend,
    length_range,
    mutation_table,
    numbering_table,
    region_names,
    residue_table,
    summary,
)
from dashboards.widgets import PEOPLE_ERRORS

MODELS = ["antiberty", "sapiens"]
METHODS = ["masked", "diffusion"]
MEASURES = {"AntiBERTy log-probability": "antiberty_logp", "Sapiens humanness": "humanness"}


@st.cache_data(show_spinner=False)
def cached_number(sequence: str) -> Numbered:
    """Numbering (and the closest germline) once per sequence: the page reruns on every widget change."""
    return number(sequence)


@st.cache_data(show_spinner=False)
def cached_score(sequence: str) -> ChainScore:
    """Per-residue scores once per sequence (the parent is scored again on every run otherwise); the models
    themselves are loaded once per process by the package."""
    return score_chain(sequence)


def read_chains() -> dict[str, Numbered]:
    """The chains given (upload first, else the text areas), numbered and shown; errors shown per chain."""
    upload = st.file_uploader("VH and/or VL as FASTA (replaces the text boxes)", key="upload")
    left, right = st.columns(2)
    texts = {
        "VH": left.text_area("VH (heavy chain variable domain)", DEMO["VH"], height=100, key="vh"),
        "VL": right.text_area("VL (light chain variable domain)", DEMO["VL"], height=100, key="vl"),
    }
    if upload is not None:
        try:
            given = chains_from_upload(upload.name, upload.getvalue())
        except PEOPLE_ERRORS as error:
            st.error(str(error))
            return {}
    else:
        given = {label: clean(text) for label, text in texts.items() if clean(text)}
    numbered = {}
    st.html(legend())
    for label, sequence in given.items():
        st.subheader(label)
        try:
            numbered[label] = cached_number(sequence)
            check_label(numbered[label], label)
        except PEOPLE_ERRORS as error:
            numbered.pop(label, None)
            st.error(f"{label}: {error}")
            continue
        facts = summary(numbered[label])
        for column, (name, value) in zip(st.columns(len(facts)), facts.items()):
            column.metric(name, value)
        n = numbered[label]
        st.html(colored(n.sequence, n.regions, n.positions))
        with st.expander(f"IMGT numbering of {label}"):
            st.dataframe(numbering_table(n), hide_index=True)
    return numbered


def task_inputs(numbered: dict[str, Numbered]) -> dict | None:
    """The task's widgets; the inputs once Run is pressed, else None."""
    st.header("Design")
    left, right = st.columns(2)
    label = left.radio("Chain", list(numbered), horizontal=True, key="chain")
    task = right.radio("Task", ["Redesign", "Humanize"], horizontal=True, key="task")
    inputs = {"chain": label, "task": task}
    left, right = st.columns(2)
    if task == "Redesign":
        names = region_names(numbered[label])
        inputs["regions"] = left.multiselect(
            "Regions to redesign", names, default=[names[2]], key=f"regions_{label}",
            help="the other residues stay as they are",
        )  # fmt: skip
        inputs["ranges"] = left.text_input(
            "IMGT ranges (optional)", key="ranges", help="e.g. H:105-117; commas separate several; added to the regions"
        )
        inputs["lengths"] = left.text_input(
            "Length range (one CDR only; empty keeps its length)", key="lengths", help="e.g. 10-14"
        )
        inputs["num"] = right.number_input("Designs", min_value=1, max_value=64, value=DEFAULT_CONFIG.num, key="num")
        inputs["model"] = right.selectbox("Model", MODELS, key="model", help="sapiens: the model of the chain's type")
        inputs["temperature"] = right.number_input(
            "Temperature (0: greedy)", min_value=0.0, value=DEFAULT_CONFIG.temperature, step=0.1, key="temperature"
        )
        inputs["seed"] = right.number_input("Seed", value=0, step=1, key="seed")
    else:
        inputs["method"] = left.selectbox(
            "Method", METHODS, key="method",
            help="masked: each framework residue scored masked, the least human changed round by round; "
            "diffusion: a share of the framework resampled a round",
        )  # fmt: skip
        inputs["vernier"] = right.checkbox(
            "Keep the Vernier zone", key="vernier", help="framework residues under the CDRs, kept as the CDRs are"
        )
    if not st.button("Run", type="primary", key="run"):
        return None
    return inputs


def score_all(sequences: list[str]) -> list[ChainScore]:
    bar = st.progress(0.0, text="scoring each residue")
    try:
        scores = []
        for i, sequence in enumerate(sequences):
            scores.append(cached_score(sequence))
            bar.progress((i + 1) / len(sequences), text=f"scored {i + 1} of {len(sequences)} chains")
    finally:
        bar.empty()
    return scores


def run_redesign(parent: Numbered, inputs: dict) -> dict:
    regions = list(inputs["regions"]) + [r.strip() for r in inputs["ranges"].split(",") if r.strip()]
    lengths = length_range(inputs["lengths"])
    config = replace(DEFAULT_CONFIG, num=int(inputs["num"]), temperature=float(inputs["temperature"]), seed=int(inputs["seed"]))
    with st.spinner("Redesigning..."):
        designs = redesign(parent.sequence, regions, config, generator=inputs["model"], length_range=lengths)
    scores = score_all([parent.sequence] + [d.sequence for d in designs])
    return {"designs": designs, "parent": scores[0], "scores": scores[1:], "regions": regions}


def run_humanize(parent: Numbered, inputs: dict) -> dict:
    config = HumanizeConfig(method=inputs["method"], keep_vernier=bool(inputs["vernier"]))
    with st.spinner("Humanizing, then grafting the CDRs..."):
        humanized = humanize(parent.sequence, config)
        graft = cdr_graft(parent.sequence)
    scores = score_all([parent.sequence, humanized.sequence, graft])
    return {"humanized": humanized, "graft": graft, "parent": scores[0], "scores": scores[1:]}


def show_residues(named: list[tuple[str, ChainScore]], key: str) -> pd.DataFrame:
    """Heatmap of a per-residue score, one row a chain, one column a residue; returns the table it drew."""
    st.subheader("Per-residue scores")
    st.caption(
        "AntiBERTy: log p(residue | the rest), each residue masked in turn. Sapiens humanness: Sapiens' "
        "probability of the residue, masked in turn. Hover for the IMGT position and region."
    )
    label = st.radio("Score", list(MEASURES), horizontal=True, key=f"measure_{key}")
    residues = residue_table(named)
    chart = (
        alt.Chart(residues)
        .mark_rect()
        .encode(
            x=alt.X("index:O", title="residue", axis=alt.Axis(values=list(range(0, 200, 10)))),
            y=alt.Y("chain:N", sort=[name for name, _ in named], title=None),
            color=alt.Color(f"{MEASURES[label]}:Q", title=label, scale=alt.Scale(scheme="viridis")),
            tooltip=["chain", "index", "imgt", "region", "residue", "antiberty_logp", "humanness"],
        )
    )
    st.altair_chart(chart, width="stretch")
    return residues


def show_redesign(result: dict) -> None:
    designs, scores, parent = result["designs"], result["scores"], result["parent"]
    st.subheader("Designs, best first")
    st.caption(
        f"Ranked by the generator's mean log-probability of the residues it wrote. Parent: AntiBERTy "
        f"pseudo-log-likelihood {parent.antiberty_pll:.3f}, Sapiens humanness {parent.humanness:.3f}."
    )
    table = design_table(designs, scores)
    st.dataframe(table, hide_index=True, column_config={"sequence": st.column_config.TextColumn(width="large")})
    named = [("parent", parent)] + [(f"design #{d.rank}", s) for d, s in zip(designs, scores)]
    residues = show_residues(named, "redesign")
    rank = st.selectbox("Design", [d.rank for d in designs], format_func=lambda r: f"#{r}", key="detail")
    chosen = next(d for d in designs if d.rank == rank)
    changed = {i for i, (a, b) in enumerate(zip(chosen.sequence, chosen.parent)) if a != b}
    if chosen.numbered is not None:
        st.html(colored(chosen.sequence, chosen.numbered.regions, chosen.numbered.positions, changed))
    fasta, csv, per_residue = st.columns(3)
    records = [("parent", parent.sequence)] + [
        (f"design_{d.rank} regions={','.join(d.regions)} generator_log_prob={d.generator_log_prob:.4f}", d.sequence)
        for d in designs
    ]
    fasta.download_button("Download FASTA", fasta_text(records), "antibody_designs.fasta", "text/plain")
    csv.download_button("Download CSV", table.to_csv(index=False), "antibody_designs.csv", "text/csv")
    per_residue.download_button(
        "Download per-residue CSV", residues.to_csv(index=False), "antibody_residues.csv", "text/csv"
    )


def show_humanize(result: dict) -> None:
    humanized, graft, parent = result["humanized"], result["graft"], result["parent"]
    scored_humanized, scored_graft = result["scores"]
    before, after, grafted = st.columns(3)
    before.metric("Humanness, parent", f"{humanized.humanness_before:.3f}")
    after.metric("Humanized", f"{humanized.humanness_after:.3f}", f"{humanized.humanness_after - humanized.humanness_before:+.3f}")
    grafted.metric("CDR graft (baseline)", f"{scored_graft.humanness:.3f}", f"{scored_graft.humanness - parent.humanness:+.3f}")
    st.caption(
        "Humanness: mean Sapiens probability of each residue, masked in turn. CDR graft: the parental CDRs on the "
        "frameworks of the closest human germline genes."
    )
    st.subheader(f"{len(humanized.mutations)} mutations")
    mutations = mutation_table(humanized)
    st.dataframe(mutations, hide_index=True)
    numbered = cached_number(humanized.sequence)
    changed = {m.index for m in humanized.mutations}
    st.html(colored(humanized.sequence, numbered.regions, numbered.positions, changed))
    named = [("parent", parent), ("humanized", scored_humanized), ("CDR graft", scored_graft)]
    residues = show_residues(named, "humanize")
    fasta, csv, per_residue = st.columns(3)
    records = [
        ("parent", humanized.parent),
        (f"humanized mutations={len(humanized.mutations)} humanness={humanized.humanness_after:.4f}", humanized.sequence),
        (f"cdr_graft humanness={scored_graft.humanness:.4f}", graft),
    ]
    fasta.download_button("Download FASTA", fasta_text(records), "humanized.fasta", "text/plain")
    csv.download_button("Download CSV", mutations.to_csv(index=False), "mutations.csv", "text/csv")
    per_residue.download_button(
        "Download per-residue CSV", residues.to_csv(index=False), "humanized_residues.csv", "text/csv"
    )


st.set_page_config(page_title="Antibody design", layout="wide")
st.title("Antibody design on antibody language models")
st.caption(
    "Paste a VH and/or a VL (the OKT3 pair is filled in): each is numbered (IMGT) with its CDRs colored. Then "
    "redesign regions of one chain with AntiBERTy or Sapiens, or humanize its frameworks under Sapiens."
)
chains = read_chains()
if not chains:
    st.info("Give a VH or a VL chain to number and design.")
    st.stop()
inputs = task_inputs(chains)
if inputs is not None:
    st.session_state.pop("result", None)
    start = time.perf_counter()
    try:
        parent = chains[inputs["chain"]]
        run = run_redesign if inputs["task"] == "Redesign" else run_humanize
        st.session_state["result"] = {**run(parent, inputs), "task": inputs["task"], "chain": inputs["chain"]}
        st.session_state["result"]["seconds"] = time.perf_counter() - start
    except PEOPLE_ERRORS as error:
        st.error(str(error))
if "result" in st.session_state:
    result = st.session_state["result"]
    if result["task"] == "Redesign":
        st.success(
            f"Redesigned {', '.join(result['regions'])} of {result['chain']} in {result['seconds']:.1f} s: "
            f"{len(result['designs'])} designs."
        )
        show_redesign(result)
    else:
        h = result["humanized"]
        st.success(
            f"Humanized {result['chain']} in {result['seconds']:.1f} s: {len(h.mutations)} mutations in "
            f"{h.rounds} rounds, humanness {h.humanness_before:.3f} -> {h.humanness_after:.3f}."
        )
        show_humanize(result)

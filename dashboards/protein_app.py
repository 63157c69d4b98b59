"""Protein design dashboard: design sequences that keep given motifs with a masked diffusion model, score
them with ESM-2 and Biopython, and compare them with natural sequences.

Run: ``dlm-protein dashboard`` (or ``streamlit run dashboards/protein_app.py``).
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch

from apps.protein import (
    DEFAULT_GO_MODEL,
    DEFAULT_MODEL,
    DEFAULT_SAMPLER,
    DEFAULT_SCORER,
    DEMO,
    ORDER_NOISE,
    STANDARD_RESIDUES,
    VOCABULARY_FILE,
    Generator,
    Record,
    Scorer,
    TermVocabulary,
    design,
    embed,
    load_generator,
    load_scorer,
    model_folder,
    pick_generator,
    read_fasta,
)
from apps.protein.probes import PROBES_FILE, ProbeSet
from dashboards.protein_view import (
    MAX_NATURAL,
    Natural,
    check_request,
    compared,
    design_table,
    fasta_text,
    form_config,
    natural_profile,
    pca,
    read_fasta_upload,
    residue_table,
    term_id,
    term_label,
)
from dashboards.widgets import PEOPLE_ERRORS, ProgressTrace, device_label, pick_device
from shared_dlm import STRATEGIES

EXAMPLE = json.loads(DEMO.read_text())
NATURAL = DEMO.parent / EXAMPLE["reference"]
SAMPLERS = sorted(STRATEGIES)
NO_SCORER = "none"
SETS = alt.Scale(domain=["design", "natural"], range=["#d62728", "#1f77b4"])


@st.cache_resource(show_spinner="Loading the generator...")
def cached_generator(name: str, device: str) -> Generator:
    """Each generator (with its GO vocabulary, if any) once per server, on the device the page runs on."""
    return load_generator(name, device)


@st.cache_resource(show_spinner="Loading the ESM-2 scorer...")
def cached_esm(name: str, device: str) -> torch.nn.Module:
    """Each ESM-2 once per server; in bf16 on a GPU."""
    model = load_scorer(name, device).model
    return model.to(dtype=torch.bfloat16) if device.startswith("cuda") else model


def scorer_for(name: str, device: str) -> Scorer | None:
    if name.lower() == NO_SCORER:
        return None
    model = cached_esm(name, device)
    return Scorer(model, device=device, dtype=next(model.parameters()).dtype)


@st.cache_data(show_spinner="Scoring the natural sequences...")
def cached_natural(scorer: str, device: str, records: tuple[tuple[str, str], ...]) -> Natural:
    """Natural sequences scored once per scorer and set."""
    return natural_profile([Record(id, id, sequence) for id, sequence in records], scorer_for(scorer, device))


@st.cache_data(show_spinner=False)
def term_labels(model: str) -> list[str]:
    """The picker's terms: the vocabulary of the generator named (if it is GO-conditioned), else of the
    shipped GO generator; none without either."""
    for name in (model, DEFAULT_GO_MODEL):
        folder = model_folder(name)
        if folder is not None and (folder / VOCABULARY_FILE).is_file():
            return [term_label(t) for t in TermVocabulary.load(folder).terms]
    return []


@st.cache_resource(show_spinner=False)
def cached_probes(folder: str) -> ProbeSet | None:
    path = Path(folder) / PROBES_FILE
    return ProbeSet.load(path) if path.is_file() else None


def form() -> dict | None:
    """The inputs as the widgets give them (``form_config`` reads the settings); None until Design is pressed."""
    labels = term_labels(st.session_state.get("model", DEFAULT_MODEL).strip())
    with st.form("design"):
        left, right = st.columns(2)
        with left:
            length = st.number_input("Length (residues)", min_value=0, value=EXAMPLE["length"], key="length")
            motifs = st.text_area(
                "Motifs, one a line", "\n".join(EXAMPLE["motifs"]), height=110, key="motifs",
                help="POS:RESIDUES is fixed at POS (1-based); START-END:RESIDUES floats inside START..END; X is any residue",
            )  # fmt: skip
            forbid = st.multiselect("Forbidden residues (outside the motifs)", list(STANDARD_RESIDUES), key="forbid")
            num = st.number_input("Designs", min_value=1, max_value=256, value=EXAMPLE["num"], key="num")
            go = st.multiselect(
                "GO terms: design for a function (type to search by name or id)", labels, key="go",
                disabled=not labels, placeholder="no GO-conditioned generator" if not labels else "any function",
                help=f"Gene Ontology terms of the generator named when Design was last pressed, else of {DEFAULT_GO_MODEL!r}, "
                f"which designs with them when the generator is left at {DEFAULT_MODEL!r}",
            )  # fmt: skip
            guidance = st.number_input(
                "Guidance weight (with GO terms)", value=1.0, step=0.5, key="guidance",
                help="classifier-free guidance: 0 ignores the terms, 1 is plain conditioning, above 1 pushes harder",
            )  # fmt: skip
            upload = st.file_uploader(
                f"Natural sequences to compare with (FASTA; default: {NATURAL.name})", key="natural"
            )
        with right:
            model = st.text_input("Generator", DEFAULT_MODEL, key="model", help="a model folder or a registered name")
            scorer = st.text_input(
                "ESM-2 scorer", DEFAULT_SCORER, key="scorer",
                help=f"a save_esm2 folder, a fair-esm checkpoint, a registered name, or '{NO_SCORER}' to skip ESM-2",
            )  # fmt: skip
            sampler = st.selectbox("Sampler", SAMPLERS, index=SAMPLERS.index(DEFAULT_SAMPLER), key="sampler")
            steps = st.number_input("Steps (0: one per generated residue)", min_value=0, value=0, key="steps")
            order_noise = st.number_input(
                "Order noise (confidence-ordered samplers)", min_value=0.0, value=ORDER_NOISE, step=0.5, key="order_noise",
                help="confidence, threshold, factor and fixed rank the positions by confidence plus Gumbel noise of this "
                "scale, fading over the steps; 0 ranks by confidence alone, which collapses designs to runs of one residue",
            )  # fmt: skip
            cache = st.checkbox(
                "Cached context", value=False, key="cache",
                help="reuse the context's keys and values between full forwards (every 4 steps): faster, designs close "
                "to the uncached ones; with fewer steps than residues (several a step), the fast setting",
            )  # fmt: skip
            temperature = st.number_input(
                "Temperature (0: greedy)", min_value=0.0, value=1.0, step=0.1, key="temperature"
            )
            remask = st.number_input(
                "ESM-2 remasking threshold (log-probability; 0: off)", max_value=0.0, value=0.0, step=0.5, key="remask",
                help="residues ESM-2 finds less likely than this go back to the mask while steps remain, e.g. -3",
            )  # fmt: skip
            seed = st.number_input("Seed", value=0, step=1, key="seed")
        if not st.form_submit_button("Design", type="primary"):
            return None
    return {
        "length": int(length), "motifs": motifs, "forbid": "".join(forbid), "num": int(num), "upload": upload,
        "model": model.strip(), "scorer": scorer.strip(), "sampler": sampler, "steps": int(steps),
        "temperature": float(temperature), "remask": float(remask), "seed": int(seed),
        "go": [term_id(label) for label in go], "guidance": float(guidance), "order_noise": float(order_noise),
        "cache": bool(cache),
    }  # fmt: skip


def run(inputs: dict) -> dict:
    """Validate the inputs, design and score, and keep what the page shows (ValueError etc. for bad input)."""
    config = form_config(inputs)
    specs = check_request(inputs["length"], inputs["motifs"], config)
    upload = inputs["upload"]
    records = read_fasta(NATURAL) if upload is None else read_fasta_upload(upload.name, upload.getvalue())
    if config.esm_remask is not None and inputs["scorer"].lower() == NO_SCORER:
        raise ValueError("ESM-2 remasking needs the ESM-2 scorer: give one, or set the threshold to 0")
    device = pick_device()
    model = str(pick_generator(inputs["model"], config.go))
    generator = cached_generator(model, str(device))
    scorer = scorer_for(inputs["scorer"], str(device))
    natural = cached_natural(inputs["scorer"], str(device), tuple((r.id, r.sequence) for r in records))
    if scorer is not None:  # the designs' embedding_similarity: to the natural centroid
        scorer.reference = torch.from_numpy(natural.embeddings)
    bar = st.progress(0.0, text="denoising")
    start = time.perf_counter()
    try:
        with st.spinner("Designing, then scoring the designs..."):
            designs = design(
                inputs["length"], specs, config, generator=generator, scorer=scorer, device=device,
                trace=ProgressTrace(bar, generator.spec.mask_id),
            )  # fmt: skip
            embeddings = None if scorer is None else embed(scorer.model, [d.sequence for d in designs]).numpy()
            probes, note = probes_for(model, inputs["scorer"])
            assigned = None if probes is None or scorer is None else probes.assign(scorer.model, [d.sequence for d in designs])
    finally:
        bar.empty()
    seconds = time.perf_counter() - start
    return {
        "designs": designs,
        "natural": natural,
        "natural_name": NATURAL.name if upload is None else upload.name,
        "embeddings": embeddings,
        "device": device_label(device),
        "seconds": seconds,
        "config": config,
        "assigned": assigned,
        "probes": probes,
        "probe_note": note,
    }


def probes_for(model: str, scorer: str) -> tuple[ProbeSet | None, str]:
    """The GO probes saved beside the generator (or the shipped GO generator), if they read this scorer's
    embeddings; and a note on why there are none."""
    for name in (model, DEFAULT_GO_MODEL):
        folder = model_folder(name)
        probes = None if folder is None else cached_probes(str(folder))
        if probes is None:
            continue
        if model_folder(scorer) != model_folder(probes.scorer):
            return None, f"The GO probes read the embeddings of the scorer {probes.scorer!r}: pick it to see the terms they assign."
        return probes, ""
    return None, ""


def show_table(result: dict) -> None:
    designs = result["designs"]
    st.subheader("Designs, best first")
    st.caption(
        "Ranked by motif recovery, then ESM-2 pseudo-perplexity (lower is more protein-like; without a scorer, "
        "the generator's mean log-probability). Embedding similarity: cosine to the natural sequences' mean "
        "ESM-2 embedding. Properties from Biopython's ProtParam."
    )
    assigned = result.get("assigned")
    if assigned is not None:
        probes: ProbeSet = result["probes"]
        st.caption(
            f"Probe terms: of the {len(probes.terms)} GO terms with a probe ({', '.join(probes.names)}), those a "
            "logistic regression on the scorer's embeddings assigns to the design (its threshold calls "
            f"{probes.fpr:.0%} of natural proteins without the term positive): an annotator independent of the generator."
        )
    elif result.get("probe_note"):
        st.caption(result["probe_note"])
    table = design_table(designs, assigned=assigned)
    st.dataframe(table, hide_index=True, column_config={"sequence": st.column_config.TextColumn(width="large")})
    fasta, csv = st.columns(2)
    fasta.download_button("Download FASTA", fasta_text(designs, result["config"]), "designs.fasta", "text/plain")
    full = design_table(designs, full=True, assigned=assigned).to_csv(index=False)
    csv.download_button("Download CSV", full, "designs.csv", "text/csv")


def show_residues(result: dict) -> None:
    designs = result["designs"]
    residues = residue_table(designs)
    measures = {"ESM-2 log-probability": "esm_log_prob", "generator log-probability": "generator_log_prob"}
    if residues["esm_log_prob"].isna().all():
        measures.pop("ESM-2 log-probability")
    st.subheader("Per-residue confidence")
    st.caption(
        "ESM-2: log p(residue | the rest), each residue masked in turn. Generator: log-probability of the residue "
        "when the sampler committed it (none at fixed motif residues). Motif positions are outlined in red."
    )
    label = st.radio("Confidence", list(measures), horizontal=True, key="measure")
    measure = measures[label]
    axis = alt.Axis(values=list(range(0, len(designs[0].sequence) + 1, 10)))
    encode = {"x": alt.X("position:O", axis=axis), "y": alt.Y("rank:O", title="design (rank)")}
    tooltip = ["rank", "position", "residue", "motif", "esm_log_prob", "generator_log_prob"]
    heat = (
        alt.Chart(residues)
        .mark_rect()
        .encode(
            **encode, color=alt.Color(f"{measure}:Q", title=label, scale=alt.Scale(scheme="viridis")), tooltip=tooltip
        )
    )
    motif = alt.Chart(residues[residues["motif"]]).mark_rect(fill=None, stroke="red", strokeWidth=1).encode(**encode)
    st.altair_chart(heat + motif, width="stretch")
    rank = st.selectbox("Design", [d.rank for d in designs], format_func=lambda r: f"#{r}", key="detail")
    one = residues[residues["rank"] == rank]
    bars = (
        alt.Chart(one)
        .mark_bar()
        .encode(
            x=alt.X("position:O", axis=axis),
            y=alt.Y(f"{measure}:Q", title=label),
            color=alt.Color("motif:N", scale=alt.Scale(domain=[False, True], range=["#7a9cc6", "#d62728"])),
            tooltip=tooltip,
        )
    )
    st.altair_chart(bars, width="stretch")
    sequence = "".join(
        f'<span style="background:#ffd6d6;font-weight:bold">{html.escape(r)}</span>' if m else html.escape(r)
        for r, m in zip(one["residue"], one["motif"])
    )
    st.html(f'<pre style="white-space:pre-wrap;word-break:break-all">{sequence}</pre>')


def show_comparison(result: dict) -> None:
    natural: Natural = result["natural"]
    st.subheader(f"Designs against natural sequences ({result['natural_name']}, {len(natural.table)} sequences)")
    if natural.left_out:
        st.caption(f"Only the first {MAX_NATURAL} natural sequences are scored; {natural.left_out} left out.")
    long = compared(design_table(result["designs"]), natural.table)
    chart = (
        alt.Chart(long)
        .mark_tick(thickness=2, size=16)
        .encode(
            x=alt.X("value:Q", scale=alt.Scale(zero=False), title=None),
            y=alt.Y("set:N", title=None),
            color=alt.Color("set:N", scale=SETS),
            tooltip=["set", "metric", "value"],
        )
        .properties(width=260, height=70)
        .facet(facet=alt.Facet("metric:N", title=None), columns=3)
        .resolve_scale(x="independent")
    )
    st.altair_chart(chart)
    st.subheader("Embedding map")
    if result["embeddings"] is None:
        st.info("The embedding map needs the ESM-2 scorer.")
        return
    points = np.concatenate([result["embeddings"], natural.embeddings])
    xy = pca(points)
    names = [f"design #{d.rank}" for d in result["designs"]] + list(natural.table["id"])
    sets = ["design"] * len(result["designs"]) + ["natural"] * len(natural.table)
    frame = pd.DataFrame({"PC1": xy[:, 0], "PC2": xy[:, 1], "set": sets, "name": names})
    st.caption("Mean ESM-2 embeddings of designs and natural sequences on their first two principal axes.")
    scatter = (
        alt.Chart(frame)
        .mark_circle(size=90)
        .encode(x="PC1:Q", y="PC2:Q", color=alt.Color("set:N", scale=SETS), tooltip=["name", "set"])
    )
    st.altair_chart(scatter, width="stretch")


st.set_page_config(page_title="Protein design", layout="wide")
st.title("Protein design with a masked diffusion model")
st.caption(
    "Set the length and the motifs to keep, press Design: the generator fills the rest, ESM-2 and Biopython "
    "score every design, and the plots set them beside natural sequences."
)
inputs = form()
if inputs is not None:
    st.session_state.pop("result", None)
    try:
        st.session_state["result"] = run(inputs)
    except PEOPLE_ERRORS as error:
        st.error(str(error))
if "result" in st.session_state:
    result = st.session_state["result"]
    st.success(
        f"Ran on {result['device']} in {result['seconds']:.1f} s: {len(result['designs'])} designs of "
        f"{len(result['designs'][0].sequence)} residues."
    )
    show_table(result)
    show_residues(result)
    show_comparison(result)

"""Code infilling dashboard: fill a hole in code with a masked diffusion model, see the candidates ranked
with a parse badge and a diff, and replay the denoising step by step.

Run: ``dlm-code dashboard`` (or ``streamlit run dashboards/code_app.py``).
"""

from __future__ import annotations

import html
import math
import time
import warnings

import pandas as pd
import streamlit as st

from apps.code import (
    DEFAULT_MODEL,
    DEMO,
    FILL,
    GRAMMARS,
    ContextTruncatedWarning,
    InfillConfig,
    infill,
    resolve_model,
)
from dashboards.code_view import (
    AUTO,
    COMMITTED,
    ENDED,
    KEPT,
    MASKED,
    SAMPLER,
    SYNTAX,
    diff,
    find_hole,
    pick_language,
    read_upload,
    replay,
    syntax_errors,
)
from dashboards.widgets import PEOPLE_ERRORS, ProgressTrace, device_label, pick_device
from shared_dlm import STRATEGIES, Loaded

LANGUAGES = sorted(GRAMMARS)
SAMPLERS = sorted(STRATEGIES)
LENGTHS = [4, 8, 16, 32, 64, 128]
DEFAULTS = InfillConfig()
STYLE = {  # how the replay shows a hole slot in each state
    COMMITTED: "background:#c8f7c5;font-weight:bold",
    KEPT: "",
    MASKED: "color:#999",
    SYNTAX: "background:#ffb3b3;color:#a00",
    SAMPLER: "background:#ffe0a3;color:#a60",
    ENDED: "color:#bbb",
}
LEGEND = {
    COMMITTED: "committed at this step",
    KEPT: "committed earlier",
    MASKED: "still masked",
    SYNTAX: "sent back to the mask by the syntax check",
    SAMPLER: "sent back to the mask by the sampler",
    ENDED: "after <eoi>: not part of the candidate",
}


@st.cache_resource(show_spinner="Loading the model...")
def load_model(name: str, device: str) -> Loaded:
    """Each model once per server, on the device the page runs on."""
    return resolve_model(name, device)


def form() -> dict | None:
    """The inputs; None until Generate is pressed."""
    with st.form("infill"):
        left, right = st.columns([3, 2])
        with left:
            code = st.text_area(f"Code with one {FILL} marker", DEMO.read_text(), height=360, key="code")
            upload = st.file_uploader("Or upload a source file (used instead of the text above)", key="upload")
            first_col, last_col = st.columns(2)
            first = first_col.number_input(
                f"Replace lines from (0: fill the {FILL} marker)", min_value=0, value=0, key="first"
            )
            last = last_col.number_input("to line", min_value=0, value=0, key="last")
        with right:
            language = st.selectbox("Language", [AUTO, *LANGUAGES], index=1 + LANGUAGES.index("python"), key="language")
            model = st.text_input(
                "Model", DEFAULT_MODEL, key="model", help="a folder written by `dlm-code train`, or a registered name"
            )
            sampler = st.selectbox("Sampler", SAMPLERS, index=SAMPLERS.index(DEFAULTS.sampler), key="sampler")
            num = st.number_input(
                "Candidates per hole length", min_value=1, max_value=64, value=DEFAULTS.num, key="num"
            )
            lengths = st.multiselect(
                "Hole lengths to try, in tokens", LENGTHS, key="lengths", help="none chosen: the model's own (8 to 64)"
            )
            steps = st.number_input("Steps (0: one per hole slot + 8)", min_value=0, value=0, key="steps")
            block = st.number_input(
                "Block length (0: the whole hole at once)", min_value=0, value=DEFAULTS.block_length, key="block",
                help="fill the hole left to right in blocks of this many slots",
            )  # fmt: skip
            temperature = st.number_input(
                "Temperature (0: greedy)", min_value=0.0, value=DEFAULTS.temperature, step=0.1, key="temperature"
            )
            syntax = st.checkbox(
                "Syntax remasking: send tokens tree-sitter blames back to the mask",
                DEFAULTS.syntax_remask,
                key="syntax",
            )
            seed = st.number_input("Seed", value=DEFAULTS.seed, step=1, key="seed")
        if not st.form_submit_button("Generate", type="primary"):
            return None
    return {
        "code": code, "upload": upload, "first": int(first), "last": int(last), "language": language,
        "model": model.strip(), "settings": {
            "sampler": sampler, "num": int(num), "lengths": lengths or None, "steps": int(steps) or None,
            "block_length": int(block), "temperature": float(temperature), "syntax_remask": syntax, "seed": int(seed),
        },
    }  # fmt: skip


def generate(inputs: dict) -> dict:
    """Validate the inputs, fill the hole, and keep what the page shows (ValueError etc. for bad input)."""
    config = InfillConfig(**inputs["settings"])
    upload = inputs["upload"]
    name = upload.name if upload is not None else "code"
    text = read_upload(upload.name, upload.getvalue()) if upload is not None else inputs["code"]
    hole = find_hole(text, inputs["first"], inputs["last"], name)
    language = pick_language(inputs["language"], None if upload is None else upload.name)
    device = pick_device()
    loaded = load_model(inputs["model"], str(device))
    bar = st.progress(0.0, text="denoising")
    trace = ProgressTrace(bar, loaded.model.spec.mask_id)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ContextTruncatedWarning)
            candidates = infill(
                hole.prefix, hole.suffix, language, config=config, model=loaded, device=device, trace=trace
            )
    finally:
        bar.empty()
    seconds = time.perf_counter() - start
    return {
        "hole": hole,
        "language": language,
        "candidates": candidates,
        "replays": [replay(trace, c, loaded.tokenizer) for c in candidates],
        "device": device_label(device),
        "seconds": seconds,
        "steps": len(trace),
        "rows": int(trace[0].ids.shape[0]),
        "warnings": [str(w.message) for w in caught if issubclass(w.category, ContextTruncatedWarning)],
    }


def score_text(score: float) -> str:
    return "no tokens" if math.isnan(score) else f"{score:.3f}"


def show_candidates(result: dict) -> None:
    st.subheader("Candidates, best first")
    st.caption("Ranked: those whose file parses first, then by the mean log-probability of their tokens.")
    hole, language = result["hole"], result["language"]
    for rank, candidate in enumerate(result["candidates"], start=1):
        badge = ":green-badge[parses]" if candidate.parses else ":red-badge[does not parse]"
        label = f"#{rank} · {'parses' if candidate.parses else 'does not parse'} · score {score_text(candidate.score)}"
        with st.expander(label, expanded=rank == 1):
            st.markdown(
                f"{badge} score {score_text(candidate.score)} · {candidate.length} tokens "
                f"(a hole of {candidate.slots} slots)"
            )
            filled, changes = st.tabs(["Filled in", "Diff"])
            filled.code(candidate.text or "(empty)", language=language)
            changes.code(diff(hole, candidate.text), language="diff")
            if not candidate.parses:
                st.caption("Syntax errors: " + "; ".join(syntax_errors(hole, candidate.text, language)))


def slot_html(text: str, state: str) -> str:
    shown = "▢" if state in (MASKED, SYNTAX, SAMPLER) else text.replace("<eoi>", "⏹")
    return f'<span style="{STYLE[state]}" title="{html.escape(LEGEND[state])}">{html.escape(shown)}</span>'


def show_replay(result: dict) -> None:
    st.subheader("Step-by-step replay")
    st.caption(
        "The hole of one candidate after each denoising step. Red slots were sent back to the mask by the "
        "syntax check: tree-sitter blamed those tokens (and one neighbour each side) for a syntax error in the "
        "file as filled so far, and later steps generate them again."
    )
    candidates, replays = result["candidates"], result["replays"]
    index = st.selectbox(
        "Candidate", range(len(candidates)), key="replay_candidate",
        format_func=lambda i: f"#{i + 1}: {candidates[i].text.strip()[:60] or '(empty)'}",
    )  # fmt: skip
    steps = replays[index].steps
    at = len(steps) if len(steps) == 1 else st.slider("Step", 1, len(steps), len(steps), key="replay_step")
    step = steps[at - 1]
    hole = result["hole"]
    before = hole.prefix.splitlines(keepends=True)[-2:]
    after = hole.suffix.splitlines(keepends=True)[:2]
    context = 'style="color:#888"'
    body = "".join(slot_html(s.text, s.state) for s in step.slots)
    st.html(
        f'<pre style="font-size:0.9em;white-space:pre-wrap"><span {context}>{html.escape("".join(before))}</span>'
        f"{body}<span {context}>{html.escape(''.join(after))}</span></pre>"
    )
    st.html(" ".join(f'<span style="{STYLE[s]};padding:0 4px">{html.escape(LEGEND[s])}</span>' for s in STYLE))
    counts = pd.DataFrame(
        [
            {
                "step": s.step,
                "committed": s.count(COMMITTED),
                "syntax remasked": s.count(SYNTAX),
                "sampler remasked": s.count(SAMPLER),
                "still masked": s.count(MASKED) + s.count(SYNTAX) + s.count(SAMPLER),
            }
            for s in steps
        ]
    )
    st.bar_chart(
        counts, x="step", y=["committed", "syntax remasked", "sampler remasked"], height=220,
        color=["#5cb85c", "#e05050", "#f0ad4e"],
    )  # fmt: skip
    st.dataframe(counts, hide_index=True, height=200)


st.set_page_config(page_title="Code infilling", layout="wide")
st.title("Code infilling with a masked diffusion model")
st.caption(
    f"Paste or upload code with one {FILL} marker (or give lines to replace) and press Generate: the model "
    "fills the hole at several lengths, and the candidates come back ranked."
)
inputs = form()
if inputs is not None:
    st.session_state.pop("result", None)
    try:
        st.session_state["result"] = generate(inputs)
    except PEOPLE_ERRORS as error:
        st.error(str(error))
if "result" in st.session_state:
    result = st.session_state["result"]
    st.success(
        f"Ran on {result['device']} in {result['seconds']:.1f} s: {len(result['candidates'])} distinct candidates "
        f"from {result['rows']} samples, {result['steps']} denoising steps."
    )
    for message in result["warnings"]:
        st.warning(message)
    show_candidates(result)
    show_replay(result)

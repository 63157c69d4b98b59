"""`docs/results.md` from the figure JSONs in `docs/figures/`: a row a figure with its headline numbers, its
baseline's beside them and where it came from (command, commit, date, device, each model's sha256 prefix).

`dlm-bench results` writes the file; `dlm-bench results --check` (and tests/bench/test_results.py) fails when
it is out of date. A figure of a kind this module cannot read is an error that names the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
RESULTS = ROOT / "docs" / "results.md"
COMMAND = "dlm-bench results"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def parse_cells(s: dict) -> str:
    """The parse rates of a HumanEval score block; figures from before ``parse_rate_tree_sitter`` hold only
    tree-sitter's rate, as ``parse_rate``, and are labelled so."""
    if "parse_rate_tree_sitter" not in s:
        return f"parses (tree-sitter) {pct(s['parse_rate'])}"
    return f"parses {pct(s['parse_rate'])} (tree-sitter {pct(s['parse_rate_tree_sitter'])})"


def humaneval(f: dict) -> tuple[str, str, str]:
    what = f"HumanEval {f['mode']} infilling, {f['tasks']} tasks, holes starting {f.get('hole_starts', 'at the line')}"
    result = f"pass@1 {pct(f['pass@1'])}, {parse_cells(f)}, blank {pct(f['blank_rate'])}"
    baselines = "; ".join(
        f"`{name}`: pass@1 {pct(b['pass@1'])}, {parse_cells(b)}, blank {pct(b['blank_rate'])}"
        for name, b in f["baselines"].items()
    )
    return what, result, baselines


def protein_eval(f: dict) -> tuple[str, str, str]:
    check, sets = f["scorer_check"], f["generation"]
    what = (
        f"Protein designs ({sets['designs']['n']}) and the scorer check (natural scored above its shuffle, "
        f"{check['test']['n']} test and {check['external']['n']} external proteins)"
    )
    result = (
        f"designs' median pseudo-perplexity {sets['designs']['median_pppl']:.2f}; natural < shuffled "
        f"{pct(check['test']['natural_lower_fraction'])} test, {pct(check['external']['natural_lower_fraction'])} external"
    )
    baselines = ", ".join(
        f"{name} {row['median_pppl']:.2f}" for name, row in sets.items() if name != "designs" and not name.startswith("designs_")
    )
    return what, result, f"median pseudo-perplexity: {baselines}"


def go_eval(f: dict) -> tuple[str, str, str]:
    s = f["summary"]
    what = f"GO-conditioned designs, {s['terms']} terms, guidance {f['settings']['guidance']:g}, probe and homology annotators"
    result = (
        f"{s['probe_enriched_3x_over_unconditioned']} of {s['terms']} terms at 3x the unconditioned probe rate, "
        f"{s['probe_enriched_3x_over_other_terms']} at 3x other terms' designs; median pseudo-perplexity "
        f"{s['conditioned_pseudo_perplexity_median']:.2f}"
    )
    baseline = f"unconditioned designs: median pseudo-perplexity {s['unconditioned_pseudo_perplexity_median']:.2f}"
    return what, result, baseline


def go_elbo(f: dict) -> tuple[str, str, str]:
    what = f"What the GO terms are worth to the generator: {f['split']} ELBO, {f['proteins']} proteins"
    result = f"{f['with_terms_bits']:.4f} bits a token with the terms (gain {f['gain_bits']:.4f})"
    return what, result, f"{f['no_terms_bits']:.4f} bits a token without them"


def bench_sample(f: dict) -> tuple[str, str, str]:
    modes = f["modes"]
    what = f"`dlm-bench sample`, {f['task']}: tokens a second of the samplers"
    fast = modes["parallel_cache"]
    result = f"parallel + cache x{f['speedup']:.2f}, {fast['forwards_per_token']:.2f} forwards a token"
    slow = modes["one_per_step"]
    return what, result, f"one token a step: {slow['tokens_per_s']:.1f} tokens/s, {slow['forwards_per_token']:.2f} forwards a token"


def bench_forward(f: dict) -> tuple[str, str, str]:
    best = max(f["results"], key=lambda r: r["tokens_per_s"])
    what = f"`dlm-bench forward`: the denoiser's throughput, {best['dtype']}"
    result = f"{best['tokens_per_s']:,.0f} tokens/s at batch {best['batch']} x {best['length']}"
    return what, result, "none (a ceiling)"


def antibody_eval(f: dict) -> tuple[str, str, str]:
    recovery, settings, human = f["redesign_recovery"], f["settings"], f.get("humanization")
    if not recovery:
        what = f"Antibody humanization ({human['chains']} non-human Swiss-Prot V domains of {f['chains']})"
        ours = human["humanize"]
        result = (f"human V identity {pct(human['parent']['human_v_identity'])} -> {pct(ours['human_v_identity'])}, "
                  f"humanness {human['parent']['humanness']:.3f} -> {ours['humanness']:.3f}, CDRs kept "
                  f"{pct(ours['cdrs_kept'])}, {ours['mutations']:.1f} mutations")  # fmt: skip
        graft = human["cdr_graft"]
        return what, result, (f"CDR graft: identity {pct(graft['human_v_identity'])}, humanness {graft['humanness']:.3f}, "
                              f"{graft['mutations']:.1f} mutations")  # fmt: skip
    chains = f"{f['chains']} {'heavy ' if settings.get('chain') == 'H' else ''}Swiss-Prot V domains"
    what = (f"Antibody redesign recovery ({chains}; {settings['sampler']}, temperature {settings['temperature']:g}, "
            f"{settings['num']} designs)")  # fmt: skip
    result = "; ".join(f"{task}: " + ", ".join(f"{m} {pct(r[m]['mean'])}" for m in settings["models"]) for task, r in recovery.items())
    baselines = "; ".join(
        f"{task}: " + ", ".join(f"{m} {pct(r[m]['mean'])}" for m in ("antiberty_one_shot", "most_frequent", "profile_sample"))
        for task, r in recovery.items()
    )
    return what, result + " (mean of designs)", baselines


def bench_antibody(f: dict) -> tuple[str, str, str]:
    rows = f["cdrh3_redesign"]
    what = "`dlm-bench antibody`: CDR-H3 redesign speed against the protein generator on the same canvas"
    result = ", ".join(f"{name} {r['designs_per_s']:.2f} designs/s (x{r['ratio_to_protein_generator']:.2f})"
                       for name, r in rows.items() if name != "protein-default")  # fmt: skip
    result += "; humanize OKT3 VH+VL " + ", ".join(f"{m} {s:.1f} s" for m, s in f["humanize_okt3_pair_seconds"].items())
    return what, result, f"protein generator {rows['protein-default']['designs_per_s']:.2f} designs/s"


KINDS: list[tuple[Callable[[dict], bool], Callable[[dict], tuple[str, str, str]]]] = [
    (lambda f: "pass@1" in f and "baselines" in f, humaneval),
    (lambda f: "scorer_check" in f and "generation" in f, protein_eval),
    (lambda f: "summary" in f and "terms" in f, go_eval),
    (lambda f: "gain_bits" in f, go_elbo),
    (lambda f: "modes" in f and "task" in f, bench_sample),
    (lambda f: f.get("benchmark") == "forward", bench_forward),
    (lambda f: "redesign_recovery" in f, antibody_eval),
    (lambda f: "cdrh3_redesign" in f, bench_antibody),
]


def provenance_cells(p: dict) -> tuple[str, str, str]:
    commit = f"`{p['commit'][:10]}`" if p.get("commit") else "none"
    if p.get("dirty"):
        commit += " (uncommitted changes)"
    if p.get("recovered_from_git"):
        commit += " (recovered from git)"
    when = f"{commit}, {p['date'][:10]}, {p['device']}"
    models = ", ".join(f"{role} `{m['sha256'][:12] if m['sha256'] else 'unhashed'}`" for role, m in p["models"].items()) or "none"
    return f"`{p['command']}`", when, models


def row(path: Path) -> str:
    figure = json.loads(path.read_text())
    if "provenance" not in figure:
        raise ValueError(f"{path} has no provenance block: rerun the command that made it")
    for matches, read in KINDS:
        if matches(figure):
            what, result, baseline = read(figure)
            break
    else:
        raise ValueError(f"{path}: not a figure kind bench/results.py knows (add a reader to KINDS)")
    command, when, models = provenance_cells(figure["provenance"])
    cells = [f"[{what}](figures/{path.name})", result, baseline, command, when, models]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render(figures: Path | None = None) -> str:
    """The text of docs/results.md for the figures in the folder (default FIGURES), in name order."""
    figures = FIGURES if figures is None else figures
    lines = [
        "# Results",
        "",
        f"Generated by `{COMMAND}` from the figure JSONs in `docs/figures/` (do not edit by hand). Each row: the",
        "figure's headline numbers, its baseline's beside them, and where it came from: the command, the commit",
        "(recovered from git for figures made before their JSON recorded it), the date, the device and the first",
        "characters of each model's weights sha256. Superseded figures of earlier models are in `docs/history/figures/`.",
        "",
        "| Figure | Result | Baseline | Command | Commit, date, device | Models (sha256) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [row(path) for path in sorted(figures.glob("*.json"))]
    return "\n".join(lines) + "\n"


def write(check: bool = False) -> int:
    """Write RESULTS from FIGURES, or with ``check`` only compare; 1 when the file was out of date under ``check``."""
    text, out = render(FIGURES), RESULTS
    if check:
        if not out.is_file() or out.read_text() != text:
            print(f"{out} is out of date: run `{COMMAND}`")
            return 1
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(write())

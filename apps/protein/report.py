"""The protein evaluations' reports as plain text (``dlm-protein eval design|go|go-elbo`` without ``--json``),
and the timer whose seconds each report records."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from apps.protein.design import Generator
from apps.protein.homology import NOVELTY_EVALUE


@contextmanager
def timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the seconds the block takes to ``seconds[name]`` (rounded to a tenth)."""
    start = time.monotonic()
    yield
    seconds[name] = round(seconds.get(name, 0.0) + time.monotonic() - start, 1)


def format_report(report: Mapping) -> str:
    """``evaluate``'s report as two plain-text tables, then the settings and timings that matter most."""
    lines = ["scorer check: pseudo-perplexity of natural sequences against their shuffles"]
    lines.append(f"{'set':<10}{'n':>6}{'natural<shuffled':>18}{'median natural':>16}{'median shuffled':>17}")
    for name, row in report["scorer_check"].items():
        if "n" in row:
            lines.append(
                f"{name:<10}{row['n']:>6}{row['natural_lower_fraction']:>18.3f}"
                f"{row['median_pppl_natural']:>16.2f}{row['median_pppl_shuffled']:>17.2f}"
            )
        else:
            lines.append(f"{name:<10}{0:>6}  (no sequence left)")
    external = report["scorer_check"]["external"]
    lines.append(
        f"external: {external['external_sequences']} sequences, {external['identical_to_training_removed']} identical to "
        f"a training sequence removed; of {external['searched_for_relatives']} searched, "
        f"{external['with_training_relative_removed']} with a training relative removed"
    )
    lines += ["", "generation (lengths of the natural set)"]
    columns = [
        ("n", "n", "d"), ("median_pppl", "med pppl", ".2f"), ("mean_pppl", "mean pppl", ".2f"), ("kl_bits", "KL bits", ".4f"),
        ("mean_pairwise_identity", "pair id", ".3f"), ("mean_max_train_identity", "train id", ".3f"),
        ("no_hit_fraction", "no hit", ".3f"),
    ]  # fmt: skip
    lines.append(f"{'set':<14}" + "".join(f"{title:>11}" for _, title, _ in columns))
    for name, row in report["generation"].items():
        lines.append(f"{name:<14}" + "".join(f"{row[key]:>11{fmt}}" for key, _, fmt in columns))
    settings = report["settings"]
    lines += [
        "",
        (
            f"model {settings['model']}, scorer {settings['scorer']}, seed {settings['seed']}, "
            f"sampler {settings['sampler']}, steps {settings['steps'] or 'one a residue'}, "
            f"temperature {settings['temperature']}"
        ),
        (
            "pair id: diversity, mean pairwise identity; train id: novelty, mean highest identity to training; "
            f"no hit: share with no training hit at E < {NOVELTY_EVALUE:g}"
        ),
        f"{report['seconds']['total']:.0f} s: " + ", ".join(f"{k} {v:.0f}" for k, v in report["seconds"].items() if k != "total"),
    ]
    return "\n".join(lines)


def format_go_report(report: Mapping) -> str:
    """``evaluate_go``'s report: a row a term, the motif + term pairs, the other guidance weights, a summary."""
    lines = ["GO conditioning: share of designs assigned the term (conditioned / unconditioned / other terms)"]
    lines.append(
        f"{'term':<11} {'name':<36} {'AUROC':>6} {'probe c/u/o':>17} {'x':>5} {'homology c/u/o':>17} {'id':>5} {'PPPL':>6}"
    )
    for r in report["terms"]:
        p, h = r["probe"], r["homology"]
        auc = "-" if p["test_auroc"] is None else f"{p['test_auroc']:.2f}"
        lines.append(
            f"{r['term']:<11} {r['name'][:36]:<36} {auc:>6} "
            f"{p['conditioned']:>5.2f}/{p['unconditioned']:.2f}/{p['other_terms']:.2f} {p['ratio_unconditioned']:>5.1f} "
            f"{h['conditioned']:>5.2f}/{h['unconditioned']:.2f}/{h['other_terms']:.2f} {r['novelty_median_max_identity']:>5.2f} "
            f"{r['pseudo_perplexity_median']:>6.2f}"
        )
    lines += ["", "motif + term (motif kept / probe / homology)"]
    for m in report["motifs"]:
        w, o = m["with_term"], m["motif_only"]
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(
            f"{m['term']} {m['name'][:28]:<28} {m['motif']:<16} with term {w['motif_kept']:.2f}/{fmt(w['probe'])}/{w['homology']:.2f}"
            f"  motif only {o['motif_kept']:.2f}/{fmt(o['probe'])}/{o['homology']:.2f}"
        )
    s = report["summary"]
    if report.get("guidance_compare"):
        lines += ["", "other guidance weights (same seeds; probe rate conditioned, x unconditioned, median PPPL)"]
    for c in report.get("guidance_compare", ()):
        cells = "  ".join(f"{t}: {v['conditioned']:.2f} {v['ratio_unconditioned']:.1f}x {v['pseudo_perplexity_median']:.1f}"
                          for t, v in c["terms"].items())  # fmt: skip
        lines.append(f"guidance {c['guidance']:g}: {c['probe_enriched_3x_over_unconditioned']} terms at 3x; {cells}")
    lines += [
        "",
        f"median PPPL: conditioned {s['conditioned_pseudo_perplexity_median']:.2f}, unconditioned "
        f"{s['unconditioned_pseudo_perplexity_median']:.2f}",
        f"probe: {s['probe_enriched_3x_over_unconditioned']} of {s['terms']} terms at least 3x the unconditioned rate, "
        f"{s['probe_enriched_3x_over_other_terms']} at least 3x the other terms' rate",
        f"settings: length {report['settings']['length']}, {report['settings']['num']} designs a set, guidance "
        f"{report['settings']['guidance']}, sampler {report['settings']['sampler']}; "
        f"{report['seconds']['total']:.0f} s",
    ]
    return "\n".join(lines)


def format_go_elbo(report: Mapping) -> str:
    """``term_elbo``'s report in one line."""
    return (
        f"{report['model']}: {report['proteins']} {report['split']} proteins, {report['tokens']} tokens; negative ELBO "
        f"{report['no_terms_bits']:.4f} bits/token without terms, {report['with_terms_bits']:.4f} with a subset of "
        f"their own terms: the terms are worth {report['gain_bits']:.4f} bits/token ({report['seconds']:.0f} s)"
    )


def named(thing) -> str:
    """How a report's settings name a model or scorer: its path or registered name (a loaded generator's
    source), else its class."""
    if isinstance(thing, Generator):
        return thing.source
    return str(thing) if isinstance(thing, (str, Path)) else type(thing).__name__

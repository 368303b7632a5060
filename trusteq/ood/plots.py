"""Figures of the OOD analysis: AUROC bars and flag agreement against the deep-kNN k."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from trusteq.viz.plots import agreement_vs_k, plt


def auroc_bars(metrics: pd.DataFrame) -> Figure:
    """AUROC per variant and OOD split, one panel (row) per scorer; the dashed line is chance.

    Args:
        metrics: one row per (variant, scorer, split) with an ``auroc`` column (the analysis'
            ``metrics.csv``).
    """
    scorers = list(dict.fromkeys(metrics["scorer"]))
    variants = list(dict.fromkeys(metrics["variant"]))
    splits = list(dict.fromkeys(metrics["split"]))
    fig, axes = plt.subplots(
        len(scorers),
        1,
        sharex=True,
        figsize=(2.5 + 0.35 * len(variants) * len(splits), 0.6 + 2.2 * len(scorers)),
    )
    axes = np.atleast_1d(axes)
    width = 0.8 / len(variants)
    for ax, scorer in zip(axes, scorers, strict=True):
        table = metrics[metrics["scorer"] == scorer].pivot(
            index="split", columns="variant", values="auroc"
        )
        for offset, variant in enumerate(variants):
            positions = np.arange(len(splits)) + (offset - (len(variants) - 1) / 2) * width
            ax.bar(positions, table.loc[splits, variant], width, label=variant)
        ax.axhline(0.5, ls="--", color="grey", lw=1)
        ax.set_xticks(range(len(splits)), splits)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"AUROC, {scorer}")
    axes[0].set_title("OOD detection (OOD = positive); dashed = chance", fontsize=10)
    axes[0].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def flag_agreement_vs_k(curve: pd.DataFrame, reference: str, noise_floor: str | None) -> Figure:
    """Jaccard of OOD-flagged sets with the reference against the deep-kNN k (Paper A, Fig. 1 c).

    One line per variant with its 95% interval band; dotted lines in the same colour are the
    Jaccard expected by chance at the two models' flag rates. The noise-floor variant (the
    reference's seed replicate) is labelled as such.

    Args:
        curve: rows ``k, variant, jaccard, jaccard_lo, jaccard_hi, chance_jaccard`` (the
            analysis' ``flag_agreement_vs_k.csv``).
        reference: the reference variant (left out: its line is 1).
        noise_floor: the noise-floor variant, or None.
    """
    ks = sorted(curve["k"].unique())
    curves, chance = {}, {}
    for variant, rows in curve.groupby("variant", sort=False):
        if variant == reference:
            continue
        rows = rows.set_index("k").loc[ks]
        label = f"{variant} (noise floor)" if variant == noise_floor else str(variant)
        curves[label] = tuple(rows[c].to_numpy() for c in ("jaccard", "jaccard_lo", "jaccard_hi"))
        chance[label] = rows["chance_jaccard"].to_numpy()
    fig = agreement_vs_k(
        ks,
        curves,
        f"OOD flags (deep kNN, own 95% thresholds) vs {reference}; dotted = chance",
        ylabel="Jaccard of OOD-flagged sets",
    )
    ax = fig.axes[0]
    for line in list(ax.get_lines()):
        if line.get_label() in chance:
            ax.plot(ks, chance[line.get_label()], ls=":", lw=1, color=line.get_color())
    ax.set_xlabel("k (deep-kNN neighbour rank)")
    return fig

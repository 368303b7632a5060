"""Figures: reliability diagrams, divergence heatmaps, agreement-vs-K curves (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def _draw_reliability(ax, table: Mapping[str, np.ndarray]) -> None:
    filled = np.asarray(table["count"]) > 0
    conf = np.asarray(table["confidence"])[filled]
    acc = np.asarray(table["accuracy"])[filled]
    err = np.vstack(
        [acc - np.asarray(table["ci_low"])[filled], np.asarray(table["ci_high"])[filled] - acc]
    )
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    ax.errorbar(conf, acc, yerr=err, fmt="o-", capsize=3, label="model (95% CI)")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, 1)


def reliability_grid(tables: Mapping[str, Mapping[str, np.ndarray]], title: str) -> Figure:
    """Reliability diagrams of several variants side by side (shared axes).

    Args:
        tables: variant → reliability table (as for `reliability_diagram`).
        title: figure title.
    """
    fig, axes = plt.subplots(
        1, len(tables), figsize=(3.2 * len(tables), 3.4), sharey=True, squeeze=False
    )
    for ax, (name, table) in zip(axes[0], tables.items(), strict=True):
        _draw_reliability(ax, table)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("confidence")
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(loc="upper left", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def reliability_diagram(table: Mapping[str, np.ndarray], title: str) -> Figure:
    """Per-bin accuracy against mean confidence, with 95% interval bars and bin counts.

    Args:
        table: `confidence`, `accuracy`, `count`, `ci_low`, `ci_high` arrays of shape `(B,)`
            (as from `trusteq.characteristics.calibration.reliability_table`).
        title: figure title.
    """
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(4.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    filled = np.asarray(table["count"]) > 0
    conf = np.asarray(table["confidence"])[filled]
    _draw_reliability(top, table)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", fontsize=8)
    top.set_title(title, fontsize=10)
    bottom.bar(conf, np.asarray(table["count"])[filled], width=0.03)
    bottom.set_xlabel("mean confidence (max softmax probability)")
    bottom.set_ylabel("count")
    bottom.set_xlim(0, 1)
    fig.tight_layout()
    return fig


def matrix_heatmap(
    values: np.ndarray,
    labels: Sequence[str],
    title: str,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """A V×V heatmap with each cell's value printed."""
    size = 1.2 + 0.8 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(
                    j, i, f"{values[i, j]:.3f}", ha="center", va="center", color="w", fontsize=8
                )
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def agreement_vs_k(
    ks: Sequence[int],
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    title: str,
    ylabel: str = "mean kNN Jaccard with reference",
) -> Figure:
    """Agreement against K, one line per variant with a shaded 95% interval (Paper A, Fig. 1).

    Args:
        ks: the K values, shape `(K,)`.
        curves: variant → `(value, ci_low, ci_high)`, each shape `(K,)`.
        title: figure title.
        ylabel: y-axis label.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (value, low, high) in curves.items():
        floor = name.endswith("(noise floor)")
        (line,) = ax.plot(
            ks,
            value,
            marker="o",
            label=name,
            ls="--" if floor else "-",
            color="grey" if floor else None,
        )
        ax.fill_between(ks, low, high, alpha=0.15, color=line.get_color())
    ax.set_xscale("log")
    ax.set_xticks(list(ks), [str(k) for k in ks])
    ax.set_xlabel("K (nearest neighbours)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig

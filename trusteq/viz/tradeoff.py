"""The plot users want when choosing a compression method: size (or latency) against divergence.

One panel per pairwise characteristic: each variant is a point at its size on disk (or latency)
and its value against the reference, with the bootstrap interval as an error bar; the reference's
seed replicate (the noise floor) is a dashed line with its interval shaded. A method whose point
lies inside the band diverges no more than retraining with another seed does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from trusteq.report.results import ComparisonResult

_AXES = {
    "size_mb": ("size on disk (MB, log scale)", lambda meta: meta["compression_stats"]["size_mb"]),
    "ms_per_example": (
        "latency (ms per example, log scale)",
        lambda meta: (meta.get("latency") or {}).get("ms_per_example", np.nan),
    ),
}


def tradeoff_points(
    result: ComparisonResult, characteristic: str, reference: str, x: str = "size_mb"
) -> dict[str, tuple[float, float, float, float]]:
    """Variant → `(x, value, ci_low, ci_high)` of `characteristic` against `reference`.

    Args:
        result: the compare stage's result (`pairwise` matrices and the outputs' `meta`).
        characteristic: a key of `result.pairwise`.
        reference: the variant every value is measured against.
        x: `size_mb` (from `compression_stats`, MB) or `ms_per_example` (from `latency`, ms).

    Raises:
        KeyError: an unknown characteristic, reference or x.
    """
    label_and_get = _AXES[x]
    matrix = result.pairwise[characteristic]
    i = matrix.variants.index(reference)
    points = {}
    for j, variant in enumerate(matrix.variants):
        meta = result.meta.get(variant, {})
        try:
            position = float(label_and_get[1](meta))
        except KeyError:
            position = np.nan
        points[variant] = (
            position,
            float(matrix.value[i, j]),
            float(matrix.ci_low[i, j]),
            float(matrix.ci_high[i, j]),
        )
    return points


def tradeoff_figure(
    result: ComparisonResult,
    reference: str,
    noise_floor: str | None = None,
    x: str = "size_mb",
    characteristics: Sequence[str] | None = None,
) -> Figure:
    """Scatter of size (or latency) against divergence from `reference`, one panel per metric.

    Args:
        result: the compare stage's result.
        reference: the study's reference variant (its own point is the identity value).
        noise_floor: the reference's seed replicate; its value and interval are drawn as a band.
        x: `size_mb` or `ms_per_example`.
        characteristics: `result.pairwise` keys to plot; default: every matrix whose
            characteristic declares a summary column and is read against the noise floor.

    Returns:
        A matplotlib figure (Agg backend); the caller closes it.
    """
    names = [c for c in characteristics or [] if c in result.pairwise] or [
        name
        for name, matrix in result.pairwise.items()
        if matrix.metadata.get("summary_column") and matrix.metadata.get("against_floor", True)
    ]
    columns = min(3, max(1, len(names)))
    rows = max(1, -(-len(names) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False)
    xlabel = _AXES[x][0]
    for ax, name in zip(axes.flat, names, strict=False):
        points = tradeoff_points(result, name, reference, x)
        if noise_floor and noise_floor in points:
            _, floor, low, high = points[noise_floor]
            ax.axhline(floor, ls="--", color="grey", lw=1, label=f"noise floor ({noise_floor})")
            ax.axhspan(low, high, color="grey", alpha=0.15)
        for variant, (position, value, low, high) in points.items():
            if not np.isfinite(position):
                continue
            marker = "*" if variant == reference else "o"
            ax.errorbar(
                position,
                value,
                yerr=[[max(value - low, 0.0)], [max(high - value, 0.0)]],
                fmt=marker,
                capsize=3,
                markersize=10 if variant == reference else 6,
            )
            ax.annotate(
                variant, (position, value), fontsize=7, xytext=(4, 3), textcoords="offset points"
            )
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{name} vs {reference}")
        ax.set_title(name, fontsize=10)
        if noise_floor:
            ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(f"Compression trade-off against {reference} (95% bootstrap intervals)")
    fig.tight_layout()
    return fig

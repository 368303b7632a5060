"""Figures of the study report: forest plots of the verdicts, and embedding figures as base64.

A forest plot shows one characteristic: per variant its value against the reference and the
bootstrap interval, coloured by outcome, over the seed population's floor (the band from the
lowest to the highest seed-pair value, the mean as a line, the equivalence margin dotted) and the
chance level where one is given; the axis label says which direction is "more alike".
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Colour of each outcome (colour-blind-safe pairs: blue/orange, green/red also differ in word).
OUTCOME_COLOURS: dict[str, str] = {
    "within_noise": "#1a7f37",
    "more_alike": "#0969da",
    "diverges": "#cf222e",
    "inconclusive": "#9a6700",
}
#: Plain words shown for each outcome.
OUTCOME_WORDS: dict[str, str] = {
    "within_noise": "within noise",
    "more_alike": "more alike",
    "diverges": "diverges",
    "inconclusive": "inconclusive",
}

FigureLike = Figure | str | Path | bytes


def forest_plot(
    tests: pd.DataFrame,
    floor: pd.DataFrame | None = None,
    *,
    characteristic: str | None = None,
    chance: float | None = None,
    title: str | None = None,
) -> Figure:
    """Forest plot of one characteristic's verdicts.

    Args:
        tests: rows of the verdict table (``variant, value, ci_low, ci_high, floor_mean,
            floor_min, floor_max, margin, outcome, higher_is_better, is_seed, n_examples,
            n_resamples``) for one characteristic; other characteristics are dropped when
            ``characteristic`` is given.
        floor: the floor table (``characteristic, a, b, value``); its pairs are drawn as ticks.
        characteristic: which characteristic to draw (default: the only one in ``tests``).
        chance: the value two unrelated models would get (e.g. κ = 0), drawn as a dashed line.
        title: figure title (default: the characteristic, N and R).

    Returns:
        The figure (height grows with the number of variants).

    Raises:
        ValueError: no rows, or several characteristics and none chosen.
    """
    if characteristic is not None:
        tests = tests[tests["characteristic"] == characteristic]
        if floor is not None and not floor.empty:
            floor = floor[floor["characteristic"] == characteristic]
    names = tests["characteristic"].unique() if len(tests) else []
    if len(names) != 1:
        raise ValueError(f"forest_plot needs the rows of one characteristic, got {list(names)}")
    name = str(names[0])
    # The population floor is the one of a non-seed variant (seeds use a leave-one-out floor).
    population = tests[~tests["is_seed"].astype(bool)]
    reference_row = (population if len(population) else tests).iloc[0]
    higher = bool(reference_row["higher_is_better"])
    n_rows = len(tests)
    fig, ax = plt.subplots(figsize=(7.0, 1.3 + 0.42 * n_rows), layout="constrained")
    low, high = float(reference_row["floor_min"]), float(reference_row["floor_max"])
    mean, margin = float(reference_row["floor_mean"]), float(reference_row["margin"])
    ax.axvspan(low, high, color="#8c959f", alpha=0.35, lw=0, label="floor: seed pairs (min–max)")
    ax.axvline(mean, color="#57606a", lw=1.2, label="floor mean")
    for edge in (mean - margin, mean + margin):
        ax.axvline(edge, color="#57606a", lw=0.9, ls=":")
    ax.plot([], [], color="#57606a", lw=0.9, ls=":", label="floor mean ± margin")
    if floor is not None and not floor.empty:
        ax.plot(
            floor["value"],
            np.full(len(floor), n_rows - 0.35),
            "|",
            color="#24292f",
            ms=10,
            label="seed-pair values",
        )
    if chance is not None and np.isfinite(chance):
        ax.axvline(chance, color="#8250df", lw=1.0, ls="--", label=f"chance level ({chance:g})")
    if tests["is_seed"].astype(bool).any():
        ax.plot([], [], "o", color="#57606a", mfc="white", label="seed (floor without it)")
    labels = []
    for position, row in enumerate(tests.itertuples(index=False)):
        y = n_rows - 1 - position
        colour = OUTCOME_COLOURS.get(row.outcome, "#24292f")
        err = [[max(row.value - row.ci_low, 0.0)], [max(row.ci_high - row.value, 0.0)]]
        ax.errorbar(
            row.value,
            y,
            xerr=err if np.isfinite(row.ci_low) else None,
            fmt="o",
            color=colour,
            mfc="white" if row.is_seed else colour,
            capsize=3,
            ms=6,
        )
        ax.annotate(
            OUTCOME_WORDS.get(row.outcome, row.outcome),
            (1.0, y),
            xycoords=("axes fraction", "data"),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            color=colour,
            fontsize=9,
        )
        labels.append(f"{row.variant} (seed)" if row.is_seed else str(row.variant))
    ax.set_yticks(range(n_rows - 1, -1, -1), labels)
    ax.set_ylim(-0.7, n_rows - 0.1)
    arrow = "more alike →" if higher else "← more alike"
    ax.set_xlabel(f"{name} vs reference   ({arrow})")
    n_examples = reference_row.get("n_examples", np.nan)
    n_resamples = reference_row.get("n_resamples", np.nan)
    ax.set_title(
        title or f"{name}: N = {n_examples}, {n_resamples} bootstrap resamples", fontsize=10
    )
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.28), ncol=3, fontsize=8, frameon=False)
    ax.grid(axis="x", color="#d0d7de", lw=0.5)
    return fig


def to_data_uri(figure: FigureLike, dpi: int = 110) -> str:
    """A figure, a PNG file or PNG bytes as a ``data:image/png;base64,...`` URI.

    Args:
        figure: a matplotlib figure (closed after rendering), a path to a PNG, or PNG bytes.
        dpi: resolution of rendered figures.

    Returns:
        The data URI, embeddable in ``<img src=...>`` without any network or file access.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: a path or bytes that are not PNG.
    """
    if isinstance(figure, Figure):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        plt.close(figure)
        data = buffer.getvalue()
    elif isinstance(figure, bytes):
        data = figure
    else:
        data = Path(figure).read_bytes()
    if not data.startswith(b"\x89PNG"):
        raise ValueError(f"not a PNG image: {figure if not isinstance(figure, bytes) else 'bytes'}")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def embed_all(figures: Mapping[str, FigureLike] | None) -> list[dict[str, Any]]:
    """``[{"title", "src"}]`` for a mapping of titles to figures, in order."""
    return [{"title": title, "src": to_data_uri(fig)} for title, fig in (figures or {}).items()]

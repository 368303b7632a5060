"""Figures of word attributions: each model's top words side by side, and Jaccard against K."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from trusteq.characteristics.attribution_agreement import top_k_words  # noqa: E402


def top_words_figure(
    examples: Sequence[Mapping[str, object]],
    attributions: Mapping[str, np.ndarray],
    top_k: int = 5,
    title: str = "",
    max_words: int = 32,
) -> Figure:
    """Per example, a variants × words heat map of attributions with each model's top-k boxed.

    Colours are each model's attributions divided by its largest absolute value on that example
    (blue: supports the explained class, red: speaks against it), so models with different
    attribution scales share one colour range; the top-k words (ranking rule of
    :mod:`trusteq.characteristics.attribution_agreement`) are boxed and set in bold.

    Args:
        examples: per example, `words` (length W) and optionally `segments` (0/1 per word) and
            `label` (a caption).
        attributions: variant → shape `(n, W_max)` attributions of those examples (NaN padded).
        top_k: words boxed per model.
        title: figure title.
        max_words: words shown per example (longer examples are cut, with a note).
    """
    variants = list(attributions)
    widths = [min(len(ex["words"]), max_words) for ex in examples]  # type: ignore[arg-type]
    fig_width = max(6.0, 0.38 * max(widths, default=1) + 2.5)
    row_height = 0.3 * len(variants) + 1.5  # heat map + rotated word labels + caption
    fig, axes = plt.subplots(
        len(examples),
        1,
        figsize=(fig_width, row_height * max(1, len(examples)) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    image = None
    for ax, example, row, shown in zip(
        axes[:, 0], examples, range(len(examples)), widths, strict=True
    ):
        words = list(example["words"])[:shown]  # type: ignore[call-overload]
        grid = np.full((len(variants), shown), np.nan)
        for v, variant in enumerate(variants):
            values = np.asarray(attributions[variant][row], dtype=np.float64)[: len(words)]
            scale = np.nanmax(np.abs(values)) if np.any(np.isfinite(values)) else np.nan
            grid[v] = values / scale if scale and np.isfinite(scale) and scale > 0 else values
            for position in top_k_words(np.asarray(attributions[variant][row]), top_k):
                if position < shown:
                    ax.add_patch(
                        Rectangle((position - 0.5, v - 0.5), 1, 1, fill=False, lw=1.6, ec="black")
                    )
        image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
        ax.set_yticks(range(len(variants)), variants, fontsize=8)
        ax.set_xticks(range(shown), words, rotation=60, ha="right", fontsize=8)
        segments = list(example.get("segments") or [])  # type: ignore[call-overload]
        if segments and 1 in segments[:shown]:
            ax.axvline(segments.index(1) - 0.5, color="black", lw=2)
        cut = len(example["words"]) - shown  # type: ignore[arg-type]
        caption = str(example.get("label", ""))
        ax.set_title(caption + (f" (+{cut} words not shown)" if cut > 0 else ""), fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), shrink=0.5, label="attribution / max |attr.|")
    fig.suptitle(title or f"top-{top_k} words per model (boxed)", fontsize=10)
    return fig


def jaccard_vs_k_figure(
    k_values: Sequence[int],
    values: Mapping[str, Sequence[float]],
    floor: Sequence[float] | None,
    title: str,
) -> Figure:
    """Top-K Jaccard with the reference against K, one line per variant, and the noise floor.

    Args:
        k_values: the K.
        values: variant → Jaccard with the reference at each K.
        floor: the reference against itself under another explainer seed at each K, or None.
        title: figure title.
    """
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for variant, series in values.items():
        ax.plot(k_values, series, "o-", label=variant)
    if floor is not None:
        ax.plot(k_values, floor, "k--", label="noise floor (explainer seeds)")
    ax.set_xticks(list(k_values))
    ax.set_xlabel("K (top words)")
    ax.set_ylabel("top-K Jaccard with the reference")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig

"""The study report: one self-contained HTML file (Jinja2 template, plots as base64 PNG).

Opened from disk with no network: no scripts, no external styles, fonts or images. Sections in
order: the verdict table (variant × characteristic, colour + word, size and latency beside it),
the decision rule and the seed population, one forest plot per characteristic, trade-off plots,
reliability diagrams, OOD and attribution sections (figures and example tables), the pairwise
matrices, the full summary, and the exact command and config that reproduce the study.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from trusteq.characteristics.matrix import PairwiseResult
from trusteq.report.figures import (
    OUTCOME_COLOURS,
    OUTCOME_WORDS,
    FigureLike,
    embed_all,
    forest_plot,
    to_data_uri,
)
from trusteq.stats.verdict import VerdictResult

TEMPLATE = "report.html.j2"
#: Summary columns shown beside the verdict when present (size, latency, accuracy).
DEFAULT_SIDE_COLUMNS: tuple[str, ...] = (
    "size_mb",
    "params_m",
    "latency_ms",
    "ms_per_example",
    "accuracy",
)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("trusteq.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _number
    return env


def _number(value: Any, digits: int = 3) -> str:
    """Numbers for people: 3 decimals, ints as ints, NaN as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "—"
    if math.isinf(number):
        return "∞"
    if number.is_integer() and abs(number) >= 1000:
        return f"{int(number):,}"
    return f"{number:.{digits}f}"


def _count(value: Any) -> str:
    """A number of examples: a whole number with thousands separators (575, not 575.000)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number) or math.isinf(number):
        return _number(number)
    return f"{math.ceil(number):,}"


def _compact(value: Any) -> str:
    """Side columns (size, latency, accuracy): 4 significant digits."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "—" if math.isnan(number) else f"{number:.4g}"


def _summary_frame(summary: pd.DataFrame | None) -> pd.DataFrame | None:
    if summary is None:
        return None
    if "variant" in summary.columns:
        return summary.set_index("variant", drop=True)
    return summary


def _matrix_table(result: PairwiseResult) -> dict[str, Any]:
    rows = []
    for i, name in enumerate(result.variants):
        cells = []
        for j in range(len(result.variants)):
            value, low, high = result.value[i, j], result.ci_low[i, j], result.ci_high[i, j]
            interval = "" if np.isnan(low) else f" [{_number(low)}, {_number(high)}]"
            cells.append(_number(value) + interval)
        rows.append({"variant": name, "cells": cells})
    meta = result.metadata
    caption = (
        f"{result.name}: N = {meta.get('n_examples', '?')}, "
        f"{meta.get('n_resamples', '?')} resamples, "
        f"{'higher' if meta.get('higher_is_better', True) else 'lower'} = more alike"
    )
    return {
        "name": result.name,
        "variants": list(result.variants),
        "rows": rows,
        "caption": caption,
    }


def _frame_html(frame: pd.DataFrame) -> str:
    return frame.to_html(
        classes="data", border=0, na_rep="—", float_format=lambda x: f"{x:.4g}", escape=True
    )


def write_report(
    path: str | Path,
    *,
    study_name: str,
    verdicts: VerdictResult | pd.DataFrame,
    overall: pd.DataFrame | None = None,
    floor: pd.DataFrame | None = None,
    settings: Mapping[str, Any] | None = None,
    summary: pd.DataFrame | None = None,
    side_columns: Sequence[str] | None = None,
    pairwise: Mapping[str, PairwiseResult] | None = None,
    figures: Mapping[str, FigureLike] | None = None,
    reliability: Mapping[str, FigureLike] | None = None,
    ood: Mapping[str, FigureLike] | None = None,
    attribution: Mapping[str, FigureLike] | None = None,
    examples: Mapping[str, pd.DataFrame] | None = None,
    chance: Mapping[str, float] | None = None,
    notes: Sequence[str] = (),
    reference: str | None = None,
    command: str = "",
    config_yaml: str = "",
) -> Path:
    """Write the study report.

    Args:
        path: the HTML file to write (parent folders are created).
        study_name: shown in the title.
        verdicts: a :class:`~trusteq.stats.verdict.VerdictResult` (then ``overall``, ``floor``
            and ``settings`` default to its own), or its per-test table.
        overall: per-variant verdicts (``variant, verdict, ...``).
        floor: the seed pairs (``characteristic, a, b, value, ci_low, ci_high``).
        settings: the decision settings (alpha, family size, resamples, seeds...).
        summary: the study summary, one row per variant (a ``variant`` column or index).
        side_columns: summary columns shown beside the verdict (default: those of
            :data:`DEFAULT_SIDE_COLUMNS` present).
        pairwise: ``{name: PairwiseResult}`` matrices, shown as tables with intervals.
        figures: trade-off plots, ``{title: figure or PNG path}``.
        reliability: reliability diagrams (overlaid on the reference's by the caller).
        ood: OOD figures.
        attribution: attribution figures.
        examples: ``{title: table}`` of example sentences side by side (OOD, attributions).
        chance: ``{characteristic: chance level}`` drawn on its forest plot.
        notes: free-text lines shown under the verdict (e.g. machine-dependent results).
        reference: the reference's name (default: ``settings["reference"]``).
        command: the exact command that reproduces the study.
        config_yaml: the resolved config.

    Returns:
        ``path``.

    Raises:
        ValueError: the verdict table is empty.
    """
    if isinstance(verdicts, VerdictResult):
        table = verdicts.table
        overall = verdicts.overall if overall is None else overall
        floor = verdicts.floor if floor is None else floor
        settings = {**verdicts.settings, **(settings or {})}
    else:
        table = verdicts
    settings = dict(settings or {})
    if table.empty:
        raise ValueError("the verdict table is empty: nothing to report")
    reference = reference or settings.get("reference")
    summary_frame = _summary_frame(summary)
    if side_columns is None:
        side_columns = [
            c for c in DEFAULT_SIDE_COLUMNS if summary_frame is not None and c in summary_frame
        ]
    characteristics = list(dict.fromkeys(table["characteristic"]))
    variants = list(dict.fromkeys(table["variant"]))
    verdict_of = (
        {} if overall is None else dict(zip(overall["variant"], overall["verdict"], strict=True))
    )

    def side(variant: str) -> list[str]:
        if summary_frame is None or variant not in summary_frame.index:
            return ["—" for _ in side_columns]
        return [_compact(summary_frame.loc[variant, column]) for column in side_columns]

    rows = []
    if reference:
        rows.append({"variant": reference, "verdict": "reference", "kind": "reference"})
        rows[-1] |= {"side": side(reference), "cells": [None] * len(characteristics)}
        rows[-1]["n_diverging"] = 0
    for variant in variants:
        sub = table[table["variant"] == variant].set_index("characteristic")
        cells = []
        for name in characteristics:
            if name not in sub.index:
                cells.append(None)
                continue
            test = sub.loc[name]
            cells.append(
                {
                    "outcome": test["outcome"],
                    "word": OUTCOME_WORDS.get(test["outcome"], test["outcome"]),
                    "value": _number(test["value"]),
                    "interval": f"[{_number(test['ci_low'])}, {_number(test['ci_high'])}]",
                    "floor": f"{_number(test['floor_mean'])} "
                    f"({_number(test['floor_min'])}–{_number(test['floor_max'])})",
                    "title": (
                        f"gap {_number(test['gap'])} [{_number(test['gap_ci_low'])}, "
                        f"{_number(test['gap_ci_high'])}], margin {_number(test['margin'])} "
                        f"({test['margin_source']}); Holm p: diverges "
                        f"{_number(test['p_diverge_adj'], 4)}, within "
                        f"{_number(test['p_equiv_adj'], 4)}; n needed "
                        f"{_count(test['n_needed'])}; {test['source']}"
                    ),
                }
            )
        is_seed = bool(sub["is_seed"].iloc[0])
        rows.append(
            {
                "variant": variant,
                "verdict": verdict_of.get(variant, ""),
                "kind": "seed" if is_seed else "variant",
                "n_diverging": int((sub["outcome"] == "diverges").sum()),
                "side": side(variant),
                "cells": cells,
            }
        )

    forests = []
    for name in characteristics:
        sub = table[table["characteristic"] == name]
        fig = forest_plot(sub, floor, characteristic=name, chance=(chance or {}).get(name))
        first = sub.iloc[0]
        forests.append(
            {
                "name": name,
                "src": to_data_uri(fig),
                "direction": "higher" if bool(first["higher_is_better"]) else "lower",
                "source": first["source"],
                "inconclusive": [
                    {"variant": r.variant, "n_needed": _count(r.n_needed)}
                    for r in sub.itertuples()
                    if r.outcome == "inconclusive"
                ],
            }
        )

    floor_rows = []
    if floor is not None and not floor.empty:
        for row in floor.itertuples(index=False):
            floor_rows.append(
                {
                    "characteristic": row.characteristic,
                    "pair": f"{row.a} · {row.b}",
                    "value": _number(row.value),
                    "interval": f"[{_number(row.ci_low)}, {_number(row.ci_high)}]",
                }
            )
    detail_columns = [
        "variant",
        "characteristic",
        "value",
        "floor_mean",
        "margin",
        "margin_source",
        "gap",
        "gap_ci_low",
        "gap_ci_high",
        "p_diverge_adj",
        "p_equiv_adj",
        "outcome",
        "n_needed",
    ]
    details = table[[c for c in detail_columns if c in table.columns]].reset_index(drop=True)
    if "n_needed" in details:
        details["n_needed"] = details["n_needed"].map(_count)
    context = {
        "study_name": study_name,
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "settings": settings,
        "reference": reference,
        "characteristics": characteristics,
        "side_columns": list(side_columns),
        "rows": rows,
        "colours": OUTCOME_COLOURS,
        "words": OUTCOME_WORDS,
        "notes": list(notes),
        "forests": forests,
        "floor_rows": floor_rows,
        "details_html": _frame_html(details),
        "tradeoffs": embed_all(figures),
        "reliability": embed_all(reliability),
        "ood": embed_all(ood),
        "attribution": embed_all(attribution),
        "examples": [
            {"title": title, "html": _frame_html(frame)}
            for title, frame in (examples or {}).items()
        ],
        "matrices": [_matrix_table(result) for result in (pairwise or {}).values()],
        "summary_html": None if summary is None else _frame_html(summary),
        "command": command,
        "config_yaml": config_yaml,
    }
    html = _environment().get_template(TEMPLATE).render(**context)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path

"""The study's answer in the terminal: what `trusteq-study` / `trusteq-compare` print at the end.

Four `rich` tables, the answer last so that it sits just above the final lines:

1. the variants on the compared split (size, latency, accuracy, calibration), one row each;
2. divergence from the reference, one row per characteristic and one column per variant, each
   cell ``value [ci_low, ci_high]`` (variants as columns keep every header whole however many
   characteristics a study has);
3. the analyses' summary columns (OOD, attributions, attacks), laid out the same way;
4. the verdict per variant against the seed population: the overall verdict, the outcome counts
   and the diverging characteristics in full (wrapped, never cut).

Then where the full answer is: ``report.html`` (verdict table, forest plots, reliability
diagrams), ``summary.csv`` and the matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

#: Model facts, one row per variant (table 1).
FACT_COLUMNS = (
    "params_M",
    "nonzero_M",
    "size_MB",
    "ms_per_ex",
    "accuracy",
    "macro_f1",
    "ece_eq_mass",
    "ece_eq_width",
    "brier",
)
#: Summary columns that are neither facts, divergences nor analysis values.
_NOT_SHOWN = (
    "verdict",
    "beyond_noise",
    "description",
    "bits_per_weight",
    "linear_sparsity",
    "ex_per_s",
)
#: The outcome counts of the verdict table, in the order of the decision rule's words.
_COUNTS = (
    ("n_within_noise", "within noise"),
    ("n_more_alike", "more alike"),
    ("n_diverges", "diverges"),
    ("n_inconclusive", "undecided"),
)


def cell(row: pd.Series, column: str) -> str:
    """One value as printed: 3 decimals, its ``[ci_low, ci_high]`` when the row has them.

    Args:
        row: a summary row (`ComparisonResult.summary`), with optional ``<column>_lo`` /
            ``<column>_hi``.
        column: the column to format.

    Returns:
        ``"-"`` for NaN, ``"0.949 [0.94, 0.96]"`` with an interval, ``"123"`` for |x| >= 100,
        else the value's text.
    """
    value = row[column]
    if not isinstance(value, float):
        return str(value)
    if value != value:  # NaN
        return "-"
    text = f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    low, high = row.get(f"{column}_lo"), row.get(f"{column}_hi")
    if isinstance(low, float) and low == low and isinstance(high, float) and high == high:
        text += f" [{low:.2f}, {high:.2f}]"
    return text


def _by_variant(title: str, frame: pd.DataFrame, columns: Sequence[str]) -> Any:
    """One row per variant, one column per name in `columns`."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    table.add_column("variant", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right")
    for name, row in frame.iterrows():
        table.add_row(Text(str(name)), *(cell(row, c) for c in columns))
    return table


def _by_characteristic(
    title: str, frame: pd.DataFrame, columns: Sequence[str], width: int
) -> list[Any]:
    """One row per name in `columns`, one column per variant; as many tables as `width` needs.

    Every cell is printed whole: when the variants do not fit in `width` characters side by
    side, they are split over consecutive tables (the title says which part).
    """
    from rich.table import Table

    cells = {str(name): [cell(row, c) for c in columns] for name, row in frame.iterrows()}
    label_width = max([len(c) for c in columns] + [1]) + 4  # borders and padding
    widths = {name: max([len(name), *map(len, values)]) + 3 for name, values in cells.items()}
    groups: list[list[str]] = [[]]
    used = label_width
    for name in cells:
        if groups[-1] and used + widths[name] > width:
            groups.append([])
            used = label_width
        groups[-1].append(name)
        used += widths[name]
    tables = []
    for part, names in enumerate(groups, 1):
        suffix = f" ({part}/{len(groups)})" if len(groups) > 1 else ""
        table = Table(title=title + suffix, title_justify="left")
        table.add_column("", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right", no_wrap=True)
        for i, column in enumerate(columns):
            table.add_row(column, *(cells[name][i] for name in names))
        tables.append(table)
    return tables


def verdict_table(result: Any) -> Any:
    """The verdict per judged variant (seed replicates first), or None without verdicts.

    Args:
        result: a `trusteq.report.results.ComparisonResult` with `verdicts` (None when the study
            declares fewer than two seeds).
    """
    from rich.table import Table
    from rich.text import Text

    verdicts = result.verdicts
    if verdicts is None or verdicts.overall.empty:
        return None
    header, settings = result.header, verdicts.settings
    seeds = list(settings.get("seeds") or header.seeds)
    title = (
        f"'{header.name}': verdict per variant against the seed population {', '.join(seeds)} "
        f"(Holm over M = {settings.get('family_size', '?')} tests, alpha = "
        f"{settings.get('alpha', '?')}, {settings.get('n_resamples', '?')} resamples)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("variant", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for _, label in _COUNTS:
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("diverges on", overflow="fold", ratio=1)
    for _, row in verdicts.overall.iterrows():
        name = str(row["variant"])
        word = str(row["verdict"]).split(":", 1)[0]
        role = " (seed)" if name in seeds else ""
        counts = [f"{int(row[key])}/{int(row['n_characteristics'])}" for key, _ in _COUNTS]
        diverging = Text(str(row["diverges"]) or "-")
        table.add_row(Text(f"{name}{role}"), word, *counts, diverging)
    return table


def print_summary(
    result: Any, seconds: float, out_dir: Path, report: Path | None, console: Any = None
) -> None:
    """Print the four tables and where the rest is.

    Args:
        result: the `ComparisonResult`.
        seconds: wall seconds of the command.
        out_dir: the run's output folder (summary, matrices).
        report: the HTML report, or None when none was written.
        console: a `rich.console.Console` (default: 200 columns wide, so that a log file or a
            narrow terminal gets the same layout).
    """
    from rich.console import Console

    console = console or Console(width=200)
    frame, header = result.summary, result.header
    # Divergence columns come from what each pairwise characteristic declares.
    divergence = [
        c
        for c in dict.fromkeys(
            m.metadata["summary_column"]
            for m in result.pairwise.values()
            if m.metadata.get("summary_column")
        )
        if c in frame.columns
    ]
    skip = {*FACT_COLUMNS, *divergence, *_NOT_SHOWN}
    extra = [c for c in frame.columns if c not in skip and not c.endswith(("_lo", "_hi"))]
    facts = [c for c in FACT_COLUMNS if c in frame.columns]
    if facts:
        title = f"'{header.name}': the variants on split '{result.split}'"
        console.print(_by_variant(title, frame, facts))
    sections = (
        (
            f"'{header.name}': divergence from reference '{header.reference}' [95% paired-"
            f"bootstrap CI]; the noise floor is column '{header.noise_floor}'",
            divergence,
        ),
        (f"'{header.name}': analyses (OOD, attributions, attacks; intervals: summary.csv)", extra),
    )
    for title, columns in sections:
        if columns:
            for table in _by_characteristic(title, frame, columns, console.width):
                console.print(table)
    verdicts = verdict_table(result)
    if verdicts is not None:
        console.print(verdicts)
    else:
        console.print(
            "no verdicts: the study declares fewer than two seeds (study.seeds); the values above "
            "have no seed-to-seed noise floor to be read against"
        )
    console.print(f"finished in {seconds:.1f} s; tables and matrices in {out_dir}")
    if report is not None and report.is_file():
        console.print(f"study report (open in a browser): {report.resolve().as_uri()}")

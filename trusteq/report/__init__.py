"""The HTML study report: :func:`write_report` writes one self-contained file per study.

The verdict table comes first (:mod:`trusteq.stats.verdict`), then one forest plot per
characteristic (:func:`~trusteq.report.figures.forest_plot`), the caller's trade-off, reliability,
OOD and attribution figures, the pairwise matrices and the command and config that reproduce it.
"""

from __future__ import annotations

from trusteq.report.figures import OUTCOME_COLOURS, OUTCOME_WORDS, forest_plot, to_data_uri
from trusteq.report.html import DEFAULT_SIDE_COLUMNS, write_report

__all__ = [
    "DEFAULT_SIDE_COLUMNS",
    "OUTCOME_COLOURS",
    "OUTCOME_WORDS",
    "forest_plot",
    "to_data_uri",
    "write_report",
]

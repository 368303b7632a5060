"""Stage 3, compare: reads the cache through the study manifest, never runs a model.

`stage` computes characteristics and analyses; `view` reads entries; `imports` turns prediction
files written by any tool into entries and a manifest, so they compare like a trusteq study.
"""

from trusteq.compare.stage import (
    AlignmentError,
    ComparisonResult,
    build_characteristics,
    open_view,
    reliability_tables,
    run_compare,
    summary_table,
    write_results,
)
from trusteq.compare.view import CacheView

__all__ = [
    "AlignmentError",
    "CacheView",
    "ComparisonResult",
    "build_characteristics",
    "open_view",
    "reliability_tables",
    "run_compare",
    "summary_table",
    "write_results",
]

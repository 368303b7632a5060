"""Print the compression sweep's summary: size, latency, accuracy, calibration, divergence.

Reads the `summary.csv` a `trusteq-study` / `trusteq-compare` run wrote and adds, from the cached
outputs entries (no model runs), the latency measured at inference and the measured sparsity.

    .venv/bin/python experiments/compression_sweep/summary.py outputs/compression_sweep/<run>/
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from trusteq.study import Study

from trusteq.testing.tiny import compose

COLUMNS = {
    "size_MB": "size MB",
    "bits_per_weight": "bits/weight",
    "linear_sparsity": "linear sparsity",
    "params_M": "params M",
    "ms_per_example": "ms/example",
    "accuracy": "accuracy",
    "ece_eq_mass": "ECE (eq. mass)",
    "error_jaccard": "error Jaccard",
    "knn_k10": "kNN@10 agreement",
    "agreement": "pred. agreement",
    "beyond_noise": "beyond noise floor",
}


def main(run_dir: str, *overrides: str) -> str:
    """The Markdown summary of the run in `run_dir` (its `summary.csv` plus cached facts)."""
    summary = pd.read_csv(Path(run_dir) / "summary.csv", index_col="variant")
    study = Study(compose(["experiment=compression_sweep", *overrides]))
    for name in summary.index:
        _, meta = study.load_outputs(name, str(study.cfg.compare.split))
        stats, latency = meta["compression_stats"], meta.get("latency") or {}
        summary.loc[name, "ms_per_example"] = latency.get("ms_per_example")
        summary.loc[name, "linear_sparsity"] = stats.get("linear_sparsity")
        summary.loc[name, "bits_per_weight"] = stats["bits_per_weight"]
        device = latency.get("device", "?")
    for column in ("error_jaccard", "knn_k10"):
        summary[column] = [
            f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
            for v, lo, hi in zip(
                summary[column], summary[f"{column}_lo"], summary[f"{column}_hi"], strict=True
            )
        ]
    table = summary[list(COLUMNS)].rename(columns=COLUMNS).fillna("")
    return table.to_markdown(floatfmt=".3f") + f"\n\nlatency device: {device}\n"


if __name__ == "__main__":
    print(main(*sys.argv[1:]))

"""Re-measure every variant's latency back to back, interleaved, on one machine.

The latency in each outputs entry's `meta.json` is measured when that entry is made, possibly
minutes apart and under different load. On a shared machine that spread swamps the differences
between methods; this script loads every variant of the study (from the cache: nothing is
trained) and times one fixed batch per variant in turn, `rounds` times, so slow drifts in load hit
all variants alike. Reports the median and the interquartile range per variant.

    .venv/bin/python experiments/compression_sweep/latency.py [rounds] [hydra overrides...]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import torch
from trusteq.study import LATENCY_DEFAULTS, Study

from trusteq.models.latency import device_name, fixed_batch
from trusteq.testing.tiny import compose


def main(rounds: int = 15, *overrides: str) -> pd.DataFrame:
    """Variant → median and IQR of ms per example over `rounds` interleaved rounds."""
    study = Study(compose(["experiment=compression_sweep", *overrides]))
    settings = {**LATENCY_DEFAULTS, **(study.cfg.infer.get("latency") or {})}
    batch_size, seq_len = int(settings["batch_size"]), int(settings["seq_len"])
    models, batches = {}, {}
    for name in study.variants:
        model, tokenizer = study.load_model(name)
        models[name] = model.eval()
        split = study._tokenized(tokenizer, str(study.cfg.compare.split))
        batches[name] = fixed_batch(split, batch_size, seq_len)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for name, model in models.items():  # warm-up
            model(**batches[name])
        for _ in range(rounds):
            for name, model in models.items():
                started = time.perf_counter()
                model(**batches[name])
                seconds[name].append(time.perf_counter() - started)
    rows = {
        name: {
            "ms_per_example": 1000 * float(np.median(times)) / batch_size,
            "iqr_ms_per_example": 1000
            * float(np.subtract(*np.percentile(times, [75, 25])))
            / batch_size,
        }
        for name, times in seconds.items()
    }
    table = pd.DataFrame(rows).T
    table.attrs["device"] = device_name(torch.device("cpu"))
    return table


if __name__ == "__main__":
    result = main(int(sys.argv[1]) if len(sys.argv) > 1 else 15, *sys.argv[2:])
    print(result.to_markdown(floatfmt=".2f"))
    print(f"\ndevice: {result.attrs['device']}")

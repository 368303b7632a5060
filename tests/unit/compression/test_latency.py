"""Latency measurement (trusteq.models.latency): fixed input, median of repeats, device named."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from trusteq.models.latency import fixed_batch, measure_latency


def test_fixed_batch_has_the_requested_shape(tiny_split):
    batch = fixed_batch(tiny_split, batch_size=70, seq_len=12)  # more rows than the split
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (70, 12)
    assert bool(batch["attention_mask"].all())
    assert torch.equal(batch["input_ids"][0], batch["input_ids"][64])  # rows repeat
    assert batch["token_type_ids"].shape == (70, 12)


def test_latency_is_the_median_of_timed_runs(tiny_model_dir, tiny_split, monkeypatch):
    import trusteq.models.latency as latency

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    clock = iter([0.0, 0.0, 0.0, 0.1, 1.0, 1.3, 2.0, 2.2])  # warm-up, then runs of .1, .3, .2 s
    monkeypatch.setattr(latency.time, "perf_counter", lambda: next(clock))
    result = measure_latency(model, tiny_split, batch_size=4, seq_len=8, repeats=3, warmup=1)
    assert result["ms_per_batch"] == pytest.approx(200.0)
    assert result["ms_per_example"] == pytest.approx(50.0)
    assert result["examples_per_second"] == pytest.approx(20.0)
    assert result["device"] == f"cpu ({torch.get_num_threads()} threads)"
    assert (result["batch_size"], result["seq_len"], result["repeats"]) == (4, 8, 3)

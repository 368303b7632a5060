"""Inference latency at a fixed batch size and sequence length (a runtime fact, never a key).

Every variant is timed on the same input: the first `batch_size` examples of the split, cut or
padded to exactly `seq_len` tokens with every position attended (so the cost is that of full-length
inputs whatever the data), after `warmup` untimed runs; the median of `repeats` timed runs is
reported, with the device and thread count, because CPU timings mean nothing without them.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn

from trusteq.models.encoding import TokenizedSplit


def fixed_batch(data: TokenizedSplit, batch_size: int, seq_len: int) -> dict[str, torch.Tensor]:
    """`batch_size` rows of exactly `seq_len` tokens, all attended.

    Returns:
        `input_ids`, `attention_mask` (and `token_type_ids` when the tokenizer makes them), each
        shape `(B, T)` with B = batch_size, T = seq_len; rows repeat when the split is smaller.
    """
    input_ids = torch.full((batch_size, seq_len), data.pad_token_id, dtype=torch.long)
    for row in range(batch_size):
        tokens = data.input_ids[row % len(data)][:seq_len]
        input_ids[row, : len(tokens)] = torch.tensor(tokens)
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    if data.token_type_ids is not None:
        batch["token_type_ids"] = torch.zeros_like(input_ids)
    return batch


def device_name(device: torch.device) -> str:
    """`cpu (2 threads)` or the CUDA device's name."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def measure_latency(
    model: nn.Module,
    data: TokenizedSplit,
    batch_size: int = 32,
    seq_len: int = 64,
    repeats: int = 10,
    warmup: int = 2,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Median forward-pass time of `model` on one fixed batch.

    Args:
        model: any classifier called as `model(input_ids=..., attention_mask=...)`.
        data: the split the fixed batch is cut from.
        batch_size: examples per forward pass.
        seq_len: tokens per example.
        repeats: timed runs (the median is reported), >= 1.
        warmup: untimed runs first (allocations, kernel selection, lazy sessions).
        device: where to run; the model is moved there.

    Returns:
        `ms_per_example`, `ms_per_batch` (median, milliseconds), `examples_per_second`
        (throughput at that median), `batch_size`, `seq_len`, `repeats`, `device`.
    """
    device = torch.device(device)
    model = model.to(device).eval()
    batch = {k: v.to(device) for k, v in fixed_batch(data, batch_size, seq_len).items()}

    def run() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        model(**batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    with torch.inference_mode():
        for _ in range(warmup):
            run()
        seconds = statistics.median(run() for _ in range(max(1, repeats)))
    return {
        "ms_per_example": 1000.0 * seconds / batch_size,
        "ms_per_batch": 1000.0 * seconds,
        "examples_per_second": batch_size / seconds,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "repeats": repeats,
        "device": device_name(device),
    }

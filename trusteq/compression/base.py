"""Compression methods: each turns a model into a (smaller) model.

A variant applies a sequence of methods, in order, either to the pretrained backbone before
fine-tuning (e.g. layer dropping) or to another variant's fine-tuned model (e.g. int8 quantization,
magnitude pruning). The order and every parameter are part of the variant's cache key.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


class CompressionConfigError(ValueError):
    """A compression setting is invalid; the message names the field and the fix."""


class Compression:
    """Base class. Subclasses store and validate parameters in `__init__` and implement `apply`."""

    def apply(self, model: nn.Module) -> nn.Module:
        """Return the compressed model (may modify `model` in place)."""
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """Parameters that define the result (goes into cache keys)."""
        params = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {"method": type(self).__name__, **params}


class NoCompression(Compression):
    """The model unchanged."""

    def apply(self, model: nn.Module) -> nn.Module:
        return model


@dataclass(frozen=True)
class CompressionStats:
    """Size facts of a model as it would ship.

    Attributes:
        parameters: number of weight and bias elements (packed int8 weights counted by element).
        nonzero_parameters: elements that are not exactly zero.
        sparsity: 1 - nonzero / parameters, in [0, 1].
        size_mb: serialized `state_dict` size in MB (10^6 bytes), as `torch.save` writes it.
        bits_per_weight: 8 * serialized bytes / parameters.
    """

    parameters: int
    nonzero_parameters: int
    sparsity: float
    size_mb: float
    bits_per_weight: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _as_float(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.dequantize() if tensor.is_quantized else tensor


def _tensors(model: nn.Module) -> list[torch.Tensor]:
    """Every weight and bias tensor, including packed dynamic-int8 linear weights."""
    tensors: list[torch.Tensor] = []
    for name, value in model.state_dict().items():
        if name.endswith((".scale", ".zero_point")):  # quantization metadata, not weights
            continue
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_quantized):
            tensors.append(_as_float(value))
        elif isinstance(
            value, tuple
        ):  # packed params of a dynamic-quantized Linear: (weight, bias)
            tensors.extend(_as_float(t) for t in value if isinstance(t, torch.Tensor))
    return tensors


def compression_stats(model: nn.Module) -> CompressionStats:
    """Measure parameters, non-zero parameters, sparsity and serialized size of `model`.

    Buffers such as position ids are excluded from counts (integers) but, like in a shipped file,
    included in the serialized size.
    """
    tensors = _tensors(model)
    parameters = int(sum(t.numel() for t in tensors))
    nonzero = int(sum(int(torch.count_nonzero(t)) for t in tensors))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    size = buffer.getbuffer().nbytes
    return CompressionStats(
        parameters=parameters,
        nonzero_parameters=nonzero,
        sparsity=1.0 - nonzero / max(parameters, 1),
        size_mb=size / 1e6,
        bits_per_weight=8.0 * size / max(parameters, 1),
    )

"""Post-training dynamic int8 quantization of linear layers (torch.ao).

Weights of every `nn.Linear` are stored as int8 with a per-tensor scale; activations are quantized
on the fly at inference (Jacob et al. 2018; PyTorch dynamic quantization). CPU only.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from trusteq.compression.base import Compression, CompressionConfigError, CompressionContext


class DynamicInt8Quantization(Compression):
    """Dynamic int8 quantization of `nn.Linear` weights.

    Args:
        backend: quantized engine (`x86`, `fbgemm`, `qnnpack`, `onednn`); must be supported here.

    Raises:
        CompressionConfigError: the backend is not among
            `torch.backends.quantized.supported_engines`.
    """

    requires_cpu = True  # dynamic int8 kernels exist for CPU only
    final = True  # packed int8 weights: no further step, no fine-tuning

    def __init__(self, backend: str = "x86") -> None:
        supported = list(torch.backends.quantized.supported_engines)
        if backend not in supported:
            raise CompressionConfigError(
                f"compression.backend={backend!r} is not available in this torch build; "
                f"supported engines: {supported}. Fix: set compression.backend to one of them."
            )
        self.backend = backend

    def apply(self, model: nn.Module, context: CompressionContext | None = None) -> nn.Module:
        torch.backends.quantized.engine = self.backend
        model = model.to("cpu").eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)

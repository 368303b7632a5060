"""Compression methods: each turns a model into a (smaller) model.

A variant applies a sequence of methods, in order, either to the pretrained backbone before
fine-tuning (e.g. layer dropping) or to another variant's fine-tuned model (e.g. int8 quantization,
magnitude pruning). The order and every parameter are part of the variant's cache key.

The interface is deliberately small:

- `apply(model, context=None)` returns the compressed model. Most methods ignore `context`; a
  method that needs data (head importance, static-quantization calibration) sets
  `requires_data = True` and reads the tokenised calibration split from the `CompressionContext`.
- Class flags tell the study how the result may be used: `requires_cpu` (CPU-only kernels),
  `final` (the result accepts no further step and no fine-tuning: quantized models),
  `pins_zeros` (zeros it creates must survive later fine-tuning: unstructured pruning),
  `objective` (the step changes the training objective instead of the model: distillation).
- `check(architecture)` validates the parameters against the model's shape at config time and
  returns the shape after the step, so that `build_variants` fails before anything is trained.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from trusteq.models.encoding import TokenizedSplit


class CompressionConfigError(ValueError):
    """A compression setting is invalid; the message names the field and the fix."""


@dataclass(frozen=True)
class Architecture:
    """The shape facts a compression step is validated against at config time.

    Attributes:
        num_layers: transformer layers.
        num_heads: attention heads per layer in the unpruned model.
        total_heads: attention heads left over all layers (after head pruning).
    """

    num_layers: int
    num_heads: int
    total_heads: int

    @classmethod
    def from_config(cls, config: Any) -> Architecture | None:
        """Read layers and heads from a `transformers` config; None when it has neither."""
        layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None)
        heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", None)
        if not layers or not heads:
            return None
        pruned = sum(len(v) for v in (getattr(config, "pruned_heads", None) or {}).values())
        return cls(int(layers), int(heads), int(layers) * int(heads) - pruned)


@dataclass
class CompressionContext:
    """What a data-dependent method may use (see `Compression.requires_data`).

    Attributes:
        calibration: the tokenised validation split (labels included), in the study's
            `max_length`; methods take the first batches of `calibration_loader`.
        seed: the variant's seed, for anything random.
    """

    calibration: TokenizedSplit
    seed: int = 0

    def calibration_loader(self, batch_size: int) -> Any:
        """Length-sorted batches of the calibration split (dynamic padding).

        The batch size shapes the result (how many examples, how they are grouped), so it is a
        parameter of the method that asks, and part of its identity, never a runtime setting.
        """
        from trusteq.models.encoding import inference_loader

        return inference_loader(self.calibration, batch_size)


class Compression:
    """Base class. Subclasses store and validate parameters in `__init__` and implement `apply`.

    Constructors raise `CompressionConfigError` naming the field (`compression.<field>`) for a
    value that can never work; `check` raises it for a value that cannot work on this model.
    """

    requires_data: ClassVar[bool] = False
    requires_cpu: ClassVar[bool] = False
    final: ClassVar[bool] = False
    pins_zeros: ClassVar[bool] = False
    objective: ClassVar[bool] = False

    def apply(self, model: nn.Module, context: CompressionContext | None = None) -> nn.Module:
        """Return the compressed model (may modify `model` in place).

        Args:
            model: a `...ForSequenceClassification` model on CPU.
            context: calibration data; given to every method, needed by those with
                `requires_data`.
        """
        raise NotImplementedError

    def check(self, architecture: Architecture) -> Architecture:
        """Validate against the model's shape; return the shape after this step.

        Raises:
            CompressionConfigError: the step cannot be applied to a model of this shape.
        """
        return architecture

    def identity(self) -> dict[str, Any]:
        """Parameters that define the result (goes into cache keys)."""
        params = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {"method": type(self).__name__, **params}


class NoCompression(Compression):
    """The model unchanged."""

    def apply(self, model: nn.Module, context: CompressionContext | None = None) -> nn.Module:
        return model


def require_context(
    method: Compression, context: CompressionContext | None, batch_size: int
) -> Any:
    """The calibration loader of `context`, or a clear error when a data-free call was made."""
    if context is None:
        raise CompressionConfigError(
            f"{type(method).__name__} needs calibration data: call apply(model, context) with a "
            "CompressionContext (the study does this for every step with requires_data)."
        )
    return context.calibration_loader(batch_size)


@dataclass(frozen=True)
class CompressionStats:
    """Size facts of a model as it would ship.

    Attributes:
        parameters: number of weight and bias elements (packed int8 weights counted by element).
        nonzero_parameters: elements that are not exactly zero.
        sparsity: 1 - nonzero / parameters, in [0, 1], over all weights (embeddings included).
        linear_sparsity: fraction of exact zeros among the 2-D weights of linear layers (the pool
            magnitude pruning draws from), in [0, 1].
        size_mb: serialized size in MB (10^6 bytes): the `state_dict` as `torch.save` writes it,
            or the `.onnx` file for ONNX Runtime models.
        bits_per_weight: 8 * serialized bytes / parameters.
        format: `torch` or `onnx`.
    """

    parameters: int
    nonzero_parameters: int
    sparsity: float
    size_mb: float
    bits_per_weight: float
    linear_sparsity: float = 0.0
    format: str = "torch"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_float(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.dequantize() if tensor.is_quantized else tensor


def _tensors(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Every weight and bias tensor by name, including packed dynamic-int8 linear weights."""
    tensors: list[tuple[str, torch.Tensor]] = []
    for name, value in model.state_dict().items():
        if name.endswith((".scale", ".zero_point")):  # quantization metadata, not weights
            continue
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_quantized):
            tensors.append((name, _as_float(value)))
        elif isinstance(value, tuple):  # packed params of a dynamic-quantized Linear: (w, b)
            tensors.extend(
                (f"{name}.{i}", _as_float(t))
                for i, t in enumerate(value)
                if isinstance(t, torch.Tensor)
            )
    return tensors


def _linear_weights(model: nn.Module) -> list[torch.Tensor]:
    weights = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            weights.append(module.weight.detach())
        elif hasattr(module, "_packed_params") and callable(getattr(module, "weight", None)):
            weights.append(_as_float(module.weight()))  # torch.ao dynamic-quantized Linear
    return weights


def zero_fraction(tensors: list[torch.Tensor]) -> float:
    """Fraction of exact zeros over all elements of `tensors`, in [0, 1] (0 when empty)."""
    total = sum(t.numel() for t in tensors)
    zeros = sum(t.numel() - int(torch.count_nonzero(t)) for t in tensors)
    return zeros / total if total else 0.0


def compression_stats(model: nn.Module) -> CompressionStats:
    """Measure parameters, non-zero parameters, sparsity and serialized size of `model`.

    Buffers such as position ids are excluded from counts (integers) but, like in a shipped file,
    included in the serialized size. A model that ships as something other than a `state_dict`
    (an ONNX Runtime model) measures itself through its `shipped_stats()` method.
    """
    if callable(getattr(model, "shipped_stats", None)):
        return model.shipped_stats()
    tensors = [t for _, t in _tensors(model)]
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
        linear_sparsity=zero_fraction(_linear_weights(model)),
    )

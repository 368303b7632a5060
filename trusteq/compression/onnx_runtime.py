"""Export to ONNX and int8 quantization with ONNX Runtime: what people deploy on CPU.

The fine-tuned model is exported with the TorchScript-based exporter (`torch.onnx.export(...,
dynamo=False)`: the dynamo exporter would need `onnxscript`), with dynamic batch and sequence
axes and two kinds of outputs: `logits (B, C)` and every hidden layer `hidden_<l> (B, T, D)`, so
the cached embeddings can come from any layer. It is then quantized by ONNX Runtime:

- `dynamic`: int8 weights of every MatMul (symmetric, so pruned zeros stay zero), activations
  quantized on the fly per batch (`onnxruntime.quantization.quantize_dynamic`; the same scheme as
  PyTorch's dynamic quantization, Jacob et al. 2018, arXiv 1712.05877);
- `static`: int8 weights and activations of every MatMul/Gemm in QDQ format, activation ranges
  calibrated once on validation batches (`quantize_static` with a calibration reader);
- `none`: the fp32 ONNX graph (the deployment baseline without quantization).

The result is an `OnnxSequenceClassifier`: an `nn.Module` that runs an ONNX Runtime session and
answers like a `transformers` classifier (`.logits`, `.hidden_states`), so the predict path is
unchanged. It ships as the `.onnx` file, whose size is the size on disk.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trusteq.compression.base import (
    Compression,
    CompressionConfigError,
    CompressionContext,
    CompressionStats,
    require_context,
)

log = logging.getLogger(__name__)

_MODES = ("dynamic", "static", "none")
_CALIBRATION = ("minmax", "entropy", "percentile")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class _Exportable(nn.Module):
    """Flattens a classifier's outputs into `(logits, hidden_0, ..., hidden_L)` for export."""

    def __init__(self, model: nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(
            **dict(zip(self.input_names, inputs, strict=True)), output_hidden_states=True
        )
        return (outputs.logits, *outputs.hidden_states)


def _input_names(model: nn.Module) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    return [name for name in _INPUTS if name in accepted]


def _example_inputs(input_names: list[str]) -> tuple[torch.Tensor, ...]:
    # Two rows, the second padded: tracing must see a real attention mask, not a shortcut.
    input_ids = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 5, 6, 3, 0, 0]])
    tensors = {
        "input_ids": input_ids,
        "attention_mask": (input_ids != 0).long(),
        "token_type_ids": torch.zeros_like(input_ids),
    }
    return tuple(tensors[name] for name in input_names)


def export_onnx(model: nn.Module, path: Path, opset: int = 17) -> list[str]:
    """Export a `...ForSequenceClassification` model to `path`; returns its input names.

    Outputs: `logits` `(B, C)` and `hidden_0` … `hidden_L` `(B, T, D)`; batch and sequence axes
    are dynamic.
    """
    model = model.to("cpu").eval()
    input_names = _input_names(model)
    num_layers = int(getattr(model.config, "num_hidden_layers", None) or model.config.n_layers)
    output_names = ["logits", *(f"hidden_{layer}" for layer in range(num_layers + 1))]
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    axes |= {"logits": {0: "batch"}} | {n: {0: "batch", 1: "tokens"} for n in output_names[1:]}
    wrapper = _Exportable(model, input_names).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            _example_inputs(input_names),
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    model.eval()  # the exporter restores the wrapper's (training) mode on its children
    return input_names


class _CalibrationReader:
    """`onnxruntime.quantization.CalibrationDataReader` over tokenised batches."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    # onnxruntime.quantization warns on the root logger that shape pre-processing was skipped
    # (its symbolic shape inference does not complete on traced BERT graphs).
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class OnnxSequenceClassifier(nn.Module):
    """An ONNX Runtime model that answers like a `transformers` sequence classifier.

    `forward(input_ids, attention_mask, token_type_ids, output_hidden_states)` returns a
    `SequenceClassifierOutput` with `logits` `(B, C)` and, on request, `hidden_states`
    (L + 1 tensors `(B, T, D)`). Runs on CPU with as many intra-op threads as torch uses.

    Args:
        onnx_bytes: the serialized `.onnx` model (what ships).
        config: the source model's `transformers` config (labels, layers).
        description: how it was made (`dynamic int8`, ...), for logs.
    """

    def __init__(self, onnx_bytes: bytes, config: Any, description: str = "") -> None:
        super().__init__()
        self.onnx_bytes = onnx_bytes
        self.config = config
        self.description = description
        self._session: Any = None

    @property
    def session(self) -> Any:
        """The ONNX Runtime inference session, built on first use."""
        if self._session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(
                self.onnx_bytes, options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        **unused: Any,
    ) -> Any:
        from transformers.modeling_outputs import SequenceClassifierOutput

        given = {
            "input_ids": input_ids,
            "attention_mask": attention_mask
            if attention_mask is not None
            else torch.ones_like(input_ids),
            "token_type_ids": token_type_ids
            if token_type_ids is not None
            else torch.zeros_like(input_ids),
        }
        feeds = {
            node.name: given[node.name].detach().cpu().numpy().astype(np.int64)
            for node in self.session.get_inputs()
        }
        wanted = ["logits"] + (
            [o.name for o in self.session.get_outputs()[1:]] if output_hidden_states else []
        )
        outputs = self.session.run(wanted, feeds)
        return SequenceClassifierOutput(
            logits=torch.from_numpy(outputs[0]),
            hidden_states=tuple(torch.from_numpy(h) for h in outputs[1:]) or None,
        )

    def save(self, path: str | Path) -> Path:
        """Write the `.onnx` file; returns its path."""
        path = Path(path)
        path.write_bytes(self.onnx_bytes)
        return path

    def shipped_stats(self) -> CompressionStats:
        """Parameters, zeros and size of the `.onnx` file (see `onnx_stats`)."""
        return onnx_stats(self.onnx_bytes)


def onnx_stats(onnx_bytes: bytes) -> CompressionStats:
    """Size facts of a serialized ONNX model.

    Parameters are the elements of every weight initializer with at least one dimension (float,
    int8 or uint8), without quantization scales and zero points. `linear_sparsity` counts exact
    zeros (in the stored integers for quantized weights: symmetric int8 keeps zero at 0) among the
    2-D weights that do not feed a `Gather` (embedding tables do).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def feeds_gather(name: str) -> bool:
        for node in consumers.get(name, []):
            if node.op_type == "Gather":
                return True
            if node.op_type == "DequantizeLinear" and feeds_gather(node.output[0]):
                return True
        return False

    weight_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    parameters = nonzero = linear_total = linear_zeros = 0
    for initializer in model.graph.initializer:
        if initializer.data_type not in weight_types or not initializer.dims:
            continue
        if initializer.name.endswith(("_scale", "_zero_point")):
            continue
        values = numpy_helper.to_array(initializer)
        zeros = int(values.size - np.count_nonzero(values))
        parameters += values.size
        nonzero += values.size - zeros
        if values.ndim == 2 and not feeds_gather(initializer.name):
            linear_total += values.size
            linear_zeros += zeros
    size = len(onnx_bytes)
    return CompressionStats(
        parameters=int(parameters),
        nonzero_parameters=int(nonzero),
        sparsity=1.0 - nonzero / max(parameters, 1),
        size_mb=size / 1e6,
        bits_per_weight=8.0 * size / max(parameters, 1),
        linear_sparsity=linear_zeros / linear_total if linear_total else 0.0,
        format="onnx",
    )


class OnnxRuntimeQuantization(Compression):
    """Export to ONNX, then quantize with ONNX Runtime (`dynamic`, `static` or `none`).

    Args:
        quantization: `dynamic` (int8 weights, activations quantized per batch), `static`
            (int8 weights and activations, ranges calibrated on validation batches) or `none`
            (fp32 ONNX).
        per_channel: one weight scale per output channel instead of per tensor.
        calibration_batches: validation batches for `static` calibration, >= 1.
        calibration_batch_size: examples per calibration batch, >= 1.
        calibration_method: `minmax`, `entropy` or `percentile` (`static` only).
        opset: ONNX opset of the export.

    Raises:
        CompressionConfigError: an unknown mode or calibration method, or `onnx` /
            `onnxruntime` missing (the backend must exist at config time).
    """

    requires_cpu = True  # the session runs on ONNX Runtime's CPU provider
    final = True  # an ONNX graph: no further torch step, no fine-tuning

    def __init__(
        self,
        quantization: str = "dynamic",
        per_channel: bool = False,
        calibration_batches: int = 8,
        calibration_batch_size: int = 64,
        calibration_method: str = "minmax",
        opset: int = 17,
    ) -> None:
        if quantization not in _MODES:
            raise CompressionConfigError(
                f"compression.quantization={quantization!r} is not one of {_MODES}."
            )
        if calibration_method not in _CALIBRATION:
            raise CompressionConfigError(
                f"compression.calibration_method={calibration_method!r} is not one of "
                f"{_CALIBRATION}."
            )
        for field, value in (
            ("calibration_batches", calibration_batches),
            ("calibration_batch_size", calibration_batch_size),
        ):
            if int(value) < 1:
                raise CompressionConfigError(f"compression.{field}={value!r} must be >= 1.")
        missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise CompressionConfigError(
                f"compression.quantization={quantization!r} needs the ONNX Runtime backend, but "
                f"{missing} is not installed. Fix: pip install onnx onnxruntime."
            )
        self.quantization = quantization
        self.per_channel = bool(per_channel)
        self.calibration_batches = int(calibration_batches)
        self.calibration_batch_size = int(calibration_batch_size)
        self.calibration_method = calibration_method
        self.opset = int(opset)

    @property
    def requires_data(self) -> bool:  # type: ignore[override]
        return self.quantization == "static"

    def apply(self, model: nn.Module, context: CompressionContext | None = None) -> nn.Module:
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_dynamic,
            quantize_static,
        )

        with tempfile.TemporaryDirectory(prefix="trusteq-onnx-") as tmp:
            fp32 = Path(tmp) / "model.onnx"
            input_names = export_onnx(model, fp32, self.opset)
            result = fp32
            if self.quantization != "none":
                result = Path(tmp) / f"model.{self.quantization}-int8.onnx"
            with _quiet_root_logger():
                if self.quantization == "dynamic":
                    quantize_dynamic(
                        fp32,
                        result,
                        per_channel=self.per_channel,
                        weight_type=QuantType.QInt8,
                    )
                elif self.quantization == "static":
                    loader = require_context(self, context, self.calibration_batch_size)
                    batches = [
                        {name: batch[name].numpy() for name in input_names}
                        for _, batch in zip(range(self.calibration_batches), loader, strict=False)
                    ]
                    quantize_static(
                        fp32,
                        result,
                        _CalibrationReader(batches),
                        quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul", "Gemm"],
                        per_channel=self.per_channel,
                        activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8,
                        calibrate_method={
                            "minmax": CalibrationMethod.MinMax,
                            "entropy": CalibrationMethod.Entropy,
                            "percentile": CalibrationMethod.Percentile,
                        }[self.calibration_method],
                    )
            onnx_bytes = result.read_bytes()
        label = "fp32" if self.quantization == "none" else f"{self.quantization} int8"
        log.info("ONNX Runtime %s model: %.2f MB", label, len(onnx_bytes) / 1e6)
        return OnnxSequenceClassifier(onnx_bytes, model.config, description=f"onnx {label}")

"""Layer dropping: keep a subset of a transformer's layers.

Sajjad et al. 2023, "On the effect of dropping layers of pre-trained transformer models", Computer
Speech & Language 77.

Applied to the pretrained backbone before fine-tuning (the paper's "top-layer dropping" keeps the
bottom layers).
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from trusteq.compression.base import (
    Architecture,
    Compression,
    CompressionConfigError,
    CompressionContext,
)

_STRATEGIES = ("bottom", "top", "alternate")


def layer_list(model: nn.Module) -> tuple[nn.Module, str]:
    """The module holding the transformer blocks and the attribute name of its ModuleList."""
    base = getattr(model, model.base_model_prefix) if hasattr(model, "base_model_prefix") else model
    for owner_name, list_name in (("encoder", "layer"), ("transformer", "layer")):
        owner = getattr(base, owner_name, None)
        if owner is not None and isinstance(getattr(owner, list_name, None), nn.ModuleList):
            return owner, list_name
    raise CompressionConfigError(
        f"layer dropping does not know where {type(model).__name__} keeps its layers "
        "(looked for encoder.layer and transformer.layer)."
    )


class LayerDrop(Compression):
    """Keep `num_layers` transformer layers chosen by `keep`.

    Args:
        num_layers: how many layers remain, >= 1.
        keep: `bottom` (drop the top layers), `top` (drop the bottom layers) or `alternate`
            (every other layer, starting from the first, then trimmed to `num_layers`; the
            student initialisation of DistilBERT, Sanh et al. 2019, arXiv 1910.01108).

    Raises:
        CompressionConfigError: num_layers < 1, an unknown strategy, or (on apply) num_layers larger
            than the model's depth.
    """

    def __init__(self, num_layers: int = 3, keep: str = "bottom") -> None:
        if int(num_layers) < 1:
            raise CompressionConfigError(
                f"compression.num_layers={num_layers!r}: at least one layer must remain. "
                "Fix: compression.num_layers>=1."
            )
        if keep not in _STRATEGIES:
            raise CompressionConfigError(f"compression.keep={keep!r} is not one of {_STRATEGIES}.")
        self.num_layers = int(num_layers)
        self.keep = keep

    def kept_indices(self, depth: int) -> list[int]:
        """Indices of the layers kept out of `depth`."""
        if self.num_layers > depth:
            raise CompressionConfigError(
                f"compression.num_layers={self.num_layers} exceeds the model's {depth} layers. "
                f"Fix: compression.num_layers<={depth}."
            )
        if self.keep == "bottom":
            return list(range(self.num_layers))
        if self.keep == "top":
            return list(range(depth - self.num_layers, depth))
        every_other = list(range(0, depth, 2))
        if self.num_layers > len(every_other):
            raise CompressionConfigError(
                f"compression.num_layers={self.num_layers} with compression.keep=alternate: a "
                f"{depth}-layer model has only {len(every_other)} alternate layers. Fix: "
                f"compression.num_layers<={len(every_other)} or another compression.keep."
            )
        return every_other[: self.num_layers]

    def check(self, architecture: Architecture) -> Architecture:
        kept = len(self.kept_indices(architecture.num_layers))
        total = round(architecture.total_heads * kept / architecture.num_layers)
        return replace(architecture, num_layers=kept, total_heads=total)

    def apply(self, model: nn.Module, context: CompressionContext | None = None) -> nn.Module:
        owner, list_name = layer_list(model)
        layers = getattr(owner, list_name)
        kept = self.kept_indices(len(layers))
        setattr(owner, list_name, nn.ModuleList([layers[i] for i in kept]))
        config = getattr(model, "config", None)
        if config is not None:
            for attr in ("num_hidden_layers", "n_layers"):
                if hasattr(config, attr):
                    setattr(config, attr, len(kept))
        return model

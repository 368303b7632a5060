"""Global unstructured magnitude pruning (L1) of a transformer's linear weights.

All encoder and head `nn.Linear` weights compete in one pool: the `sparsity` fraction with the
smallest absolute value is set to zero (Han et al. 2015, "Learning both Weights and Connections";
global variant as in Frankle & Carbin 2019). Embeddings and biases are not pruned. The mask is made
permanent, so the model is an ordinary dense model with zeros.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune

from trusteq.compression.base import Compression, CompressionConfigError


class GlobalMagnitudePruning(Compression):
    """Zero the `sparsity` fraction of linear weights with the smallest magnitude, globally.

    Args:
        sparsity: fraction of prunable weights to zero, in [0, 1).

    Raises:
        CompressionConfigError: sparsity outside [0, 1).
    """

    def __init__(self, sparsity: float = 0.5) -> None:
        if not 0.0 <= float(sparsity) < 1.0:
            raise CompressionConfigError(
                f"compression.sparsity={sparsity!r} must be in [0, 1): it is the fraction of "
                "linear weights set to zero. Fix: e.g. compression.sparsity=0.5."
            )
        self.sparsity = float(sparsity)

    def apply(self, model: nn.Module) -> nn.Module:
        targets = [
            (module, "weight") for module in model.modules() if isinstance(module, nn.Linear)
        ]
        if not targets or self.sparsity == 0.0:
            return model
        prune.global_unstructured(
            targets, pruning_method=prune.L1Unstructured, amount=self.sparsity
        )
        for module, name in targets:
            prune.remove(module, name)
        return model

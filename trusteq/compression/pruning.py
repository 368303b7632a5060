"""Global unstructured magnitude pruning (L1) of a transformer's linear weights.

The weights of the encoder's `nn.Linear` layers compete in one pool: the `sparsity` fraction with
the smallest absolute value is set to zero (Han et al. 2015, "Learning both Weights and
Connections", arXiv 1506.02626; global variant as in Frankle & Carbin 2019, arXiv 1803.03635; the
encoder's weight matrices, as in Chen et al. 2020, "The Lottery Ticket Hypothesis for Pre-trained
BERT Networks", arXiv 2007.12223). Embeddings and biases are never pruned. `scope: encoder`
(recommended) also leaves the pooler and the classification head dense: their weights are small (a
fresh head is initialised with std 0.02, and all-MiniLM-L6-v2's pooler was never trained), so with
`scope: all` a global threshold removes ~90% of the head and ~100% of the pooler and pushes every
prediction towards 50/50 (measured on the quick-start reference at 50%: mean confidence 0.500, ECE
0.26). `scope: all` stays the default only for compatibility with existing studies. The mask is
made permanent, so the model is an ordinary dense model with zeros.

Recovery fine-tuning (a variant with `finetune: true` after pruning) must not revive the pruned
weights: the study pins every exact zero of the linear weights with a torch pruning mask
(`pin_zero_weights`) before fine-tuning and makes the masks permanent afterwards
(`remove_pruning_masks`), so the gradient of a pinned weight is zero and its value stays 0.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune

from trusteq.compression.base import Compression, CompressionConfigError, CompressionContext
from trusteq.compression.layer_drop import layer_list

_SCOPES = ("encoder", "all")


class GlobalMagnitudePruning(Compression):
    """Zero the `sparsity` fraction of linear weights with the smallest magnitude, globally.

    The sparsity actually reached is measured afterwards (`CompressionStats.linear_sparsity`),
    not assumed; it equals the request up to rounding and ties.

    Args:
        sparsity: fraction of prunable weights to zero, in [0, 1).
        scope: `encoder` (the transformer layers' linear weights; recommended) or `all` (every
            `nn.Linear`, pooler and classification head included; the default, for
            compatibility).

    Raises:
        CompressionConfigError: sparsity outside [0, 1) or an unknown scope.
    """

    pins_zeros = True

    def __init__(self, sparsity: float = 0.5, scope: str = "all") -> None:
        if not 0.0 <= float(sparsity) < 1.0:
            raise CompressionConfigError(
                f"compression.sparsity={sparsity!r} must be in [0, 1): it is the fraction of "
                "linear weights set to zero. Fix: e.g. compression.sparsity=0.5."
            )
        if scope not in _SCOPES:
            raise CompressionConfigError(f"compression.scope={scope!r} is not one of {_SCOPES}.")
        self.sparsity = float(sparsity)
        self.scope = scope

    def prunable(self, model: nn.Module) -> list[nn.Linear]:
        """The linear layers whose weights form the pruning pool."""
        owner = model if self.scope == "all" else getattr(*layer_list(model))
        return [module for module in owner.modules() if isinstance(module, nn.Linear)]

    def apply(self, model: nn.Module, context: CompressionContext | None = None) -> nn.Module:
        targets = [(module, "weight") for module in self.prunable(model)]
        if not targets or self.sparsity == 0.0:
            return model
        prune.global_unstructured(
            targets, pruning_method=prune.L1Unstructured, amount=self.sparsity
        )
        for module, name in targets:
            prune.remove(module, name)
        return model


def pin_zero_weights(model: nn.Module) -> int:
    """Mask every exact zero of every `nn.Linear` weight so that training keeps it at zero.

    Uses `torch.nn.utils.prune.custom_from_mask`: the weight becomes `weight_orig * weight_mask`,
    so a masked entry gets no gradient and stays 0 whatever the optimiser does to `weight_orig`.

    Returns:
        The number of pinned (zero) weight elements.
    """
    pinned = 0
    for module in model.modules():
        if isinstance(module, nn.Linear) and not prune.is_pruned(module):
            mask = module.weight.detach() != 0
            if not bool(mask.all()):
                prune.custom_from_mask(module, "weight", mask)
                pinned += int((~mask).sum())
    return pinned


def remove_pruning_masks(model: nn.Module) -> nn.Module:
    """Make every torch pruning mask of `model` permanent (`prune.remove`); returns the model."""
    for module in model.modules():
        hooks = [
            hook
            for hook in module._forward_pre_hooks.values()
            if isinstance(hook, prune.BasePruningMethod)
        ]
        for hook in hooks:
            prune.remove(module, hook._tensor_name)
    return model

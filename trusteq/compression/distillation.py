"""Knowledge distillation: train a smaller student on a teacher's soft labels.

Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", arXiv 1503.02531,
§2: the student minimises a weighted mix of the cross-entropy with the gold labels and the
cross-entropy (here the equivalent KL divergence) with the teacher's temperature-softened
distribution, the latter multiplied by T² so its gradients keep their scale as T changes:

    L = α · T² · KL( softmax(z_t / T) ‖ softmax(z_s / T) ) + (1 − α) · CE(softmax(z_s), y).

The student's starting point is the variant's own business: the pretrained backbone with every
other layer (`layer_drop` with `keep: alternate`, the DistilBERT initialisation of Sanh et al.
2019, arXiv 1910.01108) or a smaller pretrained checkpoint (`model:`). A variant distils by
declaring `teacher: <variant>` and this step; the teacher's logits on the training split come from
its cached outputs entry.
"""

from __future__ import annotations

from torch import nn

from trusteq.compression.base import Compression, CompressionConfigError, CompressionContext
from trusteq.models.losses import distillation_loss

__all__ = ["Distillation", "distillation_loss"]


class Distillation(Compression):
    """Train the variant on its `teacher`'s soft labels (Hinton et al. 2015).

    A training objective, not a change to the weights: `apply` returns the model unchanged, and
    the study fine-tunes the variant with `distillation_loss` instead of plain cross-entropy.

    Args:
        temperature: softening temperature T > 0.
        alpha: weight of the distillation term, in [0, 1].

    Raises:
        CompressionConfigError: temperature <= 0 or alpha outside [0, 1].
    """

    objective = True

    def __init__(self, temperature: float = 2.0, alpha: float = 0.5) -> None:
        if not float(temperature) > 0.0:
            raise CompressionConfigError(
                f"compression.temperature={temperature!r} must be > 0 (e.g. 2.0)."
            )
        if not 0.0 <= float(alpha) <= 1.0:
            raise CompressionConfigError(
                f"compression.alpha={alpha!r} must be in [0, 1]: the weight of the distillation "
                "term (1 - alpha weighs the gold labels)."
            )
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def apply(self, model: nn.Module, context: CompressionContext | None = None) -> nn.Module:
        return model

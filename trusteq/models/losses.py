"""Training losses beyond plain cross-entropy."""

from __future__ import annotations

import torch
from torch import nn


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """Hinton et al. (2015) distillation loss, averaged over the batch.

    Args:
        student_logits: shape `(B, C)`.
        teacher_logits: shape `(B, C)` (no gradient flows into them).
        labels: shape `(B,)`, gold class ids.
        temperature: T > 0; both distributions are softened by it.
        alpha: weight of the distillation term, in [0, 1]; 1 - alpha weighs the label term.

    Returns:
        A scalar tensor.
    """
    soft_student = nn.functional.log_softmax(student_logits / temperature, dim=-1)
    soft_teacher = nn.functional.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    kl = nn.functional.kl_div(soft_student, soft_teacher, reduction="batchmean", log_target=True)
    hard = nn.functional.cross_entropy(student_logits, labels)
    return alpha * temperature**2 * kl + (1.0 - alpha) * hard

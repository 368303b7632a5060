"""Producers: per-variant, per-example, resumable outputs beyond one prediction pass.

`explain/` (LIME, SHAP, Integrated Gradients) and `attack/` (word-substitution attacks) build on
:class:`trusteq.producers.base.Producer`.
"""

from trusteq.producers.base import Consumed, Producer

__all__ = ["Consumed", "Producer"]

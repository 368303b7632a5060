"""Word attributions (LIME, SHAP, Integrated Gradients) as cached producers, and their agreement.

Producers (infer stage, configs in `conf/explainer/`): :class:`LimeAttribution`,
:class:`ShapAttribution`, :class:`IntegratedGradientsAttribution`, all on one word segmentation
(:mod:`trusteq.explain.words`). The pairwise comparison is the `attribution` analysis
(:mod:`trusteq.analyses.attribution`) built on :mod:`trusteq.explain.agreement`. The explainer
libraries (`lime`, `shap`, `captum`: the `explain` extra) are imported only when one runs.
"""

from __future__ import annotations

from trusteq.explain.base import AttributionProducer, ExplainerConfigError
from trusteq.explain.integrated_gradients import IntegratedGradientsAttribution
from trusteq.explain.lime_explainer import LimeAttribution
from trusteq.explain.shap_explainer import ShapAttribution
from trusteq.explain.words import WORD_PATTERN, SegmentedInput, split_words

__all__ = [
    "WORD_PATTERN",
    "AttributionProducer",
    "ExplainerConfigError",
    "IntegratedGradientsAttribution",
    "LimeAttribution",
    "SegmentedInput",
    "ShapAttribution",
    "split_words",
]

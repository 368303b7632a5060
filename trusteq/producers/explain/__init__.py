"""Word attributions (LIME, SHAP, Integrated Gradients) as cached producers, and their agreement.

Producers (infer stage, configs in `conf/explainer/`): :class:`LimeAttribution`,
:class:`ShapAttribution`, :class:`IntegratedGradientsAttribution`, all on one word segmentation
(:mod:`trusteq.producers.explain.words`). The pairwise comparison is the `attribution` analysis
(:mod:`trusteq.analyses.attribution`) built on
:mod:`trusteq.characteristics.attribution_agreement`. The explainer libraries (`lime`, `shap`,
`captum`: the `explain` extra) are imported only when one runs.
"""

from __future__ import annotations

from trusteq.producers.explain.base import AttributionProducer, ExplainerConfigError
from trusteq.producers.explain.integrated_gradients import IntegratedGradientsAttribution
from trusteq.producers.explain.lime_explainer import LimeAttribution
from trusteq.producers.explain.shap_explainer import ShapAttribution
from trusteq.producers.explain.words import WORD_PATTERN, SegmentedInput, split_words

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

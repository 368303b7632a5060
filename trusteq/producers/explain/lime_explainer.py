"""LIME word attributions (Ribeiro, Singh & Guestrin 2016, arXiv 1602.04938), via `lime`.

`lime.lime_text.LimeTextExplainer` does the sampling, the cosine-distance kernel and the weighted
ridge fit exactly as in the library. trusteq only changes what a LIME feature is and how a sample
reaches the model: the explainer is shown the word *positions* of the shared segmentation
(:mod:`trusteq.producers.explain.words`, `bow=False`), and each sample is decoded into the
perturbed segments (hidden words replaced by the mask string within their own segment) and scored
in batches with memoisation (:class:`~trusteq.producers.explain.scoring.PerturbationScorer`). With
the same seed, number of samples and mask string this reproduces `LimeTextExplainer(bow=False,
split_expression=split_words, mask_string=mask)` called one text at a time (see
`benchmarks/explain_speed.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trusteq.producers.explain.base import (
    AttributionProducer,
    ExplainContext,
    ExplainerConfigError,
    require,
)
from trusteq.producers.explain.words import SegmentedInput

#: What LIME writes in place of a hidden position in its encoded string (never a digit).
_HIDDEN = "_"


def _split_positions(encoded: str) -> list[str]:
    return encoded.split(" ")


class LimeAttribution(AttributionProducer):
    """LIME attributions of every word to the explained class's probability.

    Args:
        num_samples: perturbed samples per example, the original included (Paper B: 1000 for NLI,
            100–500 for paraphrase identification).
        num_features: words given a weight by LIME's feature selection (`auto`); the others get 0.
            None = every word (Paper B's code used 20).
        kernel_width: width of LIME's exponential kernel on the cosine distance × 100 (library
            default 25).
        **common: see :class:`~trusteq.producers.explain.base.AttributionProducer`.

    Raises:
        ExplainerConfigError: `num_samples < 2` or `num_features < 1`.
    """

    name = "lime"

    def __init__(
        self,
        num_samples: int = 300,
        num_features: int | None = None,
        kernel_width: float = 25.0,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if int(num_samples) < 2:
            raise ExplainerConfigError(f"LimeAttribution: num_samples={num_samples}; need >= 2.")
        if num_features is not None and int(num_features) < 1:
            raise ExplainerConfigError(
                f"LimeAttribution: num_features={num_features}; need >= 1 or null (all words)."
            )
        self.num_samples = int(num_samples)
        self.num_features = None if num_features is None else int(num_features)
        self.kernel_width = float(kernel_width)

    def explain(
        self, instance: SegmentedInput, target: int, context: ExplainContext, seed: int
    ) -> np.ndarray:
        """LIME weights of the W words for class `target`; shape `(W,)`."""
        LimeTextExplainer = require("lime.lime_text").LimeTextExplainer  # noqa: N806

        n_words = len(instance)
        explainer = LimeTextExplainer(
            kernel_width=self.kernel_width,
            bow=False,
            split_expression=_split_positions,
            mask_string=_HIDDEN,
            random_state=seed,
        )

        masks = context.word_masks(instance)

        def classifier_fn(encoded: list[str]) -> np.ndarray:
            keeps = [np.array(s.split(" ")) != _HIDDEN for s in encoded]
            return context.scorer([instance.perturb(keep, masks) for keep in keeps])

        explanation = explainer.explain_instance(
            " ".join(str(position) for position in range(n_words)),
            classifier_fn,
            labels=(target,),
            num_features=min(self.num_features or n_words, n_words),
            num_samples=self.num_samples,
        )
        values = np.zeros(n_words)
        for position, weight in explanation.local_exp[target]:
            values[position] = weight
        return values

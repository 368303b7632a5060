"""SHAP word attributions (Lundberg & Lee 2017, arXiv 1705.07874), via `shap.Explainer`.

Two of shap's model-agnostic algorithms: `partition` (Owen values over a hierarchy of the words,
Paper B's choice for NLI) and `permutation` (Paper B's choice for paraphrase identification,
with at least `2·W + 1` evaluations). The masker is :class:`WordMasker`: the features are the words
of the shared segmentation (:mod:`trusteq.explain.words`) and the hierarchy is shap's own text
heuristic (`shap.maskers._text.partition_tree`, the tree `shap.maskers.Text` builds, which keeps
words, commas and sentence ends together) built per segment and joined at the root, so a pair's two
segments are only merged last. shap's `Text` masker itself cannot be used as is: it works on one
string, so masking could touch the boundary of a pair, and it masks tokenizer pieces together
with the whitespace and punctuation that follow them. Hidden words are replaced by the mask string
inside their own segment, and all masked samples of a batch are scored together with memoisation
(:class:`~trusteq.explain.scoring.PerturbationScorer`). The explained quantity is the class
probability (shap's `identity` link), as for LIME.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trusteq.explain.base import (
    AttributionProducer,
    ExplainContext,
    ExplainerConfigError,
    require,
)
from trusteq.explain.words import SegmentedInput

ALGORITHMS = ("partition", "permutation")


def word_partition_tree(instance: SegmentedInput) -> np.ndarray:
    """Hierarchical clustering of the words, one subtree per segment joined at the root.

    Args:
        instance: the segmented input (W words).

    Returns:
        shape `(W - 1, 4)`, a scipy-style linkage matrix (children, height, size); heights are the
        rescaled cluster sizes, as in `shap.maskers.Text.clustering`.
    """
    partition_tree = require("shap.maskers._text").partition_tree

    n_words = len(instance)
    rows: list[np.ndarray] = []
    roots: list[int] = []
    next_node = n_words
    first_leaf = 0
    for segment in sorted(set(instance.word_segments)):
        tokens = [w.text for w in instance.words if w.segment == segment]
        size = len(tokens)
        if size == 1:
            roots.append(first_leaf)
        else:
            tree = partition_tree(tokens, []).astype(np.float64)
            for column in (0, 1):
                local = tree[:, column]
                # leaves shift by the segment's first word, internal nodes to this tree's block
                tree[:, column] = np.where(
                    local < size, local + first_leaf, local - size + next_node
                )
            rows.append(tree)
            next_node += size - 1
            roots.append(next_node - 1)
        first_leaf += size
    if len(roots) == 2:
        rows.append(np.array([[roots[0], roots[1], 0.0, float(n_words)]]))
    tree = np.concatenate(rows) if rows else np.zeros((0, 4))
    if len(tree):
        tree[:, 2] = tree[:, 3] / tree[:, 3].max()
    return tree


class WordMasker:
    """A shap masker over the words of one input; a masked sample is its keep-mask as bytes.

    The model function given to shap decodes each sample back into perturbed segments, so the
    explainer never sees (or breaks) the text itself.

    Args:
        instance: the segmented input (W words).
    """

    def __init__(self, instance: SegmentedInput) -> None:
        self.instance = instance
        self.n_words = len(instance)
        self._tree = word_partition_tree(instance)
        self.immutable_outputs = True
        self.text_data = False
        self.default_batch_size = 5  # as shap.maskers.Text: Partition's nodes per round

    def __call__(self, mask: np.ndarray | bool, *args: Any) -> tuple[np.ndarray]:
        if mask is True or mask is False:
            mask = np.full(self.n_words, bool(mask))
        return (np.array([np.asarray(mask, dtype=bool).tobytes()], dtype=object),)

    def shape(self, *args: Any) -> tuple[int, int]:
        return (1, self.n_words)

    def mask_shapes(self, *args: Any) -> list[tuple[int]]:
        return [(self.n_words,)]

    def clustering(self, *args: Any) -> np.ndarray:
        return self._tree

    def feature_names(self, *args: Any) -> list[list[str]]:
        return [self.instance.word_texts]


class ShapAttribution(AttributionProducer):
    """SHAP values of every word for the explained class's probability.

    Args:
        algorithm: `partition` or `permutation`.
        max_evals: model evaluations per example (shap's budget; shap's default is 500). For
            `permutation` it is raised to `2·W + 1` when lower (Paper B: `max(100, 2·W + 1)`).
        partition_batch: `partition` only: hierarchy nodes expanded per round (two masked
            samples each) before their results steer the next round. Under a budget the result
            depends on it, so it is part of the cache key (unlike `batch_size`); 5 is shap's
            default for text, which this reproduces; larger rounds suit a GPU.
        **common: see :class:`~trusteq.explain.base.AttributionProducer`; `seed` seeds shap's
            permutations (`permutation`) and priority-queue tie-breaks (`partition`).

    Raises:
        ExplainerConfigError: unknown `algorithm`, `max_evals < 3` or `partition_batch < 1`.
    """

    name = "shap"

    def __init__(
        self,
        algorithm: str = "partition",
        max_evals: int = 500,
        partition_batch: int = 5,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if algorithm not in ALGORITHMS:
            raise ExplainerConfigError(
                f"ShapAttribution: algorithm={algorithm!r}; expected one of {ALGORITHMS}."
            )
        if int(max_evals) < 3 or int(partition_batch) < 1:
            raise ExplainerConfigError(
                f"ShapAttribution: max_evals={max_evals}, partition_batch={partition_batch}; "
                "need max_evals >= 3 and partition_batch >= 1."
            )
        self.algorithm = str(algorithm)
        self.max_evals = int(max_evals)
        self.partition_batch = int(partition_batch)

    def explain(
        self, instance: SegmentedInput, target: int, context: ExplainContext, seed: int
    ) -> np.ndarray:
        """SHAP values of the W words for class `target`; shape `(W,)`."""
        shap = require("shap")

        def model_fn(samples: np.ndarray) -> np.ndarray:
            keeps = [np.frombuffer(sample, dtype=bool) for sample in samples]
            return context.scorer([instance.perturb(keep, context.mask) for keep in keeps])

        masker = WordMasker(instance)
        n_words = len(instance)
        state = np.random.get_state()
        try:
            if self.algorithm == "permutation":
                explainer = shap.Explainer(model_fn, masker, algorithm="permutation", seed=seed)
                max_evals, batch_size = max(self.max_evals, 2 * n_words + 1), self._batch_size
            else:
                explainer = shap.Explainer(model_fn, masker, algorithm="partition")
                max_evals, batch_size = self.max_evals, self.partition_batch
            np.random.seed(seed)  # shap draws from numpy's global generator
            explanation = explainer(
                ["instance"], max_evals=max_evals, batch_size=batch_size, silent=True
            )
        finally:
            np.random.set_state(state)
        return np.asarray(explanation.values[0], dtype=np.float64)[:, target]

"""SHAP word attributions (Lundberg & Lee 2017, arXiv 1705.07874), via `shap.Explainer`.

Two of shap's model-agnostic algorithms: `partition` (Owen values over a hierarchy of the
features, Paper B's choice for NLI) and `permutation` (Paper B's choice for paraphrase
identification, with at least `2·F + 1` evaluations for F features). Two maskers (`masker`):

- `text` (default): :class:`TokenMasker`, shap's own `shap.maskers.Text` on the model tokenizer's
  tokens, i.e. exactly the game `shap.Explainer` plays on a `transformers` pipeline with default
  settings (Paper B): each hidden token becomes the mask token, special tokens stay, and the
  hierarchy is shap's text heuristic (pieces of a word first, then words, commas, sentence ends).
  A pair gets one `Text` masker per segment and the two trees are joined at the root, so masking
  never touches the pair boundary (one `Text` masker on a joined string could). The token values
  are then summed into the shared words
  (:func:`~trusteq.producers.explain.words.aggregate_to_words`, the rule Integrated Gradients
  uses), so models with different tokenizers are compared word by word.
- `words`: :class:`WordMasker`, the shared words themselves are the features (shap's text
  heuristic over the words, per segment), each hidden word perturbed by the producer's `mask`
  rule (deleted, or one mask token per sub-word): every model then plays the same game on the
  same word features.

Either way all masked samples of a batch are scored together with memoisation
(:class:`~trusteq.producers.explain.scoring.PerturbationScorer`). The explained quantity is the
class probability (shap's `identity` link), as for LIME.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from trusteq.producers.explain.base import (
    AttributionProducer,
    ExplainContext,
    ExplainerConfigError,
    require,
)
from trusteq.producers.explain.words import SegmentedInput, aggregate_to_words, token_word_index

ALGORITHMS = ("partition", "permutation")


def seed_shap_permutations(seed: int) -> None:
    """Seed the generator shap's Permutation explainer draws its permutations from.

    With a masker that has a hierarchy (shap's `Text`, :class:`WordMasker`) shap permutes with
    `shap.utils.partition_tree_shuffle`, a numba-jitted function: its `np.random` calls use
    numba's own per-thread generator, which `np.random.seed` called from Python does not reach
    ("Calling numpy.random.seed() from non-Numba code ... will seed the NumPy random generator,
    not the Numba random generator", numba's docs, Supported NumPy features, Random). Unseeded,
    two processes explaining the same sentence with the same seed drew different permutations
    (top-10 words differed, up to 0.05 in a word's value). Seeding it from a jitted function
    makes the attributions a function of the seed. Under `NUMBA_DISABLE_JIT=1` the shuffle is
    plain Python and numpy's seed already governs it; this then seeds numpy again.

    Args:
        seed: the explainer seed, in [0, 2**32).
    """
    _jitted_seed()(int(seed))


@functools.cache
def _jitted_seed() -> Any:
    """`np.random.seed` compiled by numba (compiled once, on first use)."""
    import numba

    def seed_numpy(seed: int) -> None:
        np.random.seed(seed)

    return numba.njit(seed_numpy)


MASKERS = ("text", "words")


def join_segment_trees(trees: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One linkage matrix from one tree per segment, the segments merged last (at the root).

    Args:
        trees: per segment, a scipy-style linkage matrix `(n_s - 1, 4)` over its own leaves
            `0..n_s-1` (ignored when `n_s == 1`).
        sizes: n_s, the leaves of each segment; leaves are numbered segment after segment.

    Returns:
        shape `(n - 1, 4)` over all `n = sum(sizes)` leaves; heights are the rescaled cluster
        sizes, as in `shap.maskers.Text.clustering`.
    """
    n_leaves = int(sum(sizes))
    rows: list[np.ndarray] = []
    roots: list[int] = []
    next_node = n_leaves
    first_leaf = 0
    for tree, size in zip(trees, sizes, strict=True):
        if size == 1:
            roots.append(first_leaf)
        elif size > 1:
            tree = np.array(tree, dtype=np.float64)
            for column in (0, 1):
                local = tree[:, column]
                # leaves shift by the segment's first leaf, internal nodes to this tree's block
                tree[:, column] = np.where(
                    local < size, local + first_leaf, local - size + next_node
                )
            rows.append(tree)
            next_node += size - 1
            roots.append(next_node - 1)
        first_leaf += size
    if len(roots) == 2:
        rows.append(np.array([[roots[0], roots[1], 0.0, float(n_leaves)]]))
    tree = np.concatenate(rows) if rows else np.zeros((0, 4))
    if len(tree):
        tree[:, 2] = tree[:, 3] / tree[:, 3].max()
    return tree


def word_partition_tree(instance: SegmentedInput) -> np.ndarray:
    """Hierarchical clustering of the words, one subtree per segment joined at the root.

    Args:
        instance: the segmented input (W words).

    Returns:
        shape `(W - 1, 4)`, a scipy-style linkage matrix (children, height, size) built by shap's
        text heuristic (`shap.maskers._text.partition_tree`) on each segment's words.
    """
    partition_tree = require("shap.maskers._text").partition_tree
    trees, sizes = [], []
    for segment in sorted(set(instance.word_segments)):
        tokens = [w.text for w in instance.words if w.segment == segment]
        trees.append(partition_tree(tokens, []) if len(tokens) > 1 else None)
        sizes.append(len(tokens))
    return join_segment_trees(trees, sizes)


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


class TokenMasker(WordMasker):
    """shap's own `Text` masker, one per segment: the features are the model tokenizer's tokens.

    This is the game `shap.Explainer` plays on a `transformers` pipeline with default settings
    (Paper B's SHAP): every hidden token is replaced by the tokenizer's mask token, the special
    tokens stay, and the hierarchy is shap's text heuristic over the tokens (so the pieces of a
    word are joined first). trusteq applies it to each segment of a pair separately and joins the
    two trees at the root, so the pair boundary is never masked. The token values are summed into
    the shared words afterwards (:func:`~trusteq.producers.explain.words.aggregate_to_words`).

    Args:
        instance: the segmented input.
        tokenizer: the model's fast tokenizer (offsets needed).

    Attributes:
        word_index: shape `(T,)`, the word of each token feature (-1: special tokens).
    """

    def __init__(self, instance: SegmentedInput, tokenizer: Any) -> None:
        text_masker = require("shap.maskers").Text
        self.instance = instance
        self.maskers = [text_masker(tokenizer) for _ in instance.segments]
        trees, sizes, offsets, segment_ids = [], [], [], []
        for index, (masker, text) in enumerate(zip(self.maskers, instance.segments, strict=True)):
            size = masker.shape(text)[1]
            trees.append(masker.clustering(text) if size > 1 else None)
            sizes.append(size)
            spans = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
            if len(spans) != size:
                raise ExplainerConfigError(
                    f"TokenMasker: tokenizer {type(tokenizer).__name__} gave {len(spans)} offsets "
                    f"for {size} tokens; use masker: words."
                )
            offsets += [tuple(span) for span in spans]
            segment_ids += [None if span[1] <= span[0] else index for span in spans]
        self.sizes = sizes
        self.n_words = int(sum(sizes))  # shap's feature count (tokens here)
        self._tree = join_segment_trees(trees, sizes)
        self.word_index = token_word_index(offsets, segment_ids, instance)
        self.immutable_outputs = True
        self.text_data = False
        self.default_batch_size = 5

    def perturb(self, keep: np.ndarray) -> tuple[str, ...]:
        """The segments with the tokens where `keep` is False masked (shap's `Text` rule)."""
        bounds = np.cumsum([0, *self.sizes])
        return tuple(
            str(masker(keep[start:stop], text)[0][0])
            for masker, text, start, stop in zip(
                self.maskers, self.instance.segments, bounds[:-1], bounds[1:], strict=True
            )
        )

    def feature_names(self, *args: Any) -> list[list[str]]:
        return [[str(i) for i in range(self.n_words)]]


class ShapAttribution(AttributionProducer):
    """SHAP values of every word for the explained class's probability.

    Args:
        algorithm: `partition` or `permutation`.
        masker: `text` (shap's `Text` masker on the model's tokens, per segment: the default
            pipeline's game and Paper B's; token values summed into words) or `words` (the
            shared words are the features; hidden words perturbed by `mask`).
        max_evals: model evaluations per example (shap's budget; shap's default is 500). For
            `permutation` it is raised to `2·W + 1` when lower (Paper B: `max(100, 2·W + 1)`).
        partition_batch: `partition` only: hierarchy nodes expanded per round (two masked
            samples each) before their results steer the next round. Under a budget the result
            depends on it, so it is part of the cache key (unlike `batch_size`); 5 is shap's
            default for text, which this reproduces; larger rounds suit a GPU.
        **common: see :class:`~trusteq.producers.explain.base.AttributionProducer`; `seed` seeds
            shap's permutations (`permutation`): numpy's generator and numba's own, which shap's
            jitted `partition_tree_shuffle` draws from (:func:`seed_shap_permutations`).
            `partition` is deterministic: its attributions
            are bit-identical under every seed (measured on VitaminC pairs,
            experiments/paper_b/README.md), so the seed is not in its cache key.

    Raises:
        ExplainerConfigError: unknown `algorithm` or `masker`, `max_evals < 3` or
            `partition_batch < 1`.
    """

    name = "shap"

    def __init__(
        self,
        algorithm: str = "partition",
        masker: str = "text",
        max_evals: int = 500,
        partition_batch: int = 5,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if algorithm not in ALGORITHMS:
            raise ExplainerConfigError(
                f"ShapAttribution: algorithm={algorithm!r}; expected one of {ALGORITHMS}."
            )
        if masker not in MASKERS:
            raise ExplainerConfigError(
                f"ShapAttribution: masker={masker!r}; expected one of {MASKERS}."
            )
        if int(max_evals) < 3 or int(partition_batch) < 1:
            raise ExplainerConfigError(
                f"ShapAttribution: max_evals={max_evals}, partition_batch={partition_batch}; "
                "need max_evals >= 3 and partition_batch >= 1."
            )
        self.algorithm = str(algorithm)
        self.masker = str(masker)
        self.max_evals = int(max_evals)
        self.partition_batch = int(partition_batch)

    @property
    def seeded(self) -> bool:  # type: ignore[override]
        """Only the permutation algorithm draws random numbers."""
        return self.algorithm == "permutation"

    def identity(self) -> dict[str, Any]:
        """The cache key's settings; permutation entries also name how their draws are seeded.

        Entries written before numba's generator was seeded (no ``"rng"``) were one random draw
        each, not reproducible from their key, so they are not read as these.
        """
        identity = super().identity()
        if self.algorithm == "permutation":
            identity["rng"] = "numpy+numba"
        return identity

    def explain(
        self, instance: SegmentedInput, target: int, context: ExplainContext, seed: int
    ) -> np.ndarray:
        """SHAP values of the W words for class `target`; shape `(W,)`."""
        shap = require("shap")

        if self.masker == "text":
            masker: WordMasker = TokenMasker(instance, context.tokenizer)

            def perturb(keep: np.ndarray) -> tuple[str, ...]:
                return masker.perturb(keep)
        else:
            masker, masks = WordMasker(instance), context.word_masks(instance)

            def perturb(keep: np.ndarray) -> tuple[str, ...]:
                return instance.perturb(keep, masks)

        def model_fn(samples: np.ndarray) -> np.ndarray:
            return context.scorer([perturb(np.frombuffer(s, dtype=bool)) for s in samples])

        n_words = masker.n_words  # features: words, or tokens for the text masker
        state = np.random.get_state()
        try:
            if self.algorithm == "permutation":
                explainer = shap.Explainer(model_fn, masker, algorithm="permutation", seed=seed)
                max_evals, batch_size = max(self.max_evals, 2 * n_words + 1), self._batch_size
                seed_shap_permutations(seed)  # its jitted shuffle draws from numba's generator
            else:
                explainer = shap.Explainer(model_fn, masker, algorithm="partition")
                max_evals, batch_size = self.max_evals, self.partition_batch
            np.random.seed(seed)  # shap draws from numpy's global generator
            explanation = explainer(
                ["instance"], max_evals=max_evals, batch_size=batch_size, silent=True
            )
        finally:
            np.random.set_state(state)
        values = np.asarray(explanation.values[0], dtype=np.float64)[:, target]
        if isinstance(masker, TokenMasker):
            return aggregate_to_words(values, masker.word_index, len(instance))
        return values

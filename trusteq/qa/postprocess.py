"""SQuAD 2.0 post-processing: window logits -> one answer (or none) per question, with confidence.

The rule of Google's ``run_squad.py`` and Hugging Face's ``postprocess_qa_predictions`` (with
``version_2_with_negative``): in every window of a question take the ``n_best`` highest start and
end logits; a span (s, e) is a candidate when both tokens are context tokens, ``e >= s`` and
``e − s + 1 <= max_answer_length``; its score is ``start[s] + end[e]``. The null score is
``start[cls] + end[cls]``, minimised over the question's windows. The ``n_best`` best candidates
over all windows are kept; the question is answered with the best one unless
``null − best > null_score_diff_threshold``, in which case the answer is ``""``.

Confidence (trusteq's documented rule, as in ``run_qa.py``'s n-best probabilities): the softmax
over the scores of the kept candidates *and* the null candidate; the confidence of a question is
the probability of the chosen answer (the null candidate when it answers ``""``). With threshold
0 the chosen answer is the highest-scoring candidate, so confidence = the maximum probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Score written into unused candidate slots; exp(PAD − max) underflows to 0.
PAD_SCORE = -1.0e4


@dataclass
class QAPredictions:
    """Post-processed predictions of N questions.

    Attributes:
        texts: length N, the predicted answer (``""`` = unanswerable).
        candidate_scores: shape `(N, n_best + 1)`, float32: column 0 the null score, then the
            kept span scores in decreasing order, padded with :data:`PAD_SCORE`.
        confidence: shape `(N,)`, float32, in (0, 1]: the chosen answer's softmax probability.
        null_score: shape `(N,)`, float32.
        best_span_score: shape `(N,)`, float32 (:data:`PAD_SCORE` if no valid span).
    """

    texts: list[str]
    candidate_scores: np.ndarray
    confidence: np.ndarray
    null_score: np.ndarray
    best_span_score: np.ndarray


def postprocess_predictions(
    contexts: list[str],
    example_index: np.ndarray,
    offsets: list[list[tuple[int, int] | None]],
    cls_index: np.ndarray,
    start_logits: list[np.ndarray],
    end_logits: list[np.ndarray],
    n_best: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
) -> QAPredictions:
    """Turn per-window logits into per-question answers (see the module docstring).

    Args:
        contexts: length N, each question's context.
        example_index: shape `(F,)`, the question row of each window.
        offsets: length F, per window and token the context character span or None.
        cls_index: shape `(F,)`, the [CLS] position per window.
        start_logits: length F, each shape `(T_f,)` (the window's real tokens).
        end_logits: length F, each shape `(T_f,)`.
        n_best: candidates kept per window side and per question, >= 1.
        max_answer_length: longest answer in tokens, >= 1.
        null_score_diff_threshold: answer ``""`` when ``null − best span > threshold``.

    Returns:
        The predictions; a question without windows (none) answers ``""``.

    Examples:
        >>> offsets = [[None, None, (0, 5), (6, 11)]]
        >>> p = postprocess_predictions(["hello world"], np.array([0]), offsets, np.array([0]),
        ...     [np.array([0.0, 0.0, 3.0, 1.0])], [np.array([0.0, 0.0, 1.0, 3.0])], n_best=2)
        >>> p.texts, round(float(p.confidence[0]), 4)
        (['hello world'], 0.8789)
    """
    n_questions = len(contexts)
    windows: list[list[int]] = [[] for _ in range(n_questions)]
    for feature, row in enumerate(np.asarray(example_index)):
        windows[int(row)].append(feature)
    scores = np.full((n_questions, n_best + 1), PAD_SCORE, dtype=np.float64)
    confidence = np.ones(n_questions)
    null_scores = np.full(n_questions, PAD_SCORE)
    best_scores = np.full(n_questions, PAD_SCORE)
    texts = [""] * n_questions
    for row, features in enumerate(windows):
        null: float | None = None
        candidates: list[tuple[float, int, int]] = []
        for feature in features:
            start, end = np.asarray(start_logits[feature]), np.asarray(end_logits[feature])
            spans = offsets[feature]
            cls = int(cls_index[feature])
            feature_null = float(start[cls] + end[cls])
            null = feature_null if null is None else min(null, feature_null)
            top_starts = np.argsort(start, kind="stable")[::-1][:n_best]
            top_ends = np.argsort(end, kind="stable")[::-1][:n_best]
            for s in top_starts:
                if s >= len(spans) or spans[s] is None:
                    continue
                for e in top_ends:
                    if (
                        e >= len(spans)
                        or spans[e] is None
                        or e < s
                        or e - s + 1 > max_answer_length
                    ):
                        continue
                    candidates.append((float(start[s] + end[e]), spans[s][0], spans[e][1]))
        if null is None:
            continue
        candidates.sort(key=lambda c: -c[0])
        kept = candidates[:n_best]
        null_scores[row] = scores[row, 0] = null
        for column, (score, _, _) in enumerate(kept, start=1):
            scores[row, column] = score
        used = scores[row, : len(kept) + 1]
        probs = np.exp(used - used.max())
        probs /= probs.sum()
        chosen = 0
        if kept:
            best_scores[row] = kept[0][0]
            if not null - kept[0][0] > null_score_diff_threshold:
                chosen = 1
                texts[row] = contexts[row][kept[0][1] : kept[0][2]]
        confidence[row] = probs[chosen]
    return QAPredictions(
        texts=texts,
        candidate_scores=scores.astype(np.float32),
        confidence=confidence.astype(np.float32),
        null_score=null_scores.astype(np.float32),
        best_span_score=best_scores.astype(np.float32),
    )

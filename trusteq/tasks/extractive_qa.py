"""The extractive-QA seam of a study: tokenisation, model, fine-tuning, inference, and the adapter.

Selected with ``task=extractive_qa`` (``conf/task/extractive_qa.yaml``, which holds the settings);
everything else (variants, compression steps, the cache, compare, MLflow) is the shared pipeline.

**What an outputs entry holds** (per question, in the split's order; the cache stays model-free):
``exact_match`` `(N,)` (1 = correct; Paper A's error = exact match 0), ``f1`` `(N,)`,
``confidence`` `(N,)` (see `trusteq.qa.postprocess`), ``candidate_scores`` `(N, n_best + 1)`,
``null_score`` and ``best_span_score`` `(N,)`, ``has_answer`` `(N,)` (gold answerable),
``answer_code`` `(N,)` int64 (:func:`trusteq.qa.metrics.answer_code` of the prediction), the
predicted texts as UTF-8 bytes ``prediction_utf8`` with ``prediction_offsets`` `(N + 1,)` (see
:func:`predicted_texts`), and ``embeddings_cls`` / ``embeddings_mean`` `(N, D)` of each question's
first window.

**The adapter** (:meth:`QATask.view`, applied when compare reads an entry) adds the keys the shared
characteristics and OOD scorers read, so none of them is duplicated:

- ``targets`` = 0 for every question and ``preds`` = 0 when the answer is correct, else the answer
  code (>= 1). Hence ``preds != targets`` is exactly "exact match 0" (error Jaccard, chance
  Jaccard, error consistency κ), and prediction agreement counts two answers as the same when
  they normalise alike, or when both are correct (answers matching any gold are equivalent).
- ``probs`` `(N, 2)`: the confidence in column 0 when correct, in column 1 otherwise (rows need
  not sum to 1), so max = confidence and argmax == target exactly when correct: ECE, MCE,
  reliability diagrams and calibration similarity are those of confidence vs correctness.
- ``logits`` = ``candidate_scores``: MSP (1 − confidence at threshold 0) and energy
  (−logsumexp over the candidates) read them.

Class-probability metrics have no meaning here (the "probabilities" above are not a distribution
over classes): Brier score, NLL and macro-F1 are reported as NaN with a logged reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from trusteq.characteristics.calibration import (
    expected_calibration_error,
    maximum_calibration_error,
)
from trusteq.characteristics.unary import UNARY_KEYS
from trusteq.qa.data import QASplit
from trusteq.qa.features import QAFeatures
from trusteq.qa.metrics import answer_code
from trusteq.qa.scoring import encode_texts, predicted_texts, score_split
from trusteq.tasks.base import Task, TaskConfigError

log = logging.getLogger(__name__)

#: Settings that shape the training windows (part of the checkpoint key); all are in outputs keys.
TRAINING_SETTINGS = ("doc_stride", "max_query_length")
SKIPPED_UNARY = {
    "macro_f1": "QA has no class set to average over",
    "brier": "QA confidences are not a distribution over classes",
    "nll": "QA confidences are not a distribution over classes",
}


class QAConfigError(TaskConfigError):
    """The `task` settings or a study feature do not fit extractive QA; names the field and fix."""


__all__ = ["QAConfigError", "QATask", "encode_texts", "predicted_texts", "score_split"]


class QATask(Task):
    """Extractive QA (``conf/task/extractive_qa.yaml``).

    Args:
        doc_stride: context tokens shared by consecutive windows (>= 1).
        max_query_length: question tokens kept (>= 1).
        n_best: start/end candidates kept per window (>= 1).
        max_answer_length: longest answer span in tokens (>= 1).
        null_score_diff_threshold: predict "no answer" when the null score beats the best span
            by more than this.

    Raises:
        QAConfigError: a value out of range, naming the ``task.<field>``.
    """

    name: ClassVar[str] = "extractive_qa"
    # No `class_distribution` (the view's probs are confidence vs correctness, not a distribution
    # over classes) and no `text_inputs` (explainers and attacks perturb single texts).
    output_kinds: ClassVar[frozenset[str]] = frozenset(
        {
            "logits",
            "probs",
            "preds",
            "targets",
            "embeddings_cls",
            "embeddings_mean",
            "exact_match",
            "f1",
            "confidence",
            "has_answer",
            "answer_code",
        }
    )

    def __init__(
        self,
        doc_stride: int,
        max_query_length: int,
        n_best: int,
        max_answer_length: int,
        null_score_diff_threshold: float,
    ) -> None:
        self.settings: dict[str, Any] = {
            "doc_stride": doc_stride,
            "max_query_length": max_query_length,
            "n_best": n_best,
            "max_answer_length": max_answer_length,
        }
        for key, value in self.settings.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise QAConfigError(f"task.{key} must be an integer >= 1, got {value!r}")
        self.settings["null_score_diff_threshold"] = float(null_score_diff_threshold)

    def check_variant(self, name: str, variant: Any) -> None:
        self.check_steps(variant.steps, f"study.variants.{name}")

    def identity(self, training: bool = False) -> dict[str, Any]:
        """The settings that define a checkpoint (``training``) or an outputs entry."""
        keys = TRAINING_SETTINGS if training else tuple(self.settings)
        return {"task": self.name, **{key: self.settings[key] for key in keys}}

    # ------------------------------------------------------------------ data and models
    def features(self, tokenizer: Any, split: QASplit, max_length: int) -> QAFeatures:
        """The split's windows at ``train.max_length`` tokens.

        Raises:
            QAConfigError: ``max_length`` cannot hold ``max_query_length + doc_stride`` tokens.
        """
        needed = self.settings["max_query_length"] + self.settings["doc_stride"] + 4
        if max_length < needed:
            raise QAConfigError(
                f"train.max_length={max_length} cannot hold a question of task.max_query_length="
                f"{self.settings['max_query_length']} tokens plus task.doc_stride="
                f"{self.settings['doc_stride']} context tokens and 3 special tokens; raise "
                f"train.max_length to at least {needed} or lower task.doc_stride / "
                "task.max_query_length."
            )
        return QAFeatures(
            split,
            tokenizer,
            max_length,
            self.settings["doc_stride"],
            self.settings["max_query_length"],
        )

    def initial_model(self, backbone: Any, num_labels: int = 0) -> nn.Module:
        """The backbone with a fresh span-prediction head (`AutoModelForQuestionAnswering`)."""
        return backbone.load_question_answering()

    def load_finetuned(self, folder: Any) -> nn.Module:
        """A fine-tuned QA checkpoint folder."""
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering.from_pretrained(folder)

    def check_steps(self, steps: list[tuple[str, Any, Any]], where: str) -> None:
        """Reject compression steps that need classification data or batches.

        Raises:
            QAConfigError: a data-dependent step (head importance, calibration) or distillation.
        """
        for step, method, _ in steps:
            if getattr(method, "requires_data", False) or getattr(method, "objective", False):
                raise QAConfigError(
                    f"{where}.compression.{step}: {type(method).__name__} needs classification "
                    "batches or logits and is not supported for extractive QA yet; use int8, "
                    "pruning, layer dropping or another checkpoint."
                )

    # ------------------------------------------------------------------ train / infer
    def fine_tune(
        self,
        model: nn.Module,
        train: QAFeatures,
        validation: QAFeatures,
        recipe: Mapping[str, Any],
        runtime: Mapping[str, Any],
        seed: int,
        logger: Any = False,
        teacher_logits: np.ndarray | None = None,
        **distillation: Any,
    ) -> tuple[nn.Module, dict[str, float]]:
        """`trusteq.models.lightning_runs.fine_tune` with the QA LightningModule.

        Raises:
            QAConfigError: distillation was asked for (not supported for QA).
        """
        from trusteq.models.lightning_runs import fine_tune
        from trusteq.qa.model import QuestionAnsweringModule

        if teacher_logits is not None:
            raise QAConfigError("distillation is not supported for extractive QA yet.")
        factory = partial(QuestionAnsweringModule, validation=validation, settings=self.settings)
        return fine_tune(
            model, train, validation, recipe, runtime, seed, logger=logger, module_factory=factory
        )

    def predict(
        self,
        model: nn.Module,
        data: QAFeatures,
        batch_size: int,
        runtime: Mapping[str, Any],
        force_cpu: bool = False,
        embedding_layer: int = -1,
    ) -> tuple[dict[str, np.ndarray], float]:
        """One pass over the windows, post-processed and scored per question.

        Returns:
            ``(arrays, seconds)``; arrays as listed in the module docstring.
        """
        from trusteq.models.lightning_runs import predict_batches
        from trusteq.qa.model import QuestionAnsweringModule, window_logits

        module = QuestionAnsweringModule(model.eval(), embedding_layer=embedding_layer)
        batches, order, seconds = predict_batches(module, data, batch_size, runtime, force_cpu)
        start, end = window_logits(batches, len(data))
        scores = score_split(data, start, end, self.settings)
        predictions = scores["predictions"]
        first = data.first_feature()
        arrays: dict[str, np.ndarray] = {}
        for key in ("embeddings_cls", "embeddings_mean"):
            by_window = torch.cat([b[key] for b in batches])[order].numpy().astype(np.float32)
            arrays[key] = by_window[np.maximum(first, 0)]
        arrays.update(
            {
                "exact_match": scores["exact_match"],
                "f1": scores["f1"],
                "confidence": predictions.confidence,
                "candidate_scores": predictions.candidate_scores,
                "null_score": predictions.null_score,
                "best_span_score": predictions.best_span_score,
                "has_answer": data.split.answerable.astype(np.int64),
                "answer_code": np.array(
                    [answer_code(text) for text in predictions.texts], dtype=np.int64
                ),
                **encode_texts(predictions.texts),
            }
        )
        return arrays, seconds

    # ------------------------------------------------------------------ compare
    def view(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The adapter: cached QA arrays plus ``targets``, ``preds``, ``probs``, ``logits``.

        See the module docstring for the encoding and why it is exact.
        """
        correct = np.asarray(arrays["exact_match"]) > 0.5
        confidence = np.asarray(arrays["confidence"], dtype=np.float64)
        probs = np.zeros((len(correct), 2))
        # A tiny floor keeps argmax != target for a wrong answer whose confidence underflowed.
        probs[correct, 0] = confidence[correct]
        probs[~correct, 1] = np.maximum(confidence[~correct], 1e-12)
        return {
            **arrays,
            "targets": np.zeros(len(correct), dtype=np.int64),
            "preds": np.where(correct, 0, np.asarray(arrays["answer_code"])).astype(np.int64),
            "probs": probs,
            "logits": np.asarray(arrays["candidate_scores"], dtype=np.float32),
        }

    def unary(self, outputs: Mapping[str, np.ndarray], n_bins: int = 10) -> dict[str, float]:
        """One model's unary metrics on a QA split (the adapter's view of its outputs).

        Returns:
            Every key of `trusteq.characteristics.unary.UNARY_KEYS` (``accuracy`` = exact
            match; macro-F1, Brier and NLL NaN, see :data:`SKIPPED_UNARY`), plus ``exact_match``,
            ``f1`` (official SQuAD 2.0 means, in [0, 1]), ``has_answer_exact`` / ``no_answer_exact``
            (exact match on answerable / unanswerable questions; NaN if none) and
            ``answered_rate`` (fraction answered with a non-empty span).
        """
        if "probs" not in outputs:
            outputs = self.view(outputs)
        probs, targets = outputs["probs"], outputs["targets"]
        exact = np.asarray(outputs["exact_match"], dtype=np.float64)
        has_answer = np.asarray(outputs["has_answer"]).astype(bool)
        answered = np.asarray(outputs["prediction_offsets"])
        metrics = {
            "accuracy": float(exact.mean()),
            "error_rate": float(1.0 - exact.mean()),
            "ece_equal_width": expected_calibration_error(probs, targets, n_bins, "equal_width"),
            "ece_equal_mass": expected_calibration_error(probs, targets, n_bins, "equal_mass"),
            "mce_equal_width": maximum_calibration_error(probs, targets, n_bins, "equal_width"),
            "mce_equal_mass": maximum_calibration_error(probs, targets, n_bins, "equal_mass"),
            "n_examples": float(len(exact)),
        }
        log_skipped_once()
        metrics.update(dict.fromkeys(SKIPPED_UNARY, float("nan")))
        ordered = {key: metrics[key] for key in UNARY_KEYS}
        ordered.update(
            {
                "exact_match": float(exact.mean()),
                "f1": float(np.mean(outputs["f1"])),
                "has_answer_exact": float(exact[has_answer].mean())
                if has_answer.any()
                else float("nan"),
                "no_answer_exact": float(exact[~has_answer].mean())
                if (~has_answer).any()
                else float("nan"),
                "answered_rate": float(np.mean(np.diff(answered) > 0)),
            }
        )
        return ordered


_SKIP_LOGGED = False


def log_skipped_once() -> None:
    """Log, once per process, which classification metrics QA skips and why."""
    global _SKIP_LOGGED
    if not _SKIP_LOGGED:
        for key, reason in SKIPPED_UNARY.items():
            log.info("QA: %s is not computed (%s); reported as NaN", key, reason)
        _SKIP_LOGGED = True

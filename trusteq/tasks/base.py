"""The Task protocol: what a study needs to know about the kind of problem it runs.

A task (``conf/task/<name>.yaml``) supplies the data features, the model head, fine-tuning,
one prediction pass, the compare-time view of cached arrays and the unary metrics, and declares
the *output kinds* its cached entries yield. The pipeline (``trusteq/pipeline``) calls only these
methods, so adding a task (e.g. token classification) is one module here plus one YAML, and never
touches the pipeline.

Output kinds are names of arrays (``preds``, ``probs``, ``embeddings_cls``...) plus capabilities
that are not arrays: ``class_distribution`` (``probs`` rows are a distribution over the C classes),
``text_inputs`` (examples are texts a producer can perturb or explain). Characteristics, producers
and analyses declare the kinds they need (``requires`` / ``requires_kinds``); a study that asks for
a kind its task does not yield is refused at construction, before any training.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from torch import nn

#: The capability kinds (not arrays) a task may declare.
CLASS_DISTRIBUTION = "class_distribution"
TEXT_INPUTS = "text_inputs"


class TaskConfigError(ValueError):
    """The task settings, or a study feature, do not fit the task; names the field and the fix."""


class Task(abc.ABC):
    """One kind of problem (classification, extractive QA).

    Attributes:
        name: the task's name (``conf/task/<name>.yaml``).
        output_kinds: arrays and capabilities the task's cached outputs provide (after
            :meth:`view`).
        split_type: the class of the data splits it reads (checked against the dataset).
    """

    name: ClassVar[str]
    output_kinds: ClassVar[frozenset[str]]

    def identity(self, training: bool = False) -> dict[str, Any]:
        """Settings that define a checkpoint (``training``) or an outputs entry (cache keys)."""
        return {"task": self.name}

    def check_dataset(self, dataset: Any) -> None:
        """Refuse a dataset source of another task.

        Raises:
            TaskConfigError: ``dataset.task`` names another task.
        """
        declared = getattr(dataset, "task", "classification")
        if declared != self.name:
            raise TaskConfigError(
                f"dataset {getattr(dataset, 'name', '?')!r} is a {declared} dataset but the "
                f"study's task is {self.name!r}. Fix: task={declared} (or pick another dataset)."
            )

    def check_variant(self, name: str, variant: Any) -> None:  # noqa: B027 (optional hook)
        """Refuse compression steps the task cannot run (default: every step is fine)."""

    @abc.abstractmethod
    def features(self, tokenizer: Any, split: Any, max_length: int) -> Any:
        """The model inputs of one split (a torch Dataset with ``lengths``)."""

    @abc.abstractmethod
    def initial_model(self, backbone: Any, num_labels: int) -> nn.Module:
        """The backbone with a fresh task head."""

    @abc.abstractmethod
    def load_finetuned(self, folder: Any) -> nn.Module:
        """A fine-tuned checkpoint folder written by this task."""

    @abc.abstractmethod
    def fine_tune(
        self,
        model: nn.Module,
        train: Any,
        validation: Any,
        recipe: Mapping[str, Any],
        runtime: Mapping[str, Any],
        seed: int,
        logger: Any = False,
        **distillation: Any,
    ) -> tuple[nn.Module, dict[str, float]]:
        """Fine-tune ``model``; return the best-epoch model and the training metrics."""

    @abc.abstractmethod
    def predict(
        self,
        model: nn.Module,
        data: Any,
        batch_size: int,
        runtime: Mapping[str, Any],
        force_cpu: bool = False,
        embedding_layer: int = -1,
    ) -> tuple[dict[str, np.ndarray], float]:
        """One prediction pass: ``(arrays to cache, seconds)``."""

    def view(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The compare-time view of cached arrays (what characteristics read)."""
        return dict(arrays)

    @abc.abstractmethod
    def unary(self, outputs: Mapping[str, np.ndarray], n_bins: int = 10) -> dict[str, float]:
        """One model's unary metrics on a split (from :meth:`view`)."""

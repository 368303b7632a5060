"""The producer seam of the infer stage: per-variant outputs beyond one prediction pass.

A producer (an explainer, an attack, ...) is a Hydra-instantiated object under `producers.<name>`.
It runs a variant's model on one split and returns arrays plus JSON-able records; the study caches
the result as `produced/<key>/`, keyed by the variant's model identity, the producer's `identity()`
(seeds and budgets included) and the split's fingerprint. Long producers may checkpoint finished
examples under `resume_dir` (kept across a killed run, deleted once the entry is published).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from trusteq.data import TextSplit


@dataclass(frozen=True)
class Consumed:
    """One cache entry a producer reads: producer `producer`'s entry of variant `variant`.

    Attributes:
        producer: the name under `producers.<name>` of the consumed producer.
        variant: whose entry is read; None = the variant being produced (the same model).
    """

    producer: str
    variant: str | None = None


class Producer(abc.ABC):
    """Base class of producers.

    Attributes:
        name: stable identifier.
        split: the split it runs on (held-out data only: `test`, `validation` or `ood_*`).
        needs_train_split: when True, `produce` also receives `train=` (the study's training
            split, e.g. for a helper model fitted to the study's texts) and `cache_dir=` (where
            such derived artefacts are cached by their own content key). The training split is
            already in the key of every fine-tuned model, hence of this producer's entries.
    """

    name: str = "producer"
    split: str = "test"
    needs_train_split: bool = False

    def consumes(self) -> list[Consumed]:
        """Entries of other producers this one reads.

        E.g. attack transfer reads the reference's adversarial texts. The infer stage makes them
        first and passes them to `produce` as `inputs[producer name] = (arrays, meta)`; their
        keys enter this producer's key.
        """
        return []

    def identity(self) -> dict[str, Any]:
        """Everything that defines the produced outputs (goes into the cache key)."""
        params = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {"producer": type(self).__name__, **params}

    @abc.abstractmethod
    def produce(
        self,
        model: nn.Module,
        tokenizer: Any,
        data: TextSplit,
        label_names: list[str],
        runtime: Mapping[str, Any],
        resume_dir: Path,
        inputs: Mapping[str, tuple[dict[str, np.ndarray], dict[str, Any]]] | None = None,
        train: TextSplit | None = None,
        cache_dir: Path | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Run on `data`; return `(arrays, records)` (records: JSON-able, stored in meta.json).

        `inputs` holds the entries named by :meth:`consumes`, by producer name; `train` and
        `cache_dir` are given when :attr:`needs_train_split` is True.
        """

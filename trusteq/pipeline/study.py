"""One study run through train → infer (the stages that run models), on one process.

`Study` bundles the workspace (plan, cache store, data, keys) with the per-process model cache,
so that `trusteq-study` and the tests drive the stages with one object. Compare does not use it:
it reads the manifest that :meth:`Study.infer` writes (`trusteq.compare.open_view`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from trusteq.pipeline import infer as infer_stage
from trusteq.pipeline import train as train_stage
from trusteq.pipeline.keys import OUTPUTS, PRODUCED
from trusteq.pipeline.models import Models
from trusteq.pipeline.plan import Plan
from trusteq.pipeline.workspace import Workspace


class Study:
    """A configured study. Cheap to build (validates the plan); data and models load lazily.

    Args:
        cfg: the composed config (`conf/study.yaml` plus an experiment and overrides).

    Raises:
        StudyConfigError: the study is inconsistent (see `trusteq.pipeline.plan.Plan`).
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.workspace = Workspace(cfg)
        self.plan: Plan = self.workspace.plan
        self.models = Models(self.workspace, checkpoint=self._checkpoint)
        self.workspace.store.clean_temporary()

    def _teacher_logits(self, teacher: str) -> np.ndarray:
        """A teacher's logits `(N, C)` on `train` (its outputs entry, made if missing)."""
        key = infer_stage.ensure_outputs(self.workspace, self.models, teacher, "train")
        return self.store.read_arrays(OUTPUTS, key)["logits"]

    def _checkpoint(self, name: str) -> Any:
        """Variant `name`'s checkpoint folder, fine-tuning it (and its lineage) if missing."""
        for dependency in self.plan.dependency_order(name):
            if self.plan.variants[dependency].finetune and dependency != name:
                train_stage.ensure_checkpoint(
                    self.workspace, self.models, dependency, self._teacher_logits
                )
        return train_stage.ensure_checkpoint(
            self.workspace, self.models, name, self._teacher_logits
        )

    # ------------------------------------------------------------------ shortcuts
    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def variants(self) -> dict[str, Any]:
        return self.plan.variants

    @property
    def reference(self) -> str:
        return self.plan.reference

    @property
    def store(self) -> Any:
        return self.workspace.store

    @property
    def data(self) -> Any:
        return self.workspace.data

    @property
    def keys(self) -> Any:
        return self.workspace.keys

    # ------------------------------------------------------------------ stages
    def train(self, only: str | list[str] | None = None, force: bool = False) -> None:
        """Stage 1: fine-tune every selected variant that fine-tunes (and their parents)."""
        train_stage.train(self.workspace, self.models, only, force, self._teacher_logits)

    def infer(self, only: str | list[str] | None = None, force: bool = False) -> dict[str, str]:
        """Stage 2: outputs entries, producer entries and the manifest part of each variant."""
        return infer_stage.infer(self.workspace, self.models, only, force)

    # ------------------------------------------------------------------ reading back
    def load_outputs(self, name: str, split: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The cached outputs of `name` on `split` through the task's view, and the entry's meta."""
        key = self.keys.outputs(name, split)
        arrays = self.store.read_arrays(OUTPUTS, key)
        return self.plan.task.view(arrays), self.store.read_meta(OUTPUTS, key)

    def load_produced(self, name: str, producer: str) -> tuple[dict[str, np.ndarray], dict]:
        """The cached entry of `producer` for `name` and its meta."""
        key = self.keys.produced(name, producer)
        return self.store.read_arrays(PRODUCED, key), self.store.read_meta(PRODUCED, key)

"""What the train and infer stages share: the plan, the cache, the loaded data and the keys."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from trusteq.outputs.store import OutputStore
from trusteq.pipeline.keys import Keys
from trusteq.pipeline.plan import Plan

log = logging.getLogger(__name__)


class Workspace:
    """A study's plan, cache store and (lazily) data and keys.

    Args:
        cfg: the composed config.
        plan: an already validated plan (built from `cfg` when None).
    """

    def __init__(self, cfg: DictConfig, plan: Plan | None = None) -> None:
        self.cfg = cfg
        self.plan = plan or Plan(cfg)
        self.store = OutputStore(Path(cfg.paths.cache_dir).resolve())
        runtime = self.plan.runtime
        if runtime.get("num_threads"):
            torch.set_num_threads(int(runtime["num_threads"]))

    @cached_property
    def dataset(self) -> Any:
        """The dataset source (its config instantiated; nothing read yet)."""
        source = instantiate(self.cfg.dataset)
        self.plan.task.check_dataset(source)
        return source

    @cached_property
    def data(self) -> Any:
        """The loaded splits, checked against what the plan needs (before any training)."""
        data = self.dataset.load()
        self.plan.check_data(list(data.splits))
        return data

    @property
    def label_names(self) -> list[str]:
        return list(self.data.label_names)

    @cached_property
    def keys(self) -> Keys:
        """The study's cache keys (pure functions of the plan and the data)."""
        fingerprints = {name: split.fingerprint() for name, split in self.data.splits.items()}
        return Keys(self.plan, self.dataset, fingerprints, len(self.data.label_names))

    def features(self, tokenizer: Any, split: str) -> Any:
        """Model inputs of `split` at the recipe's `max_length` (the task's featuriser)."""
        return self.plan.task.features(
            tokenizer, self.data[split], int(self.plan.recipe["max_length"])
        )

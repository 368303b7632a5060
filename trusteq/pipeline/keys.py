"""Cache keys: pure functions of declared identity.

A key is the sha256 (`trusteq.outputs.keys.content_key`) of what defines an entry and of nothing
else. What defines it:

- a **checkpoint** (fine-tuned weights): the backbone's identity (id or package, weights digest)
  or the parent's model key, the teacher's model key, the compression steps in order, the seed,
  the recipe, the number of labels, the dataset's source identity and the fingerprints of the
  `train` and `validation` splits it was fit on, the task's training settings;
- a **model** that does not fine-tune: its parent's model key and its steps;
- an **outputs** entry: the model key, the dataset's source identity, the split name and its
  fingerprint, the tokenisation length, the embedding layer, the task's settings;
- a **produced** entry: the model key, the producer's identity, the dataset's source identity,
  the fingerprint of the producer's split, the tokenisation length, and the keys of every entry
  it consumes.

Never part of a key: subsampling settings (the fingerprint of the split an entry covers already
says which examples it holds, so `dataset.subsample.test` cannot move a checkpoint), runtime knobs
(batch size, threads, device, latency, progress bars), and whether any file exists on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from trusteq.outputs.keys import content_key
from trusteq.pipeline.plan import Plan

CHECKPOINT = "checkpoints"
OUTPUTS = "outputs"
PRODUCED = "produced"


def source_identity(dataset: Any) -> dict[str, Any]:
    """The dataset's identity without its OOD-only fields and without subsampling.

    Subsampling shapes which examples a split holds; each key adds the fingerprint of the split
    it covers instead, so a test-set subsample never reaches a checkpoint key.
    """
    identity = dict(dataset.identity(include_ood=False))
    identity.pop("subsample", None)
    identity.pop("subsample_seed", None)
    return identity


class Keys:
    """The cache keys of one study, computed from the plan and the loaded data only.

    Args:
        plan: the validated study.
        dataset: its dataset source (for the source identity).
        fingerprints: split name → fingerprint of the loaded split.
        num_labels: number of classes.
    """

    def __init__(
        self, plan: Plan, dataset: Any, fingerprints: Mapping[str, str], num_labels: int
    ) -> None:
        self.plan = plan
        self.dataset = dataset
        self.fingerprints = dict(fingerprints)
        self.num_labels = int(num_labels)
        self._models: dict[str, str] = {}

    @cached_property
    def data_identity(self) -> dict[str, Any]:
        """See :func:`source_identity`."""
        return source_identity(self.dataset)

    @property
    def max_length(self) -> int:
        return int(self.plan.recipe["max_length"])

    def checkpoint(self, name: str) -> str:
        """Key of the fine-tuned weights of variant `name` (which must fine-tune)."""
        variant = self.plan.variants[name]
        source: dict[str, Any] = (
            {"parent_model": self.model(variant.parent)}
            if variant.parent
            else {"backbone": variant.backbone.identity()}
        )
        if variant.teacher:  # a distilled student depends on its teacher's exact weights
            source["teacher_model"] = self.model(variant.teacher)
        return content_key(
            CHECKPOINT,
            {
                **source,
                "steps": variant.step_identity(),
                "seed": variant.seed,
                "recipe": self.plan.recipe_for(name),
                "num_labels": self.num_labels,
                "dataset": self.data_identity,
                "train": self.fingerprints["train"],
                "validation": self.fingerprints["validation"],
                "task": self.plan.task.identity(training=True),
            },
        )

    def model(self, name: str) -> str:
        """Identity of variant `name`'s final weights (a checkpoint key, or parent + steps)."""
        if name not in self._models:
            variant = self.plan.variants[name]
            self._models[name] = (
                self.checkpoint(name)
                if variant.finetune
                else content_key(
                    "model",
                    {"parent": self.model(variant.parent), "steps": variant.step_identity()},
                )
            )
        return self._models[name]

    def outputs(self, name: str, split: str) -> str:
        """Key of the outputs entry of variant `name` on `split`."""
        return content_key(
            OUTPUTS,
            {
                "model": self.model(name),
                "dataset": self.data_identity,
                "split": split,
                "data": self.fingerprints[split],
                "max_length": self.max_length,
                "embedding_layer": int(self.plan.cfg.infer.embedding_layer),
                "task": self.plan.task.identity(training=False),
            },
        )

    def produced(self, name: str, producer: str) -> str:
        """Key of producer `producer`'s entry for variant `name` (consumed entries included)."""
        spec = self.plan.producers[producer]
        consumed = [
            {
                "producer": item.producer,
                "variant": item.variant or name,
                "key": self.produced(item.variant or name, item.producer),
            }
            for item in spec.consumes()
        ]
        return content_key(
            PRODUCED,
            {
                "model": self.model(name),
                "producer": spec.identity(),
                "dataset": self.data_identity,
                "data": self.fingerprints[spec.split],
                "max_length": self.max_length,
                **({"consumes": consumed} if consumed else {}),
            },
        )

"""Stage 1, train: fine-tune (or distil) every variant that fine-tunes, into checkpoint entries.

A checkpoint entry holds the `save_pretrained` folder (weights + tokenizer) and a `meta.json` with
the recipe, the training metrics and the provenance. Variants are made in dependency order
(parents and teachers first: their weights define the child's key). With `force` the new entry is
built completely before it replaces the old one, so a failed retraining loses nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trusteq.compression.base import CompressionContext
from trusteq.compression.pruning import pin_zero_weights, remove_pruning_masks
from trusteq.data.fetch import sha256_file
from trusteq.pipeline.keys import CHECKPOINT, OUTPUTS
from trusteq.pipeline.provenance import git_sha, library_versions
from trusteq.pipeline.workspace import Workspace

log = logging.getLogger(__name__)


class Models:
    """Every variant's final model, built at most once per process.

    Fine-tunes what is missing (through :func:`ensure_checkpoint`), applies compression steps to
    a copy of the parent's model, and memoises the result, so infer's splits and producers share
    one model per variant.

    Args:
        workspace: the study's shared state.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._built: dict[str, tuple[nn.Module, Any]] = {}
        self.builds: dict[str, int] = {}  # variant → times built (tests: once per process)

    def get(self, name: str) -> tuple[nn.Module, Any]:
        """Variant `name`'s final model (eval mode) and tokenizer."""
        if name not in self._built:
            self._built[name] = self._build(name)
            self.builds[name] = self.builds.get(name, 0) + 1
        return self._built[name]

    def forget(self, name: str) -> None:
        """Drop a memoised model (after its checkpoint was retrained)."""
        self._built.pop(name, None)

    def _build(self, name: str) -> tuple[nn.Module, Any]:
        from transformers import AutoTokenizer

        variant = self.ws.plan.variants[name]
        if variant.finetune:
            folder = ensure_checkpoint(self.ws, self, name)
            model = self.ws.plan.task.load_finetuned(folder)
            return model.eval(), AutoTokenizer.from_pretrained(folder)
        model, tokenizer = initial_model(self.ws, self, name)
        return model.eval(), tokenizer


def initial_model(ws: Workspace, models: Models, name: str) -> tuple[nn.Module, Any]:
    """The model variant `name` starts from, with its compression steps applied."""
    import copy

    variant = ws.plan.variants[name]
    if variant.parent:
        parent, tokenizer = models.get(variant.parent)
        model = copy.deepcopy(parent)  # steps change weights in place; the parent stays intact
    else:
        tokenizer = variant.backbone.load_tokenizer()
        model = ws.plan.task.initial_model(variant.backbone, len(ws.label_names))
    context = None
    if any(getattr(method, "requires_data", False) for _, method, _ in variant.steps):
        context = CompressionContext(
            calibration=ws.features(tokenizer, "validation"), seed=variant.seed
        )
    for step, method, _ in variant.steps:
        log.info("[%s] compression step %s: %s", name, step, type(method).__name__)
        model = method.apply(model, context)
    return model, tokenizer


def ensure_checkpoint(ws: Workspace, models: Models, name: str, force: bool = False) -> Path:
    """Fine-tune variant `name` unless its checkpoint entry exists; returns its folder.

    Its parent and teacher are made first. A variant whose lineage pruned weights keeps them at
    zero during fine-tuning (pinned by masks); a variant with a teacher is distilled from the
    teacher's logits on `train` (an outputs entry, made if missing).
    """
    from trusteq.pipeline.infer import ensure_outputs  # infer builds on train, not the reverse

    plan, store = ws.plan, ws.store
    variant = plan.variants[name]
    key = ws.keys.checkpoint(name)
    if store.exists(CHECKPOINT, key) and not force:
        log.debug("[%s] checkpoint cached: %s", name, key)
        return store.path(CHECKPOINT, key)
    distillation: dict[str, Any] = {}
    if variant.teacher:
        teacher_key = ensure_outputs(ws, models, variant.teacher, "train")
        method = variant.distillation
        distillation = {
            "teacher_logits": store.read_arrays(OUTPUTS, teacher_key)["logits"],
            "temperature": method.temperature,
            "alpha": method.alpha,
        }
    torch.manual_seed(variant.seed)  # the fresh head's initialisation
    model, tokenizer = initial_model(ws, models, name)
    pinned = pin_zero_weights(model) if plan.pins_zeros(name) else 0
    log.info(
        "[%s] %s (%s)%s",
        name,
        f"distilling from {variant.teacher}" if variant.teacher else "fine-tuning",
        key,
        f", {pinned} pruned weights pinned at zero" if pinned else "",
    )
    from trusteq.tracking.mlflow_tracking import lightning_logger

    recipe = plan.recipe_for(name)
    model, metrics = plan.task.fine_tune(
        model,
        ws.features(tokenizer, "train"),
        ws.features(tokenizer, "validation"),
        recipe,
        plan.runtime,
        variant.seed,
        logger=lightning_logger(
            ws.cfg,
            run_name=f"{plan.name}/train/{name}",
            tags={
                "trusteq.study": plan.name,
                "trusteq.variant": name,
                "trusteq.stage": "train",
                "trusteq.cache_key": key,
                "trusteq.git_sha": git_sha() or "",
            },
            params={"seed": variant.seed, **{f"train.{k}": v for k, v in recipe.items()}},
        ),
        **distillation,
    )
    remove_pruning_masks(model)
    meta = {
        "variant": name,
        "study": plan.name,
        "train_metrics": metrics,
        "steps": variant.step_identity(),
        "teacher": variant.teacher,
        "recipe": recipe,
        "pinned_zero_weights": pinned,
        "git_sha": git_sha(),
        "versions": library_versions(),
    }
    with store.building(CHECKPOINT, key, meta, replace=force) as folder:
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        meta["weights_sha256"] = sha256_file(folder / "model.safetensors")
    models.forget(name)
    return store.path(CHECKPOINT, key)


def train(ws: Workspace, models: Models, only: str | list[str] | None, force: bool) -> None:
    """Fine-tune every selected variant that fine-tunes (and what it depends on)."""
    for name in ws.plan.selected(only):
        for dependency in ws.plan.dependency_order(name):
            if ws.plan.variants[dependency].finetune:
                ensure_checkpoint(ws, models, dependency, force=force and dependency == name)

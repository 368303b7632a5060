"""Stage 1, train: fine-tune (or distil) every variant that fine-tunes, into checkpoint entries.

A checkpoint entry holds the `save_pretrained` folder (weights + tokenizer) and a `meta.json` with
the recipe, the training metrics and the provenance. Variants are made in dependency order
(parents and teachers first: their weights define the child's key). With `force` the new entry is
built completely before it replaces the old one, so a failed retraining loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trusteq.compression.pruning import pin_zero_weights, remove_pruning_masks
from trusteq.data.fetch import sha256_file
from trusteq.outputs.provenance import git_sha, library_versions
from trusteq.pipeline.keys import CHECKPOINT
from trusteq.pipeline.models import Models, initial_model
from trusteq.pipeline.workspace import Workspace

log = logging.getLogger(__name__)


def ensure_checkpoint(
    ws: Workspace,
    models: Models,
    name: str,
    teacher_logits: Callable[[str], np.ndarray],
    force: bool = False,
) -> Path:
    """Fine-tune variant `name` unless its checkpoint entry exists; returns its folder.

    A variant whose lineage pruned weights keeps them at zero during fine-tuning (pinned by
    masks); a variant with a teacher is distilled from `teacher_logits(teacher)`, the teacher's
    logits `(N, C)` on `train` (an outputs entry made by the infer stage; the caller wires it).
    """
    plan, store = ws.plan, ws.store
    variant = plan.variants[name]
    key = ws.keys.checkpoint(name)
    if store.exists(CHECKPOINT, key) and not force:
        log.debug("[%s] checkpoint cached: %s", name, key)
        store.verify(CHECKPOINT, key)  # altered weights are an error, never served
        return store.path(CHECKPOINT, key)
    distillation: dict[str, Any] = {}
    if variant.teacher:
        method = variant.distillation
        distillation = {
            "teacher_logits": teacher_logits(variant.teacher),
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
    train_features = ws.features(tokenizer, "train")
    validation_features = ws.features(tokenizer, "validation")
    logger = lightning_logger(
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
    )
    try:
        model, metrics = plan.task.fine_tune(
            model,
            train_features,
            validation_features,
            recipe,
            plan.runtime,
            variant.seed,
            logger=logger,
            **distillation,
        )
    except BaseException as error:
        # The run exists from the moment its params were logged: end it whatever stopped us
        # (SIGTERM / Ctrl-C before Lightning's own handler is in place, a bad batch...).
        if logger:
            killed = not isinstance(error, Exception)
            logger.finalize("KILLED" if killed else "failed")
        raise
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


def train(
    ws: Workspace,
    models: Models,
    only: str | list[str] | None,
    force: bool,
    teacher_logits: Callable[[str], np.ndarray],
) -> None:
    """Fine-tune every selected variant that fine-tunes (and what it depends on), in order."""
    for name in ws.plan.selected(only):
        for dependency in ws.plan.dependency_order(name):
            if ws.plan.variants[dependency].finetune:
                ensure_checkpoint(
                    ws, models, dependency, teacher_logits, force=force and dependency == name
                )

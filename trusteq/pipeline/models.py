"""Every variant's final model, built at most once per process (shared by splits and producers)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from trusteq.compression.base import CompressionContext
from trusteq.pipeline.workspace import Workspace

log = logging.getLogger(__name__)


class Models:
    """Every variant's final model, built at most once per process.

    A variant that fine-tunes is loaded from its checkpoint folder (`checkpoint(name)` makes it
    when missing: the train stage); one that does not is its parent's model (a copy) with its
    compression steps applied. Results are memoised, so infer's splits and producers share one
    model per variant.

    Args:
        workspace: the study's shared state.
        checkpoint: variant name → its checkpoint folder, fine-tuning it first if needed.
    """

    def __init__(self, workspace: Workspace, checkpoint: Callable[[str], Path]) -> None:
        self.ws = workspace
        self.checkpoint = checkpoint
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

        if self.ws.plan.variants[name].finetune:
            folder = self.checkpoint(name)
            model = self.ws.plan.task.load_finetuned(folder)
            return model.eval(), AutoTokenizer.from_pretrained(folder)
        model, tokenizer = initial_model(self.ws, self, name)
        return model.eval(), tokenizer


def initial_model(ws: Workspace, models: Models, name: str) -> tuple[nn.Module, Any]:
    """The model variant `name` starts from, with its compression steps applied."""
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

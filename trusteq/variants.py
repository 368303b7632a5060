"""Variants: the reference model and its compressed versions, as declared in `study.variants`.

A variant either fine-tunes a pretrained backbone (after optional compression steps such as layer
dropping) or takes another variant's fine-tuned model (`parent`) and compresses it (int8
quantization, pruning), optionally fine-tuning again (recovery). Step order is part of its identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from trusteq.compression.base import Compression
from trusteq.models.backbone import Backbone


class StudyConfigError(ValueError):
    """`study.variants` is inconsistent; the message names the field and the fix."""


@dataclass
class Variant:
    """One model of a study.

    Attributes:
        name: the key under `study.variants`.
        backbone: pretrained weights (used when `parent` is None).
        parent: name of the variant whose fine-tuned model is compressed, or None.
        seed: fine-tuning seed (head initialisation, data order, dropout).
        steps: compression steps applied in order: `(step name, method, its config)`.
        finetune: whether the (compressed) model is fine-tuned.
        description: free text for tables.
    """

    name: str
    backbone: Backbone
    parent: str | None
    seed: int
    steps: list[tuple[str, Compression, dict[str, Any]]] = field(default_factory=list)
    finetune: bool = True
    description: str = ""

    def step_identity(self) -> list[dict[str, Any]]:
        """JSON-able description of the compression steps, in order."""
        return [{"step": name, **method.identity()} for name, method, _ in self.steps]

    @property
    def requires_cpu(self) -> bool:
        """True when a step produces CPU-only kernels (dynamic int8 quantization)."""
        return any(getattr(method, "requires_cpu", False) for _, method, _ in self.steps)


_KNOWN_FIELDS = {"model", "parent", "seed", "compression", "finetune", "description"}


def build_variants(cfg: DictConfig) -> dict[str, Variant]:
    """Instantiate and validate every entry of `cfg.study.variants`.

    Raises:
        StudyConfigError: an unknown field, a missing or cyclic parent, no reference variant, or a
            compression config that fails its own validation.
    """
    declared: Mapping[str, Any] = cfg.study.variants or {}
    if not declared:
        raise StudyConfigError(
            "study.variants is empty: declare at least the reference, e.g. "
            "study.variants.reference={seed: 42} (see conf/experiment/quickstart.yaml)."
        )
    default_backbone: Backbone = instantiate(cfg.model)
    variants: dict[str, Variant] = {}
    for name, spec in declared.items():
        spec = spec or {}
        unknown = set(spec.keys()) - _KNOWN_FIELDS
        if unknown:
            raise StudyConfigError(
                f"study.variants.{name}: unknown field(s) {sorted(unknown)}; "
                f"allowed: {sorted(_KNOWN_FIELDS)}."
            )
        steps = []
        for step_name, step_cfg in (spec.get("compression") or {}).items():
            try:
                method = instantiate(step_cfg)
            except Exception as error:  # hydra wraps the constructor's own error
                cause = error.__cause__ or error
                raise StudyConfigError(
                    f"study.variants.{name}.compression.{step_name}: {cause}"
                ) from error
            steps.append((str(step_name), method, OmegaConf.to_container(step_cfg, resolve=True)))
        parent = spec.get("parent")
        finetune = spec.get("finetune")
        variants[name] = Variant(
            name=str(name),
            backbone=instantiate(spec.model) if spec.get("model") else default_backbone,
            parent=str(parent) if parent else None,
            seed=int(spec.get("seed", cfg.seed)),
            steps=steps,
            finetune=(parent is None) if finetune is None else bool(finetune),
            description=str(spec.get("description") or ""),
        )
    reference = cfg.study.reference
    if reference not in variants:
        raise StudyConfigError(
            f"study.reference={reference!r} is not a declared variant; "
            f"declared: {sorted(variants)}."
        )
    for name in variants:
        _check_lineage(name, variants)
    # Reference first, then its seed replicate, then the rest as declared: the order of tables.
    first = [reference, *([cfg.study.noise_floor] if cfg.study.get("noise_floor") else [])]
    if first[-1] not in variants:
        raise StudyConfigError(
            f"study.noise_floor={first[-1]!r} is not a declared variant; declared: "
            f"{sorted(variants)}."
        )
    return {name: variants[name] for name in [*first, *(n for n in variants if n not in first)]}


def _check_lineage(name: str, variants: Mapping[str, Variant]) -> None:
    seen = [name]
    parent = variants[name].parent
    while parent is not None:
        if parent not in variants:
            raise StudyConfigError(
                f"study.variants.{seen[-1]}.parent={parent!r} is not a declared variant; "
                f"declared: {sorted(variants)}."
            )
        if parent in seen:
            raise StudyConfigError(f"study.variants: parent cycle {' -> '.join([*seen, parent])}.")
        seen.append(parent)
        parent = variants[parent].parent

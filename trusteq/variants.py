"""Variants: the reference model and its compressed versions, as declared in `study.variants`.

A variant either fine-tunes a pretrained backbone (after optional compression steps such as layer
dropping) or takes another variant's fine-tuned model (`parent`) and compresses it (int8
quantization, pruning, ONNX Runtime), optionally fine-tuning again (recovery, with its own `train`
overrides such as a step budget). A variant that declares a `teacher` and a distillation step is
trained on that teacher's soft labels. Step order, the parent chain and the teacher are part of its
identity and so of its cache keys.

Validation happens here, when the config is instantiated, so that a bad sweep fails before any
training: unknown fields, missing or cyclic parents/teachers, steps that cannot follow each other
(nothing after a quantization step), settings that do not fit the backbone's shape (more heads or
layers than exist; checked from its `config.json` when that can be read offline).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from trusteq.compression.base import Architecture, Compression, CompressionConfigError
from trusteq.models.backbone import Backbone

log = logging.getLogger(__name__)


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
        teacher: name of the variant whose logits it is distilled from, or None.
        train: overrides of the study's `train` recipe for this variant's fine-tuning (e.g.
            `{max_steps: 60}` for a short recovery run); part of its checkpoint key.
    """

    name: str
    backbone: Backbone
    parent: str | None
    seed: int
    steps: list[tuple[str, Compression, dict[str, Any]]] = field(default_factory=list)
    finetune: bool = True
    description: str = ""
    teacher: str | None = None
    train: dict[str, Any] = field(default_factory=dict)

    def step_identity(self) -> list[dict[str, Any]]:
        """JSON-able description of the compression steps, in order."""
        return [{"step": name, **method.identity()} for name, method, _ in self.steps]

    @property
    def requires_cpu(self) -> bool:
        """True when a step produces CPU-only kernels (int8 quantization, ONNX Runtime)."""
        return any(getattr(method, "requires_cpu", False) for _, method, _ in self.steps)

    @property
    def final(self) -> bool:
        """True when a step's result takes no further step and no fine-tuning (quantized)."""
        return any(getattr(method, "final", False) for _, method, _ in self.steps)

    @property
    def distillation(self) -> Compression | None:
        """The step that makes fine-tuning a distillation, if any."""
        return next((m for _, m, _ in self.steps if getattr(m, "objective", False)), None)

    def dependencies(self) -> list[str]:
        """Variants whose models this one needs: its parent and its teacher."""
        return [name for name in (self.parent, self.teacher) if name]


_KNOWN_FIELDS = {
    "model",
    "parent",
    "seed",
    "compression",
    "finetune",
    "description",
    "teacher",
    "train",
}


def build_variants(cfg: DictConfig) -> dict[str, Variant]:
    """Instantiate and validate every entry of `cfg.study.variants`.

    Raises:
        StudyConfigError: an unknown field, a missing or cyclic parent or teacher, no reference
            variant, steps in an impossible order, or a compression config that fails its own
            validation (also against the backbone's shape).
    """
    declared: Mapping[str, Any] = cfg.study.variants or {}
    if not any(spec is not None for spec in declared.values()):
        raise StudyConfigError(
            "study.variants is empty: declare at least the reference, e.g. "
            "study.variants.reference={seed: 42} (see conf/experiment/quickstart.yaml)."
        )
    default_backbone: Backbone = instantiate(cfg.model)
    variants: dict[str, Variant] = {}
    for name, spec in declared.items():
        if spec is None:  # `study.variants.<name>=null` switches a declared variant off
            continue
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
        train = spec.get("train") or {}
        unknown_recipe = set(train) - set(cfg.train) - {"max_steps"}
        if unknown_recipe:
            raise StudyConfigError(
                f"study.variants.{name}.train: unknown recipe field(s) {sorted(unknown_recipe)}; "
                f"allowed: {sorted({*cfg.train, 'max_steps'})}."
            )
        variants[name] = Variant(
            name=str(name),
            backbone=instantiate(spec.model) if spec.get("model") else default_backbone,
            parent=str(parent) if parent else None,
            seed=int(spec.get("seed", cfg.seed)),
            steps=steps,
            finetune=(parent is None) if finetune is None else bool(finetune),
            description=str(spec.get("description") or ""),
            teacher=str(spec.teacher) if spec.get("teacher") else None,
            train=OmegaConf.to_container(train, resolve=True) if train else {},
        )
    reference = cfg.study.reference
    if reference not in variants:
        raise StudyConfigError(
            f"study.reference={reference!r} is not a declared variant; "
            f"declared: {sorted(variants)}."
        )
    for name in variants:
        _check_lineage(name, variants)
        _check_steps(variants[name], variants)
    _check_shapes(variants)
    # Reference first, then its seed replicate, then the rest as declared: the order of tables.
    first = [reference, *([cfg.study.noise_floor] if cfg.study.get("noise_floor") else [])]
    if first[-1] not in variants:
        raise StudyConfigError(
            f"study.noise_floor={first[-1]!r} is not a declared variant; declared: "
            f"{sorted(variants)}."
        )
    return {name: variants[name] for name in [*first, *(n for n in variants if n not in first)]}


def _check_lineage(name: str, variants: Mapping[str, Variant]) -> None:
    """Parents and teachers exist and form no cycle (depth-first over both kinds of edge)."""

    def visit(current: str, path: list[str]) -> None:
        for kind in ("parent", "teacher"):
            target = getattr(variants[current], kind)
            if target is None:
                continue
            if target not in variants:
                raise StudyConfigError(
                    f"study.variants.{current}.{kind}={target!r} is not a declared variant; "
                    f"declared: {sorted(variants)}."
                )
            if target in path:
                cycle = [*path[path.index(target) :], target]
                raise StudyConfigError(f"study.variants: {kind} cycle {' -> '.join(cycle)}.")
            visit(target, [*path, target])

    visit(name, [name])


def _check_steps(variant: Variant, variants: Mapping[str, Variant]) -> None:
    """Steps that cannot be combined fail here, naming the field."""
    where = f"study.variants.{variant.name}"
    for index, (step, method, _) in enumerate(variant.steps):
        if getattr(method, "final", False) and index < len(variant.steps) - 1:
            raise StudyConfigError(
                f"{where}.compression.{step}: {type(method).__name__} must be the last step "
                "(its result is quantized and takes no further compression). Fix: move the "
                "later steps before it."
            )
    if variant.finetune and variant.final:
        raise StudyConfigError(
            f"{where}: a quantized model cannot be fine-tuned. Fix: finetune: false, or quantize "
            f"in a child variant (parent: {variant.name})."
        )
    if variant.parent and variants[variant.parent].final:
        raise StudyConfigError(
            f"{where}.parent={variant.parent!r}: that variant ends with a quantization step, "
            "which takes no further compression or fine-tuning. Fix: use the unquantized "
            "variant as parent."
        )
    distillation = variant.distillation
    if variant.teacher and distillation is None:
        raise StudyConfigError(
            f"{where}.teacher={variant.teacher!r} needs a distillation step, e.g. "
            f"/compression@study.variants.{variant.name}.compression.distil: distillation."
        )
    if distillation is not None and not variant.teacher:
        raise StudyConfigError(
            f"{where}: the distillation step needs a teacher. Fix: "
            f"study.variants.{variant.name}.teacher=<a variant name, e.g. the reference>."
        )
    if distillation is not None and not variant.finetune:
        raise StudyConfigError(f"{where}: distillation trains the model; set finetune: true.")
    if variant.train and not variant.finetune:
        raise StudyConfigError(
            f"{where}.train: this variant does not fine-tune (finetune: false), so recipe "
            "overrides have no effect. Fix: remove them or set finetune: true."
        )


def _check_shapes(variants: Mapping[str, Variant]) -> None:
    """Validate every step against the backbone's shape, following parent chains.

    The shape comes from the backbone's `config.json`; a backbone whose config cannot be read here
    (a hub id on an offline machine) is skipped: its steps are then validated when applied.
    """
    configs: dict[str, Architecture | None] = {}
    shapes: dict[str, Architecture | None] = {}

    def root_shape(backbone: Backbone) -> Architecture | None:
        key = repr(backbone.identity())
        if key not in configs:
            try:
                configs[key] = Architecture.from_config(backbone.load_config())
            except Exception as error:  # offline hub id, missing package: validated on apply
                log.debug("cannot read the config of %s: %s", backbone.identity(), error)
                configs[key] = None
        return configs[key]

    def shape(name: str) -> Architecture | None:
        if name not in shapes:
            variant = variants[name]
            current = shape(variant.parent) if variant.parent else root_shape(variant.backbone)
            for step, method, _ in variant.steps:
                if current is None:
                    break
                try:
                    current = method.check(current)
                except CompressionConfigError as error:
                    raise StudyConfigError(
                        f"study.variants.{name}.compression.{step}: {error}"
                    ) from error
            shapes[name] = current
        return shapes[name]

    for name in variants:
        shape(name)

"""The plan of a study: its variants as a graph, its task, producers and analyses, validated.

Building a :class:`Plan` is cheap (no data, no weights) and refuses, before any training, every
combination that cannot run: unknown or cyclic variants (`trusteq.variants`), a characteristic,
producer or analysis that needs an output kind the task does not yield, a producer that consumes an
undeclared producer, and (:meth:`Plan.check_data`, once the data are loaded, still before any
training) a split an analysis or producer needs that the dataset does not have.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from trusteq.characteristics.base import CharacteristicFamily
from trusteq.tasks.base import TEXT_INPUTS, Task
from trusteq.variants import StudyConfigError, Variant, build_variants

log = logging.getLogger(__name__)

__all__ = ["Plan", "StudyConfigError", "study_digest"]

#: Top-level config sections that define what a study's entries hold (the manifest digest).
_DEFINING = ("model", "dataset", "train", "task", "producers", "seed")
#: Keys that never define results wherever they appear (runtime knobs and folders).
_RUNTIME_KEYS = {"batch_size", "progress", "cache_dir", "data_dir", "num_workers", "device"}


def _defining(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _defining(v) for k, v in value.items() if k not in _RUNTIME_KEYS}
    if isinstance(value, list):
        return [_defining(v) for v in value]
    return value


def study_digest(cfg: DictConfig) -> str:
    """A digest of the config sections that define a study's cache entries.

    Computed from the config alone (no data, no weights), so compare can find the manifest that
    infer wrote for the same study. Runtime knobs (batch sizes, progress bars, devices, folders,
    `variant=`, `force`, compare and logger settings) are left out: a sweep job that infers one
    variant writes under the same digest as the whole study.
    """
    from trusteq.outputs.keys import content_key

    resolved = OmegaConf.to_container(cfg, resolve=True)
    ingredients = {key: _defining(resolved.get(key)) for key in _DEFINING}
    study = resolved.get("study") or {}
    ingredients["study"] = _defining(
        {k: study.get(k) for k in ("name", "reference", "noise_floor", "seeds", "variants")}
    )
    ingredients["embedding_layer"] = (resolved.get("infer") or {}).get("embedding_layer")
    return content_key("study", ingredients, length=16)


class Plan:
    """A validated study configuration.

    Args:
        cfg: the composed config (`conf/study.yaml` plus an experiment and overrides).

    Raises:
        StudyConfigError: no experiment/variants, an inconsistent variant graph, or a component
            that needs an output kind the task does not yield (the message names the field and
            the fix).
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        if not cfg.study.get("variants"):
            raise StudyConfigError(
                "study.variants is empty: no study was selected. Pick one, e.g. "
                "`trusteq-study experiment=quickstart` (the offline quick-start) or "
                "`experiment=standard` (reference, seed replicates, int8, pruned) for your own "
                "data; experiments are in conf/experiment/."
            )
        if cfg.study.get("name") in (None, "", "???"):
            raise StudyConfigError("study.name is not set. Fix: study.name=<a name>.")
        self.name = str(cfg.study.name)
        try:
            self.task: Task = instantiate(cfg.task)
        except Exception as error:  # Hydra wraps the constructor's own message
            cause = error.__cause__ or error
            raise StudyConfigError(f"task={cfg.task.get('_target_', '?')}: {cause}") from error
        self.variants: dict[str, Variant] = build_variants(cfg)
        self.reference = str(cfg.study.reference)
        self.noise_floor: str | None = cfg.study.get("noise_floor")
        self.seeds: list[str] = self._seed_population()
        for name, variant in self.variants.items():
            self.task.check_variant(name, variant)
        self.producers: dict[str, Any] = {
            str(name): instantiate(spec)
            for name, spec in (cfg.get("producers") or {}).items()
            if spec is not None  # `producers.<name>=null` switches one off
        }
        self.analyses: dict[str, Any] = {
            str(name): instantiate(spec)
            for name, spec in (cfg.get("analyses") or {}).items()
            if spec is not None  # `analyses.<name>=null` switches one off
        }
        self._check_kinds()

    def _seed_population(self) -> list[str]:
        """The reference and its seed replicates (`study.seeds`, else reference + noise floor)."""
        declared = list(self.cfg.study.get("seeds") or [])
        if not declared:
            declared = [self.reference] + ([self.noise_floor] if self.noise_floor else [])
        if self.reference not in declared:
            declared = [self.reference, *declared]
        unknown = [name for name in declared if name not in self.variants]
        if unknown:
            raise StudyConfigError(
                f"study.seeds names {unknown}, which are not declared variants; declared: "
                f"{sorted(self.variants)}."
            )
        return [str(name) for name in declared]

    # ------------------------------------------------------------------ checks
    def _check_kinds(self) -> None:
        kinds = self.task.output_kinds
        where = f"task={self.task.name}"
        for key, spec in (self.cfg.get("characteristics") or {}).items():
            if spec is None:
                continue
            members = instantiate(spec)
            for member in members if isinstance(members, CharacteristicFamily) else [members]:
                needed = set(member.requires) | set(getattr(member, "requires_kinds", ()))
                missing = sorted(needed - kinds)
                if missing:
                    raise StudyConfigError(
                        f"characteristics.{key}: needs output kinds {missing}, which {where} "
                        f"does not yield (it yields {sorted(kinds)}). Fix: "
                        f"~characteristics.{key} on the command line, or another task."
                    )
        for name, producer in self.producers.items():
            needed = set(getattr(producer, "requires_kinds", (TEXT_INPUTS,)))
            missing = sorted(needed - kinds)
            if missing:
                raise StudyConfigError(
                    f"producers.{name} ({type(producer).__name__}): needs {missing}, which "
                    f"{where} does not yield. Fix: producers.{name}=null, or a "
                    "classification dataset."
                )
            for consumed in producer.consumes():
                if consumed.producer not in self.producers:
                    raise StudyConfigError(
                        f"producers.{name}: consumes producers.{consumed.producer}, which the "
                        f"study does not declare (declared: {sorted(self.producers)})."
                    )
                if consumed.variant is not None and consumed.variant not in self.variants:
                    raise StudyConfigError(
                        f"producers.{name}: consumes the entry of variant {consumed.variant!r}, "
                        f"which is not declared; declared: {sorted(self.variants)}."
                    )
        self.producer_order()  # raises on a cycle
        for name, analysis in self.analyses.items():
            missing = [p for p in analysis.required_producers() if p not in self.producers]
            if missing:
                raise StudyConfigError(
                    f"analyses.{name}: reads producers {missing}, which the study does not "
                    f"declare (declared: {sorted(self.producers)}). Fix: add them to the "
                    "experiment, e.g. `- /explainer@producers.<name>: lime`, or "
                    f"analyses.{name}=null."
                )
            needed = set(getattr(analysis, "requires_kinds", ()))
            if needed - kinds:
                raise StudyConfigError(
                    f"analyses.{name}: needs {sorted(needed - kinds)}, which {where} does not "
                    f"yield. Fix: analyses.{name}=null."
                )

    def check_data(self, split_names: list[str]) -> None:
        """Refuse splits that analyses, producers or compare need but the dataset lacks.

        Args:
            split_names: the splits the loaded dataset holds.

        Raises:
            StudyConfigError: naming the component, the split and the fix.
        """
        available = set(split_names)
        wanted: list[tuple[str, str]] = [(s, "infer.splits") for s in self.cfg.infer.splits]
        wanted.append((str(self.cfg.compare.split), "compare.split"))
        for name, analysis in self.analyses.items():
            wanted += [(s, f"analyses.{name}") for s in analysis.required_splits()]
        for name, producer in self.producers.items():
            wanted.append((producer.split, f"producers.{name}.split"))
        for split, where in wanted:
            if split not in available:
                fix = (
                    f"remove {split!r} from {where}"
                    if where in ("infer.splits", "compare.split")
                    else f"{where.removesuffix('.split')}=null switches it off"
                )
                raise StudyConfigError(
                    f"{where} needs split {split!r}, which dataset "
                    f"{self.cfg.dataset.get('dataset_name', '?')!r} does not have (it has "
                    f"{sorted(available)}). Fix: {fix}, or add that split to the dataset."
                )

    # ------------------------------------------------------------------ graph
    def selected(self, only: str | list[str] | None) -> list[str]:
        """Variant names to run: all, one, or a list (validated).

        Raises:
            StudyConfigError: a name is not declared.
        """
        if only is None:
            return list(self.variants)
        names = [only] if isinstance(only, str) else [str(n) for n in only]
        unknown = [n for n in names if n not in self.variants]
        if unknown:
            raise StudyConfigError(
                f"variant={unknown} is not declared in study.variants; declared: "
                f"{sorted(self.variants)}."
            )
        return names

    def dependency_order(self, name: str) -> list[str]:
        """`name` after everything it needs (parents and teachers, recursively), no repeats."""
        order: list[str] = []

        def visit(current: str) -> None:
            for dependency in self.variants[current].dependencies():
                visit(dependency)
            if current not in order:
                order.append(current)

        visit(name)
        return order

    def lineage(self, name: str) -> list[str]:
        """The parent chain of `name`, root first."""
        chain = [name]
        while self.variants[chain[-1]].parent:
            chain.append(self.variants[chain[-1]].parent)
        return chain[::-1]

    def needs_cpu(self, name: str) -> bool:
        """Whether a step in `name`'s lineage makes CPU-only kernels (int8, ONNX Runtime)."""
        return any(self.variants[v].requires_cpu for v in self.lineage(name))

    def pins_zeros(self, name: str) -> bool:
        """Whether fine-tuning `name` must keep pruned weights at zero."""
        return any(
            getattr(method, "pins_zeros", False)
            for ancestor in self.lineage(name)
            for _, method, _ in self.variants[ancestor].steps
        )

    def producer_order(self) -> list[str]:
        """Producer names, each after the producers it consumes.

        Raises:
            StudyConfigError: producers consume each other in a cycle.
        """
        order: list[str] = []

        def visit(name: str, path: list[str]) -> None:
            if name in order:
                return
            if name in path:
                cycle = " -> ".join([*path[path.index(name) :], name])
                raise StudyConfigError(f"producers: consumption cycle {cycle}.")
            for consumed in self.producers[name].consumes():
                if consumed.producer in self.producers:
                    visit(consumed.producer, [*path, name])
            order.append(name)

        for name in self.producers:
            visit(name, [])
        return order

    def infer_splits(self) -> list[str]:
        """`infer.splits`, `compare.split` and every split an analysis needs, without repeats."""
        splits = [str(split) for split in self.cfg.infer.splits]
        splits += [str(self.cfg.compare.split)]
        for analysis in self.analyses.values():
            splits += list(analysis.required_splits())
        return list(dict.fromkeys(splits))

    @property
    def recipe(self) -> dict[str, Any]:
        """The study's `train` recipe (every field is part of the checkpoint key)."""
        return OmegaConf.to_container(self.cfg.train, resolve=True)

    def recipe_for(self, name: str) -> dict[str, Any]:
        """The `train` recipe of variant `name`: the study's, with the variant's overrides."""
        return {**self.recipe, **self.variants[name].train}

    @property
    def runtime(self) -> dict[str, Any]:
        """The `trainer` config plus `callbacks`: runtime only, never in a key."""
        runtime = OmegaConf.to_container(self.cfg.trainer, resolve=True)
        if self.cfg.get("callbacks") is not None:
            runtime["callbacks"] = OmegaConf.to_container(self.cfg.callbacks, resolve=True)
        return runtime

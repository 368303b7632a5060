"""Common base of all dataset sources: subsampling, final validation, identity, errors.

A source is built by ``hydra.utils.instantiate(cfg)`` from ``conf/dataset/<name>.yaml``. Its
constructor only stores and checks arguments; ``load()`` reads the data, then this base class
validates it, applies the configured subsample and logs the split sizes.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf
from sklearn.model_selection import train_test_split

from trusteq.data.splits import OOD_PREFIX, REQUIRED_SPLITS, DatasetSplits, TextSplit

log = logging.getLogger(__name__)

SUBSAMPLE_KEYS: tuple[str, ...] = ("train", "validation", "test", "ood")


class DataConfigError(ValueError):
    """A dataset config or the data it points at is invalid.

    The message names the file (or hub id), the field or column, what was expected and how to fix
    it.
    """


class DataIntegrityError(RuntimeError):
    """A downloaded or cached data asset does not match its pinned or recorded checksum."""


def to_plain(value: Any) -> Any:
    """Turn OmegaConf containers (as Hydra passes nested config nodes) into plain dicts/lists."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def check_mapping(value: Any, where: str, field: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Check that ``value`` is a mapping whose keys are all in ``allowed``.

    Raises:
        DataConfigError: if it is not a mapping or has an unknown key.
    """
    value = to_plain(value)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DataConfigError(
            f"{where}: field {field!r} must be a mapping with keys {list(allowed)}, "
            f"got {type(value).__name__} {value!r}"
        )
    unknown = [key for key in value if key not in allowed]
    if unknown:
        raise DataConfigError(
            f"{where}: field {field!r} has unknown keys {unknown}; allowed keys are "
            f"{list(allowed)} (check the spelling in the dataset config)"
        )
    return dict(value)


def check_split_fractions(value: Any, where: str) -> dict[str, float]:
    """The ``fractions`` field of a source that splits one corpus: train / validation / test.

    Args:
        value: the mapping given (None = 0.7 / 0.1 / 0.2).
        where: the source, for messages.

    Returns:
        ``{train, validation, test}`` → fraction, positive, summing to 1.

    Raises:
        DataConfigError: an unknown key, a missing or non-positive fraction, or a sum != 1.
    """
    fractions = check_mapping(value, where, "fractions", REQUIRED_SPLITS) or {
        "train": 0.7,
        "validation": 0.1,
        "test": 0.2,
    }
    values = [fractions.get(key) for key in REQUIRED_SPLITS]
    if (
        any(not isinstance(v, int | float) or isinstance(v, bool) or v <= 0 for v in values)
        or abs(sum(values) - 1.0) > 1e-6
    ):
        raise DataConfigError(
            f"{where}: field 'fractions' must give positive train, validation and test "
            f"fractions summing to 1, got {fractions!r}"
        )
    return {key: float(v) for key, v in zip(REQUIRED_SPLITS, values, strict=True)}


def stratified_carve(
    split: TextSplit, fraction: float, seed: int, where: str, carved_name: str
) -> tuple[TextSplit, TextSplit]:
    """Split off a stratified ``fraction`` of ``split`` (sklearn ``train_test_split``).

    Returns:
        ``(rest, carved)``: ``rest`` keeps the split's name, ``carved`` is named ``carved_name``;
        both keep the original example order.

    Raises:
        DataConfigError: if a class is too small to be stratified.
    """
    positions = np.arange(len(split))
    try:
        rest, carved = train_test_split(
            positions, test_size=fraction, random_state=seed, shuffle=True, stratify=split.labels
        )
    except ValueError as err:
        classes, sizes = np.unique(split.labels, return_counts=True)
        counts = dict(zip(classes.tolist(), sizes.tolist(), strict=True))
        raise DataConfigError(
            f"{where}: cannot carve a stratified {fraction:.0%} of split {split.name!r} "
            f"({len(split)} examples, class counts {counts}): {err}. Use more data, a larger "
            "fraction, or give an explicit validation split."
        ) from err
    return split.select(np.sort(rest)), split.select(np.sort(carved), name=carved_name)


def _without_ood_entries(value: Any) -> Any:
    """A per-split mapping without its ``ood_*`` keys; any other value unchanged."""
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if not str(k).startswith(OOD_PREFIX)}
    return value


class DatasetSource(abc.ABC):
    """Base of every dataset source (text classification, extractive QA).

    Holds the name, the subsample settings and the cache-key ``identity()``; subclasses add
    ``load()``.

    Args:
        name: dataset name used in logs, cache keys and reports.
        subsample: optional sizes ``{train, validation, test, ood}`` (int or ``None`` = all);
            ``ood`` applies to each ``ood_*`` split. The draw is stratified and deterministic.
        subsample_seed: seed of the subsample draw.

    Raises:
        DataConfigError: if ``subsample`` has unknown keys or sizes below 1.
    """

    def __init__(
        self,
        name: str,
        subsample: Mapping[str, int | None] | None = None,
        subsample_seed: int = 0,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise DataConfigError(
                f"dataset config: field 'name' must be a non-empty string, got {name!r}"
            )
        self.name = name
        where = f"dataset {name!r}"
        sizes = check_mapping(subsample, where, "subsample", SUBSAMPLE_KEYS)
        for key, size in sizes.items():
            if size is not None and (
                isinstance(size, bool) or not isinstance(size, int) or size < 1
            ):
                raise DataConfigError(
                    f"{where}: field 'subsample.{key}' must be a positive integer or null "
                    f"(= all examples), got {size!r}"
                )
        self.subsample = {key: sizes.get(key) for key in SUBSAMPLE_KEYS}
        self.subsample_seed = int(subsample_seed)

    @abc.abstractmethod
    def _source_identity(self) -> dict[str, Any]:
        """JSON-able description of what defines the data, besides name and subsample."""

    #: Fields of :meth:`_source_identity` that only define the ``ood_*`` splits.
    ood_identity_fields: tuple[str, ...] = ()

    def identity(self, include_ood: bool = True) -> dict[str, Any]:
        """Everything that defines the loaded data, for cache keys.

        Args:
            include_ood: False leaves out what only shapes the ``ood_*`` splits: the fields in
                :attr:`ood_identity_fields`, the ``ood_*`` entries of every per-split mapping
                of the source identity (files, hub splits) and ``subsample.ood``. That is the
                identity a fine-tuned checkpoint depends on, so adding an OOD set never
                retrains a model.

        Returns:
            JSON-able dict: the source class, name, source-specific fields (source, version,
            split seed and fractions, filters) and the subsample settings. Runtime-only settings
            such as cache folders are left out.
        """
        source = self._source_identity()
        subsample = dict(self.subsample)
        if not include_ood:
            source = {
                key: _without_ood_entries(value)
                for key, value in source.items()
                if key not in self.ood_identity_fields
            }
            subsample.pop("ood", None)
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "name": self.name,
            **source,
            "subsample": subsample,
            "subsample_seed": self.subsample_seed,
        }

    def describe(self) -> str:
        """Short human-readable label of the source used in error messages."""
        return f"dataset {self.name!r}"


class TextDatasetSource(DatasetSource):
    """Base of every text-classification source: ``load()`` -> :class:`DatasetSplits`.

    Args: see :class:`DatasetSource`.
    """

    @abc.abstractmethod
    def _load_splits(self) -> tuple[list[str], dict[str, TextSplit]]:
        """Read the data; return ``(label_names, splits)`` before subsampling."""

    def load(self) -> DatasetSplits:
        """Read, validate and subsample the data.

        Returns:
            The dataset's splits; ``train``, ``validation`` and ``test`` are always present.

        Raises:
            DataConfigError: if a split is missing or empty, or the data are otherwise invalid.
        """
        label_names, splits = self._load_splits()
        where = self.describe()
        for key in REQUIRED_SPLITS:
            if key not in splits:
                raise DataConfigError(f"{where}: split {key!r} is missing after loading")
        splits = {key: drop_blank_texts(split, where) for key, split in splits.items()}
        for key, split in splits.items():
            if len(split) == 0:
                raise DataConfigError(
                    f"{where}: split {key!r} is empty after filtering; check the files, "
                    "'drop_labels', whitespace-only texts and any rating filter in the dataset "
                    "config"
                )
        subsampled = {}
        for key, split in splits.items():
            size = self.subsample["ood" if key.startswith(OOD_PREFIX) else key]
            subsampled[key] = split.subset(size, self.subsample_seed)
        try:
            dataset = DatasetSplits(name=self.name, label_names=label_names, splits=subsampled)
        except ValueError as err:
            raise DataConfigError(f"{where}: {err}") from err
        for key, split in dataset.splits.items():
            counts = split.class_counts(dataset.num_classes).tolist()
            log.info(
                "%s: split %s has %d examples, class counts %s", where, key, len(split), counts
            )
        check_degenerate(dataset, where)
        return dataset


#: Below this many training examples a fine-tuning result says little; warn.
TINY_TRAIN = 10


def drop_blank_texts(split: TextSplit, where: str) -> TextSplit:
    """The split without examples whose text (either segment of a pair) is whitespace only.

    A blank text carries no evidence for any label; the count dropped is logged as a warning.
    """
    segments = [split.text_a] + ([split.text_b] if split.text_b is not None else [])
    keep = [i for i in range(len(split)) if all(seg[i].strip() for seg in segments)]
    if len(keep) == len(split):
        return split
    kept = set(keep)
    blank = [split.ids[i] for i in range(len(split)) if i not in kept]
    log.warning(
        "%s: split %r: dropped %d of %d examples whose text is empty or whitespace only "
        "(first ids: %s)",
        where,
        split.name,
        len(blank),
        len(split),
        blank[:5],
    )
    return split.select(keep)


def check_degenerate(dataset: DatasetSplits, where: str) -> None:
    """Refuse single-class training data; warn about unseen test labels and tiny training sets.

    Raises:
        DataConfigError: the training split holds one class only (nothing to learn: every
            model would predict it, and every comparison would be vacuous).
    """
    train = dataset["train"]
    counts = train.class_counts(dataset.num_classes)
    present = [dataset.label_names[c] for c in np.flatnonzero(counts)]
    if len(present) < 2:
        raise DataConfigError(
            f"{where}: the training split holds a single class ({present} for all {len(train)} "
            f"examples) of label_names {dataset.label_names}; a classifier cannot learn from it. "
            "Fix: check 'columns.label', 'label_map' and 'drop_labels', or use a file with at "
            "least two classes."
        )
    seen = set(np.flatnonzero(counts).tolist())
    for key in ("validation", "test"):
        labels = set(np.unique(dataset[key].labels[dataset[key].labels >= 0]).tolist())
        unseen = sorted(labels - seen)
        if unseen:
            names = [dataset.label_names[c] for c in unseen]
            log.warning(
                "%s: WARNING: split %r holds labels never seen in training: %s (%d examples); "
                "no fine-tuned model can predict them, so accuracy and error overlap on this "
                "split are dominated by them",
                where,
                key,
                names,
                int(np.isin(dataset[key].labels, unseen).sum()),
            )
    if len(train) < TINY_TRAIN:
        log.warning(
            "%s: WARNING: only %d training examples (< %d); fine-tuning results and every "
            "comparison will be mostly noise",
            where,
            len(train),
            TINY_TRAIN,
        )

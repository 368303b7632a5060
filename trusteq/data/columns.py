"""Column mapping, label mapping and table -> :class:`TextSplit` conversion.

Shared by the hub and local-file sources.

A *table* here is a plain ``dict[column name, list of values]`` (what ``Dataset.to_dict()`` and
``DataFrame.to_dict("list")`` return), so that both sources go through one validated path.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from trusteq.data.base import (
    DataConfigError,
    TextDatasetSource,
    check_mapping,
    stratified_carve,
    to_plain,
)
from trusteq.data.splits import REQUIRED_SPLITS, TextSplit

COLUMN_KEYS: tuple[str, ...] = ("id", "text_a", "text_b", "label")
Table = dict[str, list[Any]]


def _plain_scalar(value: Any) -> Any:
    """Normalise a raw cell so that 1, 1.0, np.int64(1) and True compare alike as keys."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _lookup_keys(value: Any) -> list[Any]:
    """Keys under which a raw label may appear in ``label_map``/``drop_labels``.

    YAML keys are often strings even when the data hold integers, so both forms are tried.
    """
    value = _plain_scalar(value)
    return [value] if isinstance(value, str) else [value, str(value)]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class LabelSpec:
    """Maps raw label values to class ids ``[0, C)`` and decides which rows to drop.

    Args:
        label_names: length ``C``; index = label id.
        label_map: raw value -> label id (int) or label name; if given it must cover every raw
            value that is not dropped. Without it, raw labels must be ids in ``[0, C)`` or label
            names.
        drop_labels: raw values whose rows are removed (e.g. SNLI's ``-1``).
        where: description of the config for error messages.

    Raises:
        DataConfigError: if a field is malformed or ``label_map`` points outside the label set.
    """

    def __init__(
        self,
        label_names: Sequence[str],
        label_map: Mapping[Any, int | str] | None,
        drop_labels: Sequence[Any] | None,
        where: str,
    ) -> None:
        label_names = to_plain(label_names)
        if (
            not isinstance(label_names, list | tuple)
            or len(label_names) < 2
            or len(set(map(str, label_names))) != len(label_names)
        ):
            raise DataConfigError(
                f"{where}: field 'label_names' must be a list of at least two distinct names, "
                f"got {label_names!r}"
            )
        self.label_names = [str(name) for name in label_names]
        self.label_map_config = to_plain(label_map)
        self.label_map: dict[Any, int] | None = None
        if self.label_map_config is not None:
            if not isinstance(self.label_map_config, Mapping) or not self.label_map_config:
                raise DataConfigError(
                    f"{where}: field 'label_map' must be a non-empty mapping raw value -> label id "
                    f"or label name, or null; got {self.label_map_config!r}"
                )
            self.label_map = {}
            for raw, target in self.label_map_config.items():
                label_id = self._target_id(target, where)
                for key in _lookup_keys(raw):
                    self.label_map[key] = label_id
        drop_labels = to_plain(drop_labels) or []
        if not isinstance(drop_labels, list | tuple):
            raise DataConfigError(
                f"{where}: field 'drop_labels' must be a list of raw label values, "
                f"got {drop_labels!r}"
            )
        self.drop_labels_config = list(drop_labels)
        self.drop = {key for raw in drop_labels for key in _lookup_keys(raw)}

    def _target_id(self, target: Any, where: str) -> int:
        target = _plain_scalar(target)
        if isinstance(target, int) and 0 <= target < len(self.label_names):
            return target
        if isinstance(target, str) and target in self.label_names:
            return self.label_names.index(target)
        raise DataConfigError(
            f"{where}: field 'label_map' maps to {target!r}, which is neither a label id in "
            f"[0, {len(self.label_names)}) nor one of label_names {self.label_names}"
        )

    def identity(self) -> dict[str, Any]:
        """JSON-able description for cache keys (keys as strings, as JSON requires)."""
        label_map = None
        if self.label_map_config is not None:
            label_map = {str(k): v for k, v in self.label_map_config.items()}
        return {
            "label_names": self.label_names,
            "label_map": label_map,
            "drop_labels": [str(v) for v in self.drop_labels_config],
        }

    def is_dropped(self, raw: Any) -> bool:
        """Whether rows with this raw label are removed."""
        return not _is_missing(raw) and any(key in self.drop for key in _lookup_keys(raw))

    def resolve(self, raw: Any) -> int | None:
        """Label id of a raw value, or ``None`` if it is not in the configured label set."""
        if _is_missing(raw):
            return None
        if self.label_map is not None:
            for key in _lookup_keys(raw):
                if key in self.label_map:
                    return self.label_map[key]
            return None
        value = _plain_scalar(raw)
        if isinstance(value, str):
            if value in self.label_names:
                return self.label_names.index(value)
            stripped = value.strip()
            if stripped.lstrip("-").isdigit():
                value = int(stripped)
        if isinstance(value, int) and 0 <= value < len(self.label_names):
            return value
        return None

    def describe(self) -> str:
        """The configured label set, for error messages."""
        if self.label_map_config is not None:
            return f"label_map {self.label_map_config} (label_names {self.label_names})"
        return f"label_names {self.label_names} (ids 0..{len(self.label_names) - 1})"


def check_columns(columns: Any, where: str) -> dict[str, str | None]:
    """Validate the ``columns`` mapping ``{id, text_a, text_b, label}``.

    ``text_a`` and ``label`` are required; ``id`` and ``text_b`` may be null.

    Raises:
        DataConfigError: on unknown keys or a missing required column name.
    """
    mapping = check_mapping(columns, where, "columns", COLUMN_KEYS)
    for key in ("text_a", "label"):
        if not isinstance(mapping.get(key), str) or not mapping[key]:
            raise DataConfigError(
                f"{where}: field 'columns.{key}' must name a column of the data, "
                f"got {mapping.get(key)!r}"
            )
    for key in ("id", "text_b"):
        if mapping.get(key) is not None and not isinstance(mapping[key], str):
            raise DataConfigError(
                f"{where}: field 'columns.{key}' must be a column name or null, "
                f"got {mapping[key]!r}"
            )
    return {key: mapping.get(key) for key in COLUMN_KEYS}


def table_to_split(
    table: Table,
    *,
    split_name: str,
    id_prefix: str,
    where: str,
    columns: Mapping[str, str | None],
    labels: LabelSpec,
    row_desc: Callable[[int], str] = lambda row: f"row {row}",
) -> TextSplit:
    """Validate a raw table and turn it into a split.

    Ids are ``"<id_prefix>:<id column value>"`` or, without an id column, ``"<id_prefix>:<row>"``
    with the row index before any rows are dropped (so ids are stable under ``drop_labels``).

    Args:
        table: column name -> values, all of length ``N_raw``.
        split_name: name of the resulting split.
        id_prefix: prefix of the example ids (the source split name).
        where: the file or hub id, for error messages.
        columns: validated ``columns`` mapping.
        labels: the label mapping.
        row_desc: how to describe row ``i`` in messages (e.g. its line number in a jsonl file).

    Returns:
        The split of rows whose label is not dropped.

    Raises:
        DataConfigError: for a missing column, a text cell that is not a string, a missing or
            duplicate id, a label outside the configured set, or no rows left.
    """
    available = list(table)
    for key, column in columns.items():
        if column is not None and column not in table:
            raise DataConfigError(
                f"{where}: column {column!r} (field 'columns.{key}') not found; available "
                f"columns are {available}. Fix 'columns.{key}' in the dataset config."
            )
    num_rows = len(table[columns["label"]])
    if columns["id"] is not None:
        raw_ids = table[columns["id"]]
        seen: dict[str, int] = {}
        ids = []
        for row, value in enumerate(raw_ids):
            if _is_missing(value):
                raise DataConfigError(
                    f"{where}: id column {columns['id']!r} (field 'columns.id') is empty at "
                    f"{row_desc(row)}; every row needs an id, or set 'columns.id: null' to "
                    "number rows automatically"
                )
            value = str(_plain_scalar(value))
            if value in seen:
                raise DataConfigError(
                    f"{where}: duplicate id {value!r} in column {columns['id']!r} (field "
                    f"'columns.id') at {row_desc(seen[value])} and {row_desc(row)}; ids must be "
                    "unique, or set 'columns.id: null' to number rows automatically"
                )
            seen[value] = row
            ids.append(f"{id_prefix}:{value}")
    else:
        ids = [f"{id_prefix}:{row}" for row in range(num_rows)]

    def row_name(row: int) -> str:
        return f"{row_desc(row)} (id {ids[row]!r})"

    text_keys = ("text_a",) if columns["text_b"] is None else ("text_a", "text_b")
    for key in text_keys:
        for row, value in enumerate(table[columns[key]]):
            if not isinstance(value, str):
                raise DataConfigError(
                    f"{where}: text column {columns[key]!r} (field 'columns.{key}') must hold "
                    f"strings, but {row_name(row)} holds {type(value).__name__} {value!r}. "
                    "Fill or drop empty rows, or point 'columns."
                    f"{key}' at the text column."
                )

    keep: list[int] = []
    label_ids: list[int] = []
    for row, raw in enumerate(table[columns["label"]]):
        if labels.is_dropped(raw):
            continue
        label_id = labels.resolve(raw)
        if label_id is None and _is_missing(raw):
            # drop_labels cannot match a missing value, so it must not be suggested (issue 10).
            raise DataConfigError(
                f"{where}: label column {columns['label']!r} (field 'columns.label') is empty at "
                f"{row_name(row)}. Fix: fill in the label, or remove the rows without one from "
                "the file."
            )
        if label_id is None:
            raise DataConfigError(
                f"{where}: label column {columns['label']!r} (field 'columns.label') holds "
                f"{raw!r} at {row_name(row)}, outside the configured {labels.describe()}. "
                "Add it to 'label_map', list it in 'drop_labels', or fix the data."
            )
        keep.append(row)
        label_ids.append(label_id)
    if not keep:
        raise DataConfigError(
            f"{where}: no examples left for split {split_name!r} ({num_rows} rows read, "
            f"{num_rows - len(keep)} dropped by 'drop_labels' {labels.drop_labels_config}); "
            "check the file and the 'drop_labels' / 'label_map' fields"
        )
    text_b = None
    if columns["text_b"] is not None:
        text_b = [table[columns["text_b"]][row] for row in keep]
    return TextSplit(
        name=split_name,
        ids=[ids[row] for row in keep],
        text_a=[table[columns["text_a"]][row] for row in keep],
        text_b=text_b,
        labels=np.asarray(label_ids, dtype=np.int64),
    )


class ColumnarSource(TextDatasetSource):
    """Base of sources that read tables (hub datasets, local files) through a column mapping.

    Args:
        name: dataset name.
        columns: ``{id: col|null, text_a: col, text_b: col|null, label: col}``.
        label_names: length ``C``.
        label_map: optional raw value -> label id or name.
        drop_labels: raw label values to drop.
        validation_fraction: fraction of train carved out (stratified) when no validation split
            is given, in ``(0, 1)``.
        split_seed: seed of that carve.
        subsample: see :class:`TextDatasetSource`.
        subsample_seed: see :class:`TextDatasetSource`.

    Raises:
        DataConfigError: if a field is malformed.
    """

    def __init__(
        self,
        name: str,
        columns: Mapping[str, str | None],
        label_names: Sequence[str],
        label_map: Mapping[Any, int | str] | None = None,
        drop_labels: Sequence[Any] | None = None,
        validation_fraction: float = 0.1,
        split_seed: int = 0,
        subsample: Mapping[str, int | None] | None = None,
        subsample_seed: int = 0,
    ) -> None:
        super().__init__(name=name, subsample=subsample, subsample_seed=subsample_seed)
        where = self.describe()
        self.columns = check_columns(columns, where)
        self.labels = LabelSpec(label_names, label_map, drop_labels, where)
        if not 0.0 < float(validation_fraction) < 1.0:
            raise DataConfigError(
                f"{where}: field 'validation_fraction' must be in (0, 1), "
                f"got {validation_fraction!r}"
            )
        self.validation_fraction = float(validation_fraction)
        self.split_seed = int(split_seed)

    @abc.abstractmethod
    def _split_sources(self) -> dict[str, Any]:
        """Where each of train/validation/test comes from (``None`` for validation = carve)."""

    @abc.abstractmethod
    def _read_split(self, split: str) -> TextSplit:
        """Read and convert the split ``split`` (one of train/validation/test)."""

    def _columnar_identity(self) -> dict[str, Any]:
        carve = self._split_sources().get("validation") is None
        return {
            "columns": dict(self.columns),
            **self.labels.identity(),
            "validation_fraction": self.validation_fraction if carve else None,
            "split_seed": self.split_seed if carve else None,
        }

    def _load_splits(self) -> tuple[list[str], dict[str, TextSplit]]:
        splits = {
            key: self._read_split(key)
            for key in REQUIRED_SPLITS
            if self._split_sources().get(key) is not None
        }
        if "validation" not in splits:
            if len(splits["train"]) == 0:
                raise DataConfigError(f"{self.describe()}: split 'train' is empty after filtering")
            splits["train"], splits["validation"] = stratified_carve(
                splits["train"],
                self.validation_fraction,
                self.split_seed,
                self.describe(),
                carved_name="validation",
            )
        return self.labels.label_names, {key: splits[key] for key in REQUIRED_SPLITS}

"""Text-classification datasets from the Hugging Face hub (or a local folder in hub layout)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from trusteq.data.base import DataConfigError, check_mapping
from trusteq.data.columns import ColumnarSource, table_to_split
from trusteq.data.splits import REQUIRED_SPLITS, TextSplit

log = logging.getLogger(__name__)


class HubTextClassification(ColumnarSource):
    """A dataset read with ``datasets.load_dataset(path, name, split=...)``.

    ``path`` may also be a local folder whose files are named after the splits
    (``train.parquet``, ``test.csv``, ...), which ``datasets`` maps to splits by file name; tests
    and air-gapped machines use that. Example ids are ``"<hub split>:<id column or row index>"``.

    Args:
        path: hub dataset id (``"imdb"``, ``"glue"``) or local folder.
        name: hub config name (``"sst2"``) or ``None``.
        splits: ``{train: hub split, validation: hub split or null, test: hub split}``; a null
            validation is carved from train (stratified, ``validation_fraction``, ``split_seed``).
            Use e.g. ``test: validation`` where the hub's test labels are hidden (GLUE).
        columns: ``{id: col|null, text_a: col, text_b: col|null, label: col}``.
        label_names: length ``C``; index = label id.
        dataset_name: trusteq's name for the dataset; defaults to ``"<path>/<name>"``.
        label_map: optional raw label -> label id or name.
        drop_labels: raw labels to drop (SNLI's ``-1``).
        revision: hub revision (commit sha or tag) to pin; enters the identity.
        cache_dir: where ``datasets`` caches; ``None`` = its default (``HF_DATASETS_CACHE``).
            Not part of the identity.
        validation_fraction: see :class:`ColumnarSource`.
        split_seed: see :class:`ColumnarSource`.
        subsample: see :class:`TextDatasetSource`.
        subsample_seed: see :class:`TextDatasetSource`.

    Raises:
        DataConfigError: if a field is malformed (checked without touching the hub).
    """

    def __init__(
        self,
        path: str,
        splits: Mapping[str, str | None],
        columns: Mapping[str, str | None],
        label_names: Sequence[str],
        name: str | None = None,
        dataset_name: str | None = None,
        label_map: Mapping[Any, int | str] | None = None,
        drop_labels: Sequence[Any] | None = None,
        revision: str | None = None,
        cache_dir: str | None = None,
        validation_fraction: float = 0.1,
        split_seed: int = 0,
        subsample: Mapping[str, int | None] | None = None,
        subsample_seed: int = 0,
    ) -> None:
        if not isinstance(path, str) or not path:
            raise DataConfigError(
                f"hub dataset config: field 'path' must be a hub id or folder, got {path!r}"
            )
        self.path = path
        self.config_name = name
        self.revision = revision
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        default_name = path if name is None else f"{path}/{name}"
        super().__init__(
            name=dataset_name or default_name,
            columns=columns,
            label_names=label_names,
            label_map=label_map,
            drop_labels=drop_labels,
            validation_fraction=validation_fraction,
            split_seed=split_seed,
            subsample=subsample,
            subsample_seed=subsample_seed,
        )
        self.splits = check_mapping(splits, self.describe(), "splits", REQUIRED_SPLITS)
        for key in REQUIRED_SPLITS:
            value = self.splits.get(key)
            if value is None and key != "validation":
                raise DataConfigError(
                    f"{self.describe()}: field 'splits.{key}' must name a hub split "
                    f"(e.g. {key!r}); only 'splits.validation' may be null (= carve from train)"
                )
            if value is not None and not isinstance(value, str):
                raise DataConfigError(
                    f"{self.describe()}: field 'splits.{key}' must be a split name, got {value!r}"
                )
        self.splits = {key: self.splits.get(key) for key in REQUIRED_SPLITS}

    def describe(self) -> str:
        """Hub id (and config name) for messages."""
        config = "" if self.config_name is None else f" (name {self.config_name!r})"
        return f"hub dataset {self.path!r}{config}"

    def _split_sources(self) -> dict[str, Any]:
        return dict(self.splits)

    def _source_identity(self) -> dict[str, Any]:
        return {
            "source": "huggingface-datasets",
            "path": self.path,
            "config_name": self.config_name,
            "revision": self.revision,
            "splits": dict(self.splits),
            **self._columnar_identity(),
        }

    def _read_split(self, split: str) -> TextSplit:
        # Imported lazily: `datasets` pulls in pyarrow/fsspec, too heavy for config composition.
        import datasets

        hub_split = self.splits[split]
        where = f"{self.describe()} split {hub_split!r}"
        try:
            dataset = datasets.load_dataset(
                self.path,
                self.config_name,
                split=hub_split,
                revision=self.revision,
                cache_dir=self.cache_dir,
            )
        except Exception as err:  # noqa: BLE001 - any failure here is a config/source problem
            raise DataConfigError(
                f"{where}: datasets.load_dataset failed ({type(err).__name__}: {err}). Check "
                "'path', 'name' and 'splits' in the dataset config; without hub access point "
                "'path' at a local folder with files named after the splits, or use a "
                "local_files dataset config."
            ) from err
        label_column = self.columns["label"]
        feature = dataset.features.get(label_column)
        hub_names = getattr(feature, "names", None)
        if hub_names is not None and self.labels.label_map is None:
            if list(hub_names) != self.labels.label_names:
                log.warning(
                    "%s: hub ClassLabel names %s differ from the configured label_names %s",
                    where,
                    list(hub_names),
                    self.labels.label_names,
                )
        wanted = [col for col in self.columns.values() if col in dataset.column_names]
        values = dataset.select_columns(wanted).to_dict()
        # Unused columns stay as empty placeholders so that a missing-column error lists them all.
        table = {column: values.get(column, []) for column in dataset.column_names}
        return table_to_split(
            table,
            split_name=split,
            id_prefix=hub_split,
            where=where,
            columns=self.columns,
            labels=self.labels,
        )

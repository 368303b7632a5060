"""Text-classification datasets from local csv / tsv / jsonl / parquet files."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trusteq.data.base import DataConfigError, check_mapping
from trusteq.data.columns import ColumnarSource, Table, table_to_split
from trusteq.data.splits import REQUIRED_SPLITS, TextSplit

SUFFIX_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "parquet")

_sha256_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file.

    Memoised on (path, size, mtime) because identity() is called often and files can be large.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _sha256_memo:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _sha256_memo[key] = digest.hexdigest()
    return _sha256_memo[key]


def decode_utf8(raw: bytes, path: Path, field: str) -> str:
    """Decode strictly as UTF-8 (a leading BOM is dropped).

    Raises:
        DataConfigError: naming the file, line and byte offset of the first invalid byte.
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        bad = raw[err.start : err.end]
        raise DataConfigError(
            f"file '{path}' (field '{field}'): not valid UTF-8: byte(s) {bad!r} at line {line} "
            f"(byte offset {err.start}). Re-encode the file, e.g. "
            f"`iconv -f latin1 -t utf-8 '{path}' > fixed.{path.suffix.lstrip('.')}`, "
            "and point the config at the result."
        ) from err


def read_table(path: Path, file_format: str, field: str) -> tuple[Table, Callable[[int], str]]:
    """Read one file into a table (column -> values) and a function naming row ``i``.

    Missing cells become ``None``/NaN so that the column checks report them; only empty csv cells
    count as missing (``"NA"`` or ``"None"`` stay text).

    Raises:
        DataConfigError: on invalid UTF-8, malformed csv/json, or an unreadable parquet file.
    """
    import pandas as pd

    if file_format == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises many types for bad files
            raise DataConfigError(
                f"file '{path}' (field '{field}'): cannot read as parquet: {err}"
            ) from err
        table = {str(col): frame[col].tolist() for col in frame.columns}
        return table, lambda row: f"row {row}"

    text = decode_utf8(path.read_bytes(), path, field)
    if file_format == "jsonl":
        records: list[dict[str, Any]] = []
        line_numbers: list[int] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataConfigError(
                    f"file '{path}' (field '{field}'): invalid JSON at line {number}: {err.msg}; "
                    "expected one JSON object per line (jsonl)"
                ) from err
            if not isinstance(record, dict):
                raise DataConfigError(
                    f"file '{path}' (field '{field}'): line {number} holds a "
                    f"{type(record).__name__}, expected a JSON object per line"
                )
            records.append(record)
            line_numbers.append(number)
        names: dict[str, None] = {}
        for record in records:
            names.update(dict.fromkeys(record))
        table = {name: [record.get(name) for record in records] for name in names}
        return table, lambda row: f"line {line_numbers[row]}"

    start = text.lstrip()[:1]
    if start in ("{", "["):
        what = "JSON lines (one object per line)" if start == "{" else "a JSON array"
        raise DataConfigError(
            f"file '{path}' (field '{field}'): looks like {what}, not {file_format} (it starts "
            f"with {start!r}). Fix: rename it to .jsonl or set 'format: jsonl'"
            + (" after converting the array to one object per line" if start == "[" else "")
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep="\t" if file_format == "tsv" else ",",
            keep_default_na=False,
            na_values=[""],
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataConfigError(
            f"file '{path}' (field '{field}'): cannot parse as {file_format}: {err}"
        ) from err
    table = {str(col): frame[col].tolist() for col in frame.columns}
    # +2: one for the header line, one because lines count from 1.
    return table, lambda row: f"row {row + 1} (line {row + 2} unless a field spans lines)"


class LocalFilesTextClassification(ColumnarSource):
    """A dataset read from local files, one per split.

    Example ids are ``"<split>:<id column or row index>"``.

    Args:
        files: ``{train: path, validation: path or null, test: path}``; a null validation is
            carved from train (stratified, ``validation_fraction``, ``split_seed``).
        columns: ``{id: col|null, text_a: col, text_b: col|null, label: col}``.
        label_names: length ``C``; index = label id.
        dataset_name: trusteq's name for the dataset.
        format: ``csv``, ``tsv``, ``jsonl`` or ``parquet``; ``None`` infers it from each file's
            suffix (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``, ``.parquet``/``.pq``).
        label_map: optional raw label -> label id or name.
        drop_labels: raw labels to drop.
        validation_fraction: see :class:`ColumnarSource`.
        split_seed: see :class:`ColumnarSource`.
        subsample: see :class:`TextDatasetSource`.
        subsample_seed: see :class:`TextDatasetSource`.

    Raises:
        DataConfigError: if a field is malformed or a format is unknown (files are not opened
            until ``load()`` / ``identity()``).
    """

    def __init__(
        self,
        files: Mapping[str, str | None],
        columns: Mapping[str, str | None],
        label_names: Sequence[str],
        dataset_name: str = "local_files",
        format: str | None = None,  # noqa: A002 - the config key users expect
        label_map: Mapping[Any, int | str] | None = None,
        drop_labels: Sequence[Any] | None = None,
        validation_fraction: float = 0.1,
        split_seed: int = 0,
        subsample: Mapping[str, int | None] | None = None,
        subsample_seed: int = 0,
    ) -> None:
        super().__init__(
            name=dataset_name,
            columns=columns,
            label_names=label_names,
            label_map=label_map,
            drop_labels=drop_labels,
            validation_fraction=validation_fraction,
            split_seed=split_seed,
            subsample=subsample,
            subsample_seed=subsample_seed,
        )
        where = self.describe()
        if format is not None and format not in FORMATS:
            raise DataConfigError(
                f"{where}: field 'format' is {format!r}; expected one of {list(FORMATS)} or null "
                "to infer it from the file suffix"
            )
        self.format = format
        files = check_mapping(files, where, "files", REQUIRED_SPLITS)
        self.files: dict[str, Path | None] = {}
        self.formats: dict[str, str] = {}
        for key in REQUIRED_SPLITS:
            value = files.get(key)
            if value is None:
                if key != "validation":
                    raise DataConfigError(
                        f"{where}: field 'files.{key}' must be a file path; only "
                        "'files.validation' may be null (= carve from train)"
                    )
                self.files[key] = None
                continue
            path = Path(str(value)).expanduser()
            self.files[key] = path
            inferred = SUFFIX_FORMATS.get(path.suffix.lower())
            if format is None and inferred is None:
                raise DataConfigError(
                    f"file '{path}' (field 'files.{key}'): unknown file format "
                    f"{path.suffix!r}; expected a suffix in {sorted(SUFFIX_FORMATS)} or set "
                    f"'format' to one of {list(FORMATS)}"
                )
            self.formats[key] = format or inferred

    def describe(self) -> str:
        """Dataset name for messages."""
        return f"local dataset {self.name!r}"

    def _split_sources(self) -> dict[str, Any]:
        return dict(self.files)

    def _checked_path(self, key: str) -> Path:
        path = self.files[key]
        assert path is not None  # only called for configured splits
        if not path.is_file():
            raise DataConfigError(
                f"file '{path}' (field 'files.{key}'): not found or not a file; fix the path "
                "in the dataset config (relative paths resolve from the working directory)"
            )
        return path

    def _source_identity(self) -> dict[str, Any]:
        files: dict[str, Any] = {}
        for key, path in self.files.items():
            if path is None:
                files[key] = None
                continue
            checked = self._checked_path(key)
            # Content, not path, defines the data: the same file moved gives the same identity.
            files[key] = {
                "name": checked.name,
                "format": self.formats[key],
                "sha256": file_sha256(checked),
            }
        return {"source": "local-files", "files": files, **self._columnar_identity()}

    def _read_split(self, split: str) -> TextSplit:
        path = self._checked_path(split)
        field = f"files.{split}"
        table, row_desc = read_table(path, self.formats[split], field)
        return table_to_split(
            table,
            split_name=split,
            id_prefix=split,
            where=f"file '{path}' (field '{field}')",
            columns=self.columns,
            labels=self.labels,
            row_desc=row_desc,
        )

"""Compare predictions made outside trusteq: prediction files → cache entries + a manifest.

A *predictions folder* holds one file per variant, written by any tool (an exported ONNX /
TensorRT / llama.cpp model, an API whose outputs you already have), and a small ``study.yaml``::

    name: my-deployment-check        # the study name (tables, MLflow)
    reference: fp32                  # the variant every other is compared with
    noise_floor: fp32_seed2          # optional: the reference's seed replicate
    seeds: [fp32, fp32_seed2]        # optional: the seed population (reference first)
    label_names: [negative, positive]  # optional: class names (index = label id)
    split: test                      # optional: the split name the files hold (default test)
    variants: [fp32, fp32_seed2, int8]  # optional: table order (default: seeds, then by name)
    descriptions: {int8: TensorRT int8 engine}   # optional

Files are ``<variant>.parquet``, ``<variant>.jsonl`` or ``<variant>.npz``; all must hold the same
examples (ids) in any order (rows are aligned to the reference's order). Columns (arrays in npz):

- ``id`` (required): example id, unique per file;
- ``logits`` or ``probs`` (one is required): a list of C floats per row; probabilities must be
  distributions (non-negative, summing to 1 within 1e-3);
- ``label`` (required in at least one file, equal wherever given): an integer in [0, C) or a
  name of ``label_names``;
- ``embedding`` (optional): a list of D floats (cached as both ``embeddings_cls`` and
  ``embeddings_mean``, so kNN agreement and CKA run on it).

Every problem is a :class:`PredictionsError` naming the file, the column and the fix.

Over 400 lines: most of it is the validation of foreign files (ids, widths, distributions, labels),
each check with its own message naming file and column; import and export stay together so the round
trip is one format.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from trusteq.compare.view import CacheView
from trusteq.outputs.keys import content_key
from trusteq.outputs.store import OutputStore
from trusteq.pipeline.keys import OUTPUTS
from trusteq.pipeline.manifest import Manifest, StudyHeader, ids_digest, manifest_dir
from trusteq.tasks.classification import ClassificationTask

SUFFIXES = (".parquet", ".jsonl", ".npz")
STUDY_FILE = "study.yaml"
_STUDY_FIELDS = {
    "name",
    "reference",
    "noise_floor",
    "seeds",
    "variants",
    "label_names",
    "split",
    "descriptions",
}
_NAN_STATS = {
    "parameters": math.nan,
    "nonzero_parameters": math.nan,
    "size_mb": math.nan,
    "bits_per_weight": math.nan,
    "sparsity": math.nan,
    "linear_sparsity": math.nan,
}


class PredictionsError(ValueError):
    """A predictions folder or file is invalid; the message names the file, column and fix."""


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_table(path: Path) -> dict[str, Any]:
    """Column name → list / array, from parquet, jsonl or npz."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                columns = {key: data[key] for key in data.files}
            if "ids" in columns and "id" not in columns:
                columns["id"] = columns.pop("ids")
            if "labels" in columns and "label" not in columns:
                columns["label"] = columns.pop("labels")
            if "embeddings" in columns and "embedding" not in columns:
                columns["embedding"] = columns.pop("embeddings")
            return columns
        if path.suffix == ".parquet":
            import pandas as pd

            frame = pd.read_parquet(path)
        else:
            import pandas as pd

            frame = pd.read_json(path, lines=True, dtype=False)
    except Exception as error:  # the reader's own message, with the file named
        raise PredictionsError(f"{path}: cannot be read as {path.suffix[1:]} ({error}).") from error
    return {column: frame[column].tolist() for column in frame.columns}


def _matrix(path: Path, column: str, values: Any, n: int) -> np.ndarray:
    try:
        matrix = np.asarray([np.asarray(v, dtype=np.float64) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise PredictionsError(
            f"{path}: column {column!r} must hold one list of floats per row, all of the same "
            f"length ({error})."
        ) from error
    if matrix.ndim != 2 or len(matrix) != n:
        raise PredictionsError(
            f"{path}: column {column!r} must be N x C (one list per row); got shape {matrix.shape}."
        )
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise PredictionsError(
            f"{path}: column {column!r} has non-finite values (NaN or inf) in {int(bad.sum())} "
            f"row(s), the first at row {int(np.argmax(bad))}. Fix the exporter; trusteq does not "
            "guess missing predictions."
        )
    return matrix


def _labels(path: Path, values: Any, label_names: list[str], n_classes: int) -> np.ndarray:
    labels = []
    for row, value in enumerate(values):
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            if value not in label_names:
                raise PredictionsError(
                    f"{path}: column 'label' row {row} is {value!r}, not one of label_names "
                    f"{label_names} (study.yaml). Fix: add it to label_names or map it."
                )
            labels.append(label_names.index(value))
            continue
        try:
            label = int(value)
        except (TypeError, ValueError) as error:
            raise PredictionsError(
                f"{path}: column 'label' row {row} is {value!r}; expected an integer class id "
                "or a label name."
            ) from error
        if not 0 <= label < n_classes:
            raise PredictionsError(
                f"{path}: column 'label' row {row} is {label}, outside [0, {n_classes}) (C = "
                f"{n_classes} classes from the logits/probs width)."
            )
        labels.append(label)
    return np.asarray(labels, dtype=np.int64)


def _read_variant(path: Path, label_names: list[str] | None) -> dict[str, Any]:
    columns = _read_table(path)
    if "id" not in columns:
        raise PredictionsError(
            f"{path}: no 'id' column (columns: {sorted(columns)}). Every row needs the example id "
            "so variants can be aligned."
        )
    ids = [str(i) for i in np.asarray(columns["id"]).tolist()]
    n = len(ids)
    if n == 0:
        raise PredictionsError(f"{path}: no rows.")
    if len(set(ids)) != n:
        raise PredictionsError(f"{path}: column 'id' has repeated ids; ids must be unique.")
    logits = _matrix(path, "logits", columns["logits"], n) if "logits" in columns else None
    if "probs" in columns:
        probs = _matrix(path, "probs", columns["probs"], n)
        sums = probs.sum(axis=1)
        bad = (probs < 0).any(axis=1) | (np.abs(sums - 1) > 1e-3)
        if bad.any():
            row = int(np.argmax(bad))
            raise PredictionsError(
                f"{path}: column 'probs' is not a probability distribution in {int(bad.sum())} "
                f"row(s) (row {row} sums to {sums[row]:.4f}, min {probs[row].min():.4f}). Fix: "
                "export softmax probabilities, or give raw scores as 'logits'."
            )
        if logits is None:
            logits = np.log(np.clip(probs, 1e-12, None))
        elif logits.shape != probs.shape:
            raise PredictionsError(
                f"{path}: 'logits' is {logits.shape} but 'probs' is {probs.shape}."
            )
    elif logits is not None:
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    else:
        raise PredictionsError(
            f"{path}: needs a 'logits' or a 'probs' column (columns: {sorted(columns)})."
        )
    n_classes = probs.shape[1]
    names = label_names or [str(c) for c in range(n_classes)]
    if len(names) != n_classes:
        raise PredictionsError(
            f"{path}: {n_classes} classes in the logits/probs but label_names (study.yaml) has "
            f"{len(names)}: {names}."
        )
    record: dict[str, Any] = {"ids": ids, "logits": logits, "probs": probs, "names": names}
    if "label" in columns:
        record["labels"] = _labels(path, columns["label"], names, n_classes)
    if "embedding" in columns:
        record["embedding"] = _matrix(path, "embedding", columns["embedding"], n)
    return record


def _variant_files(folder: Path, split: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in SUFFIXES:
            continue
        stem = path.stem
        if stem.endswith(f".{split}"):
            stem = stem[: -len(split) - 1]
        elif "." in stem:
            continue  # another split's file
        if stem in files:
            raise PredictionsError(
                f"{folder}: two files for variant {stem!r}: {files[stem].name} and {path.name}."
            )
        files[stem] = path
    return files


def import_predictions(folder: str | Path, cache_root: str | Path) -> CacheView:
    """Turn a predictions folder into cache entries and a manifest; return its cache view.

    Args:
        folder: the predictions folder (see the module docstring).
        cache_root: the cache to write the entries into (`paths.cache_dir`).

    Returns:
        A view that `trusteq.compare.run_compare` reads like a trusteq study's.

    Raises:
        PredictionsError: a missing or invalid `study.yaml`, no variant files, a missing column,
            non-finite values, probabilities that are not distributions, unknown labels, or
            files whose ids or N differ from the reference's.
    """
    folder = Path(folder).resolve()
    spec_path = folder / STUDY_FILE
    if not folder.is_dir():
        raise PredictionsError(f"predictions={folder}: not a folder.")
    if not spec_path.is_file():
        raise PredictionsError(
            f"{spec_path}: missing. Write it with at least `name:` and `reference:` (see "
            "`trusteq/compare/imports.py` for every field)."
        )
    try:
        spec = yaml.safe_load(spec_path.read_text()) or {}
    except yaml.YAMLError as error:
        raise PredictionsError(f"{spec_path}: not valid YAML ({error}).") from error
    unknown = set(spec) - _STUDY_FIELDS
    if unknown:
        raise PredictionsError(
            f"{spec_path}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_STUDY_FIELDS)}."
        )
    for field in ("name", "reference"):
        if not spec.get(field):
            raise PredictionsError(f"{spec_path}: field {field!r} is required.")
    split = str(spec.get("split") or "test")
    files = _variant_files(folder, split)
    if not files:
        raise PredictionsError(
            f"{folder}: no prediction files (<variant>.parquet / .jsonl / .npz) for split "
            f"{split!r}."
        )
    reference = str(spec["reference"])
    declared = [reference, *(s for s in (spec.get("seeds") or []) if s != reference)]
    floor = spec.get("noise_floor")
    for name, field in [
        (reference, "reference"),
        (floor, "noise_floor"),
        *((s, "seeds") for s in declared),
    ]:
        if name and name not in files:
            raise PredictionsError(
                f"{spec_path}: {field} names variant {name!r}, but there is no {name}.parquet / "
                f".jsonl / .npz in {folder} (found: {sorted(files)})."
            )
    if floor and floor not in declared:
        declared.append(str(floor))
    listed = [str(v) for v in spec.get("variants") or []]
    unknown = [v for v in listed if v not in files]
    if unknown:
        raise PredictionsError(
            f"{spec_path}: variants lists {unknown}, which have no file in {folder} (found: "
            f"{sorted(files)})."
        )
    order = list(dict.fromkeys([*declared, *listed, *(n for n in files if n not in declared)]))
    label_names = [str(n) for n in spec["label_names"]] if spec.get("label_names") else None
    records = {name: _read_variant(files[name], label_names) for name in order}
    ref = records[reference]
    position = {example_id: row for row, example_id in enumerate(ref["ids"])}
    labels = next((r["labels"] for r in records.values() if "labels" in r), None)
    if labels is None:
        raise PredictionsError(
            f"{folder}: no file has a 'label' column; add the gold labels to at least one file "
            "(errors, agreement with the truth and calibration need them)."
        )
    store = OutputStore(Path(cache_root).resolve())
    manifest_records: dict[str, dict[str, Any]] = {}
    aligned_labels: np.ndarray | None = None
    for name in order:
        record = records[name]
        path = files[name]
        if len(record["ids"]) != len(ref["ids"]) or set(record["ids"]) != set(position):
            missing = sorted(set(position) - set(record["ids"]))[:3]
            extra = sorted(set(record["ids"]) - set(position))[:3]
            raise PredictionsError(
                f"{path}: ids differ from the reference's ({files[reference].name}): "
                f"N = {len(record['ids'])} vs {len(ref['ids'])}; missing e.g. {missing}, extra "
                f"e.g. {extra}. Every file must hold the same examples."
            )
        if record["probs"].shape[1] != ref["probs"].shape[1]:
            raise PredictionsError(
                f"{path}: {record['probs'].shape[1]} classes, the reference has "
                f"{ref['probs'].shape[1]}."
            )
        order_rows = np.argsort([position[i] for i in record["ids"]])
        if "labels" in record:
            these = record["labels"][order_rows]
            if aligned_labels is None:
                aligned_labels = these
            elif not np.array_equal(aligned_labels, these):
                row = int(np.argmax(aligned_labels != these))
                raise PredictionsError(
                    f"{path}: column 'label' differs from another file's at id "
                    f"{ref['ids'][row]!r}; the gold labels must agree."
                )
        record["order"] = order_rows
    assert aligned_labels is not None
    digest_parts = {"spec": spec}
    for name in order:
        record, path = records[name], files[name]
        rows = record["order"]
        probs = record["probs"][rows].astype(np.float32)
        arrays = {
            "logits": record["logits"][rows].astype(np.float32),
            "probs": probs,
            "preds": probs.argmax(axis=1).astype(np.int64),
            "targets": aligned_labels.astype(np.int64),
        }
        if "embedding" in record:
            embedding = record["embedding"][rows].astype(np.float32)
            arrays["embeddings_cls"] = embedding
            arrays["embeddings_mean"] = embedding
        sha = _file_sha256(path)
        digest_parts[name] = sha
        key = content_key(
            OUTPUTS,
            {
                "imported": sha,
                "split": split,
                "labels": ids_digest([str(v) for v in aligned_labels.tolist()]),
            },
        )
        meta = {
            "variant": name,
            "study": spec["name"],
            "split": split,
            "ids": list(ref["ids"]),
            "label_names": ref["names"],
            "source_file": str(path),
            "source_sha256": sha,
            "compression_stats": dict(_NAN_STATS),
            "latency": None,
            "timings": {"predict_seconds": math.nan, "examples_per_second": math.nan},
            "imported": True,
        }
        if not store.exists(OUTPUTS, key):
            store.write_arrays(OUTPUTS, key, arrays, meta)
        manifest_records[name] = {
            split: {"key": key, "n": len(ref["ids"]), "ids_sha256": ids_digest(list(ref["ids"]))}
        }
    header = StudyHeader(
        name=str(spec["name"]),
        variants=order,
        reference=reference,
        noise_floor=str(floor) if floor else None,
        seeds=declared if len(declared) > 1 else [reference],
        task=ClassificationTask.name,
        label_names=ref["names"],
        descriptions={str(k): str(v) for k, v in (spec.get("descriptions") or {}).items()},
    )
    digest = "imported-" + content_key("imported", digest_parts, length=16)
    manifest = Manifest(header, digest, outputs=manifest_records)
    target = manifest_dir(store.root, header.name, digest)
    for name in order:
        manifest.write_part(target, name)
    manifest.folder = target
    return CacheView(
        store, manifest, ClassificationTask(), hint=f"`trusteq-compare predictions={folder}`"
    )


def export_predictions(
    view: CacheView, split: str, folder: str | Path, fmt: str = "parquet"
) -> Path:
    """Write a study's cached outputs on `split` as a predictions folder (the inverse import).

    Args:
        view: the study's cache view.
        split: the split to export.
        folder: the folder to write (created).
        fmt: `parquet`, `jsonl` or `npz`.

    Returns:
        The folder.
    """
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header = view.header
    for name in view.variants:
        arrays, meta = view.raw_outputs(name, split)
        columns = {
            "id": list(meta["ids"]),
            "logits": arrays["logits"].astype(np.float64).tolist(),
            "probs": arrays["probs"].astype(np.float64).tolist(),
            "label": arrays["targets"].astype(np.int64).tolist(),
        }
        if "embeddings_cls" in arrays:
            columns["embedding"] = arrays["embeddings_cls"].astype(np.float64).tolist()
        if fmt == "npz":
            np.savez(
                folder / f"{name}.npz",
                ids=np.asarray(meta["ids"]),
                logits=arrays["logits"],
                probs=arrays["probs"],
                labels=arrays["targets"],
                **({"embeddings": arrays["embeddings_cls"]} if "embeddings_cls" in arrays else {}),
            )
        elif fmt == "jsonl":
            pd.DataFrame(columns).to_json(folder / f"{name}.jsonl", orient="records", lines=True)
        else:
            pd.DataFrame(columns).to_parquet(folder / f"{name}.parquet")
    spec = {
        "name": f"{header.name}-imported",
        "reference": header.reference,
        "noise_floor": header.noise_floor,
        "seeds": list(header.seeds),
        "variants": list(header.variants),
        "label_names": list(header.label_names),
        "split": split,
        "descriptions": dict(header.descriptions),
    }
    (folder / STUDY_FILE).write_text(yaml.safe_dump({k: v for k, v in spec.items() if v}))
    return folder

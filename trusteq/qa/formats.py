"""Readers of the QA file layouts into one record list, and records -> :class:`QASplit`.

Layouts (``format``):

- ``squad_json``: the official SQuAD v1.1/v2.0 file, ``{"data": [{"title", "paragraphs":
  [{"context", "qas": [{"id", "question", "answers": [{"text", "answer_start"}],
  "is_impossible"}]}]}]}``. ``is_impossible: true`` questions get no gold answer (their
  ``plausible_answers`` are ignored, as in the official evaluation).
- ``jsonl`` / ``parquet``: one question per row with the columns of the hub's ``squad_v2``:
  ``id``, ``question``, ``context``, ``answers = {"text": [...], "answer_start": [...]}``.
- ``mrqa``: the MRQA 2019 shared-task jsonl (Fisch et al. 2019, how NewsQA is distributed), one
  passage per line ``{"context", "qas": [{"qid", "question", "answers": [...],
  "detected_answers": [{"text", "char_spans": [[start, end]]}]}]}`` after an optional
  ``{"header": ...}`` line; ``.gz`` files are read as gzip. Gold texts are the detected spans
  (located, so they can be training labels) plus any other listed answer (start -1).

A record is ``{"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}}``.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trusteq.data.base import DataConfigError
from trusteq.data.local_files import decode_utf8
from trusteq.qa.data import QASplit

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("squad_json", "jsonl", "parquet", "mrqa")
Record = dict[str, Any]


def infer_format(path: Path) -> str | None:
    """The layout of ``path`` from its suffix (and, for jsonl, its first line), or None."""
    name = path.name.lower()
    if name.endswith((".json", ".json.gz")):
        return "squad_json"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        first = next(iter(_jsonl_objects(path, "files")), (0, {}))[1]
        return "mrqa" if ("header" in first or "qas" in first) else "jsonl"
    return None


def _text(path: Path, field: str) -> str:
    raw = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except OSError as err:
            raise DataConfigError(
                f"file '{path}' (field '{field}'): not a valid gzip file ({err}); "
                "decompress it or fix the suffix"
            ) from err
    return decode_utf8(raw, path, field)


def _jsonl_objects(path: Path, field: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(_text(path, field).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataConfigError(
                f"file '{path}' (field '{field}'): invalid JSON at line {number}: {err.msg}; "
                "expected one JSON object per line"
            ) from err
        if not isinstance(record, dict):
            raise DataConfigError(
                f"file '{path}' (field '{field}'): line {number} holds a "
                f"{type(record).__name__}, expected a JSON object"
            )
        yield number, record


def _need(mapping: Mapping[str, Any], key: str, where: str, fix: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        have = sorted(mapping) if isinstance(mapping, Mapping) else type(mapping).__name__
        raise DataConfigError(f"{where}: missing field {key!r} (found {have}); {fix}")
    return mapping[key]


def read_squad_json(path: Path, field: str) -> list[Record]:
    """Records of an official SQuAD json file.

    Raises:
        DataConfigError: invalid JSON or a missing ``data`` / ``paragraphs`` / ``qas`` field.
    """
    try:
        document = json.loads(_text(path, field))
    except json.JSONDecodeError as err:
        raise DataConfigError(
            f"file '{path}' (field '{field}'): invalid JSON ({err.msg} at line {err.lineno}); "
            'expected the official SQuAD layout {"data": [...]}'
        ) from err
    fix = "expected the official SQuAD layout data[].paragraphs[].qas[]"
    records = []
    for a, article in enumerate(_need(document, "data", f"file '{path}' (field '{field}')", fix)):
        for p, paragraph in enumerate(
            _need(article, "paragraphs", f"file '{path}' data[{a}]", fix)
        ):
            where = f"file '{path}' data[{a}].paragraphs[{p}]"
            context = _need(paragraph, "context", where, fix)
            for q, qa in enumerate(_need(paragraph, "qas", where, fix)):
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                if not isinstance(answers, list):
                    raise DataConfigError(
                        f"{where}.qas[{q}]: field 'answers' must be a list of "
                        f"{{text, answer_start}}, got {type(answers).__name__}"
                    )
                qa_where = f"{where}.qas[{q}]"
                records.append(
                    {
                        "id": _need(qa, "id", qa_where, fix),
                        "question": _need(qa, "question", qa_where, fix),
                        "context": context,
                        "answers": {
                            "text": [_need(x, "text", f"{qa_where}.answers", fix) for x in answers],
                            "answer_start": [
                                _need(x, "answer_start", f"{qa_where}.answers", fix)
                                for x in answers
                            ],
                        },
                        "_where": qa_where,
                    }
                )
    return records


def mrqa_records(context: str, qas: Iterable[Mapping[str, Any]], where: str) -> list[Record]:
    """Records of one MRQA passage (jsonl layout) or of MRQA hub rows (one question each).

    ``detected_answers`` may be a list of ``{text, char_spans: [[start, end], ...]}`` (the jsonl
    files; ``end`` inclusive) or the hub's column layout ``{text: [...], char_spans: [{start:
    [...], end: [...]}]}``.
    """
    fix = "expected the MRQA layout {context, qas: [{qid, question, answers, detected_answers}]}"
    records = []
    for q, qa in enumerate(qas):
        qa_where = f"{where}.qas[{q}]"
        detected = qa.get("detected_answers") or []
        if isinstance(detected, Mapping):  # hub column layout: a dict of lists
            spans = detected.get("char_spans") or []
            detected = [
                {
                    "text": text,
                    "char_spans": list(
                        zip(span.get("start", []), span.get("end", []), strict=True)
                    ),
                }
                for text, span in zip(detected.get("text", []), spans, strict=False)
            ]
        texts, starts = [], []
        for answer in detected:
            for start, _end in answer.get("char_spans") or []:
                text = _need(answer, "text", f"{qa_where}.detected_answers", fix)
                if text not in texts:
                    texts.append(text)
                    starts.append(int(start))
        for text in qa.get("answers") or []:
            if text not in texts:
                texts.append(str(text))
                starts.append(-1)
        qid = qa.get("qid", qa.get("id"))
        if qid is None:
            raise DataConfigError(f"{qa_where}: missing field 'qid' (or 'id'); {fix}")
        records.append(
            {
                "id": qid,
                "question": _need(qa, "question", qa_where, fix),
                "context": context,
                "answers": {"text": texts, "answer_start": starts},
                "_where": qa_where,
            }
        )
    return records


def read_mrqa(path: Path, field: str) -> list[Record]:
    """Records of an MRQA jsonl (or jsonl.gz) file; the header line is skipped."""
    records = []
    for number, passage in _jsonl_objects(path, field):
        if "header" in passage:
            continue
        where = f"file '{path}' (field '{field}') line {number}"
        context = _need(passage, "context", where, "expected an MRQA passage {context, qas}")
        records += mrqa_records(context, _need(passage, "qas", where, "MRQA layout"), where)
    return records


def read_flat(path: Path, file_format: str, field: str) -> list[Record]:
    """Records of a jsonl or parquet file with the columns id, question, context, answers."""
    if file_format == "parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises many types for bad files
            raise DataConfigError(
                f"file '{path}' (field '{field}'): cannot read as parquet: {err}"
            ) from err
        rows = frame.to_dict("records")
        return [
            {**row, "_where": f"file '{path}' (field '{field}') row {i}"}
            for i, row in enumerate(rows)
        ]
    return [
        {**record, "_where": f"file '{path}' (field '{field}') line {number}"}
        for number, record in _jsonl_objects(path, field)
    ]


def read_records(path: Path, file_format: str, field: str) -> list[Record]:
    """Records of one file in ``file_format`` (one of :data:`FORMATS`)."""
    if file_format == "squad_json":
        return read_squad_json(path, field)
    if file_format == "mrqa":
        return read_mrqa(path, field)
    return read_flat(path, file_format, field)


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return list(value)
    return None


def records_to_split(
    records: Iterable[Record],
    split_name: str,
    where: str,
    id_prefix: str = "",
    check_spans: bool = True,
) -> QASplit:
    """Validate records and build a :class:`QASplit`.

    Args:
        records: dicts with ``id``, ``question``, ``context``, ``answers`` (``{"text": [...],
            "answer_start": [...]}``; empty lists = unanswerable); an optional ``_where`` names
            the record's place in its file for error messages.
        split_name: the split's name.
        where: the source, for messages without a ``_where``.
        id_prefix: prepended to every id (``"<prefix>:<id>"``) unless empty.
        check_spans: check that each located answer (start >= 0) is the context's text at that
            offset; a mismatch is counted and logged, and the start set to -1 (not a label).

    Raises:
        DataConfigError: a missing field, a non-string question or context, a malformed
            ``answers`` value, an ``answer_start`` outside the context, or a repeated id; the
            message names the file, the record and the fix.
    """
    fields = ("id", "question", "context", "answers")
    ids, questions, contexts, texts, starts = [], [], [], [], []
    mismatched = 0
    for index, record in enumerate(records):
        at = record.get("_where", f"{where} record {index}")
        missing = [name for name in fields if name not in record]
        if missing:
            raise DataConfigError(
                f"{at}: missing field(s) {missing}; every question needs {list(fields)} "
                "(answers = {text: [...], answer_start: [...]}, empty lists if unanswerable)"
            )
        for name in ("question", "context"):
            if not isinstance(record[name], str):
                raise DataConfigError(
                    f"{at}: field {name!r} must be a string, got {type(record[name]).__name__}"
                )
        answers = record["answers"]
        answer_texts = _as_list(answers.get("text")) if isinstance(answers, Mapping) else None
        answer_starts = (
            _as_list(answers.get("answer_start")) if isinstance(answers, Mapping) else None
        )
        if answer_texts is None or answer_starts is None or len(answer_texts) != len(answer_starts):
            raise DataConfigError(
                f"{at}: field 'answers' must be {{'text': [...], 'answer_start': [...]}} with "
                f"lists of equal length (empty for an unanswerable question), got {answers!r}"
            )
        context = record["context"]
        clean_starts = []
        for text, start in zip(answer_texts, answer_starts, strict=True):
            if (
                not isinstance(text, str)
                or isinstance(start, bool)
                or not float(start).is_integer()
            ):
                raise DataConfigError(
                    f"{at}: answer {text!r} at {start!r}: 'text' must be a string and "
                    "'answer_start' an integer character offset"
                )
            start = int(start)
            if start >= len(context) or start < -1:
                raise DataConfigError(
                    f"{at}: answer_start {start} of answer {text!r} lies outside its context "
                    f"({len(context)} characters); fix the offset (-1 = not located)"
                )
            if check_spans and start >= 0 and context[start : start + len(text)] != text:
                mismatched += 1
                start = -1
            clean_starts.append(start)
        qid = str(record["id"])
        ids.append(f"{id_prefix}:{qid}" if id_prefix else qid)
        questions.append(record["question"])
        contexts.append(context)
        texts.append([str(t) for t in answer_texts])
        starts.append(clean_starts)
    if mismatched:
        log.warning(
            "%s: %d answer(s) do not match the context at their answer_start; they count for "
            "exact match and F1 but are not used as training labels",
            where,
            mismatched,
        )
    try:
        return QASplit(split_name, ids, questions, contexts, texts, starts)
    except ValueError as err:
        raise DataConfigError(f"{where}: {err}; ids must be unique within a split") from err


def file_reader(path: Path, file_format: str | None, field: str) -> Callable[[], list[Record]]:
    """A function reading ``path`` (format given or inferred), checked for existence now.

    Raises:
        DataConfigError: the file does not exist or its format is unknown.
    """
    if not path.is_file():
        raise DataConfigError(
            f"file '{path}' (field '{field}'): not found or not a file; fix the path in the "
            "dataset config (relative paths resolve from the working directory)"
        )
    resolved = file_format or infer_format(path)
    if resolved not in FORMATS:
        raise DataConfigError(
            f"file '{path}' (field '{field}'): unknown QA file format "
            f"{file_format or path.suffix!r}; expected one of {list(FORMATS)} (set "
            f"'{field.rsplit('.', 1)[0]}.format') or a suffix .json, .jsonl, .jsonl.gz, .parquet"
        )
    return lambda: read_records(path, resolved, field)

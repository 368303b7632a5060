"""Degenerate data are refused or warned about loudly (issue 10, item 8).

Trials: single-class training data, test labels never seen in training, whitespace-only texts and
a 2-example training set ran silently; the empty-label message suggested `drop_labels` (which
cannot match a missing value); a JSON file named .csv dumped 9 kB of column names.
"""

from __future__ import annotations

import csv
import json
import logging

import pytest

from trusteq.data import LocalFilesTextClassification
from trusteq.data.base import DataConfigError


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _source(tmp_path, train, validation=None, test=None):
    files = {
        "train": _write(tmp_path / "train.csv", train),
        "validation": _write(tmp_path / "validation.csv", validation or train),
        "test": _write(tmp_path / "test.csv", test or train),
    }
    return LocalFilesTextClassification(
        files={k: str(v) for k, v in files.items()},
        columns={"id": None, "text_a": "text", "text_b": None, "label": "label"},
        label_names=["negative", "positive", "neutral"],
    )


BALANCED = [(f"good film {i}", "positive") for i in range(8)] + [
    (f"bad film {i}", "negative") for i in range(8)
]


def test_single_class_training_data_is_refused(tmp_path):
    only_positive = [(f"good {i}", "positive") for i in range(12)]
    with pytest.raises(DataConfigError, match="single class") as caught:
        _source(tmp_path, only_positive, validation=BALANCED, test=BALANCED).load()
    assert "['positive']" in str(caught.value) and "Fix:" in str(caught.value)


def test_test_labels_unseen_in_training_warn(tmp_path, caplog):
    test = [*BALANCED, ("meh", "neutral"), ("so so", "neutral")]
    with caplog.at_level(logging.WARNING, logger="trusteq.data.base"):
        _source(tmp_path, BALANCED, test=test).load()
    messages = [r.getMessage() for r in caplog.records]
    assert any("never seen in training: ['neutral'] (2 examples)" in m for m in messages)


def test_whitespace_only_texts_are_dropped_with_a_count(tmp_path, caplog):
    train = [*BALANCED, ("   ", "positive"), ("\t", "negative")]
    with caplog.at_level(logging.WARNING, logger="trusteq.data.base"):
        data = _source(tmp_path, train, validation=BALANCED, test=BALANCED).load()
    assert len(data["train"]) == len(BALANCED)
    assert any("dropped 2 of 18 examples" in r.getMessage() for r in caplog.records)


def test_tiny_training_set_warns(tmp_path, caplog):
    tiny = [("good", "positive"), ("bad", "negative")]
    with caplog.at_level(logging.WARNING, logger="trusteq.data.base"):
        _source(tmp_path, tiny, validation=BALANCED, test=BALANCED).load()
    assert any("only 2 training examples" in r.getMessage() for r in caplog.records)


def test_empty_label_does_not_suggest_drop_labels(tmp_path):
    train = [*BALANCED, ("no label here", "")]
    with pytest.raises(DataConfigError, match="is empty at") as caught:
        _source(tmp_path, train).load()
    assert "drop_labels" not in str(caught.value)


def test_json_named_csv_says_it_looks_like_json(tmp_path):
    path = tmp_path / "train.csv"
    records = [{"text": f"t{i}", "label": "positive"} for i in range(50)]
    path.write_text("\n".join(json.dumps(record) for record in records))
    source = LocalFilesTextClassification(
        files={"train": str(path), "validation": None, "test": str(path)},
        columns={"id": None, "text_a": "text", "text_b": None, "label": "label"},
        label_names=["negative", "positive"],
    )
    with pytest.raises(DataConfigError, match="looks like JSON lines") as caught:
        source.load()
    assert "jsonl" in str(caught.value) and len(str(caught.value)) < 400

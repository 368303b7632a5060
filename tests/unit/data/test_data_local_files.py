from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.data import DataConfigError, LocalFilesTextClassification

CONFIG = Path(__file__).parents[3] / "conf" / "dataset" / "local_files.yaml"


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def rows(n: int, prefix: str, pattern=(0, 1, 1)) -> list[dict]:
    return [
        {"uid": f"{prefix}{i}", "sentence": f"{prefix} text {i}", "gold": pattern[i % 3]}
        for i in range(n)
    ]


def make(tmp_path: Path, train: Path, test: Path, validation: Path | None = None, **overrides):
    cfg = OmegaConf.load(CONFIG)
    cfg.files = {
        "train": str(train),
        "validation": None if validation is None else str(validation),
        "test": str(test),
    }
    cfg.columns = {"id": "uid", "text_a": "sentence", "text_b": None, "label": "gold"}
    cfg.label_names = ["negative", "positive"]
    for key, value in overrides.items():
        cfg[key] = value
    return instantiate(cfg)


def direct(tmp_path: Path, **kwargs) -> LocalFilesTextClassification:
    defaults = {
        "files": {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")},
        "columns": {"id": "uid", "text_a": "sentence", "label": "gold"},
        "label_names": ["negative", "positive"],
    }
    return LocalFilesTextClassification(**{**defaults, **kwargs})


@pytest.fixture
def csv_files(tmp_path: Path) -> tuple[Path, Path]:
    return write_csv(tmp_path / "train.csv", rows(60, "tr")), write_csv(
        tmp_path / "test.csv", rows(15, "te")
    )


def test_config_has_required_fields() -> None:
    cfg = OmegaConf.load(CONFIG)
    assert next(iter(cfg)) == "_target_"
    assert OmegaConf.is_missing(cfg.files, "train") and OmegaConf.is_missing(cfg, "label_names")


def test_csv_with_carved_validation(tmp_path: Path, csv_files) -> None:
    data = make(tmp_path, *csv_files).load()
    assert len(data["train"]) == 54 and len(data["validation"]) == 6 and len(data["test"]) == 15
    assert data["validation"].class_counts(2).tolist() == [2, 4]
    assert data["test"].ids[:2] == ["test:te0", "test:te1"]
    assert data["test"].text_a[1] == "te text 1" and data["test"].labels.tolist()[:3] == [0, 1, 1]


def test_formats_agree(tmp_path: Path) -> None:
    train, test = rows(30, "tr"), rows(9, "te")
    frames = {"train": pd.DataFrame(train), "test": pd.DataFrame(test)}
    for split, frame in frames.items():
        frame.to_csv(tmp_path / f"{split}.tsv", sep="\t", index=False)
        frame.to_parquet(tmp_path / f"{split}.parquet", index=False)
        (tmp_path / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in frame.to_dict("records")) + "\n"
        )
    fingerprints = set()
    for suffix in ("tsv", "parquet", "jsonl"):
        data = make(tmp_path, tmp_path / f"train.{suffix}", tmp_path / f"test.{suffix}").load()
        fingerprints.add(tuple(data[s].fingerprint() for s in ("train", "validation", "test")))
    assert len(fingerprints) == 1
    # An explicit format overrides the suffix.
    (tmp_path / "train.txt").write_bytes((tmp_path / "train.jsonl").read_bytes())
    (tmp_path / "test.txt").write_bytes((tmp_path / "test.jsonl").read_bytes())
    data = make(tmp_path, tmp_path / "train.txt", tmp_path / "test.txt", format="jsonl").load()
    assert (data["test"].fingerprint(),) == (next(iter(fingerprints))[2],)


def test_pairs_label_map_and_drop(tmp_path: Path) -> None:
    records = [
        {"p": f"p{i}", "h": f"h{i}", "y": ["yes", "no", "skip", "maybe"][i % 4]} for i in range(40)
    ]
    train = write_csv(tmp_path / "train.csv", records)
    test = write_csv(tmp_path / "test.csv", records[:8])
    data = make(
        tmp_path,
        train,
        test,
        validation=test,
        columns={"id": None, "text_a": "p", "text_b": "h", "label": "y"},
        label_names=["entailment", "neutral", "contradiction"],
        label_map={"yes": "entailment", "maybe": 1, "no": 2},
        drop_labels=["skip"],
    )
    loaded = data.load()
    assert loaded.is_pair
    assert len(loaded["train"]) == 30 and len(loaded["test"]) == 6
    assert loaded["test"].labels.tolist() == [0, 2, 1, 0, 2, 1]
    assert loaded["test"].ids == ["test:0", "test:1", "test:3", "test:4", "test:5", "test:7"]
    assert loaded["validation"].ids[0] == "validation:0"
    assert loaded["test"].text_b[2] == "h3"


def test_label_names_as_raw_labels_and_bom(tmp_path: Path) -> None:
    text = "\ufefflabel,text\npositive,great\nnegative,awful\npositive,fine\n"
    (tmp_path / "test.csv").write_text(text, encoding="utf-8")
    write_csv(
        tmp_path / "train.csv",
        [{"label": ["negative", "positive"][i % 2], "text": f"t{i}"} for i in range(20)],
    )
    source = direct(tmp_path, columns={"text_a": "text", "label": "label"})
    data = source.load()
    assert data["test"].labels.tolist() == [1, 0, 1]


def test_text_like_na_stays_text(tmp_path: Path) -> None:
    (tmp_path / "test.csv").write_text("uid,sentence,gold\na,NA,0\nb,None,1\n")
    write_csv(tmp_path / "train.csv", rows(20, "tr"))
    assert direct(tmp_path).load()["test"].text_a == ["NA", "None"]


def test_identity_follows_content(tmp_path: Path, csv_files) -> None:
    source = make(tmp_path, *csv_files)
    identity = source.identity()
    json.dumps(identity)
    assert identity["files"]["train"]["name"] == "train.csv"
    fingerprint = source.load()["test"].fingerprint()
    changed = rows(15, "te")
    changed[4]["gold"] = 1 - changed[4]["gold"]
    write_csv(csv_files[1], changed)
    assert source.identity() != identity
    assert source.load()["test"].fingerprint() != fingerprint


# --- errors: each names the file and the field, says what was expected and how to fix it ---


def test_missing_column(tmp_path: Path, csv_files) -> None:
    source = direct(tmp_path, columns={"id": "uid", "text_a": "text", "label": "gold"})
    with pytest.raises(
        DataConfigError,
        match=r"train\.csv' \(field 'files\.train'\): column "
        r"'text' \(field 'columns\.text_a'\) not found; available columns are "
        r"\['uid', 'sentence', 'gold'\]",
    ):
        source.load()


def test_empty_split_after_filtering(tmp_path: Path, csv_files) -> None:
    write_csv(tmp_path / "test.csv", [{"uid": "a", "sentence": "x", "gold": -1}])
    with pytest.raises(
        DataConfigError,
        match=r"test\.csv' \(field 'files\.test'\): no examples "
        r"left.*drop_labels",
    ):
        direct(tmp_path, drop_labels=[-1]).load()


def test_label_outside_set(tmp_path: Path, csv_files) -> None:
    bad = rows(15, "te")
    bad[6]["gold"] = 5
    write_csv(tmp_path / "test.csv", bad)
    with pytest.raises(
        DataConfigError,
        match=r"test\.csv'.*column 'gold' \(field 'columns\.label'"
        r"\) holds 5 at row 7 \(line 8.*\(id 'test:te6'\).*label_names "
        r"\['negative', 'positive'\]",
    ):
        direct(tmp_path).load()
    with pytest.raises(DataConfigError, match=r"holds 5 .*label_map \{0: 'negative', 1: 1\}"):
        direct(tmp_path, label_map={0: "negative", 1: 1}).load()


def test_non_utf8_bytes(tmp_path: Path, csv_files) -> None:
    raw = b"uid,sentence,gold\na,fine,0\nb,caf\xe9 au lait,1\n"
    (tmp_path / "test.csv").write_bytes(raw)
    with pytest.raises(
        DataConfigError,
        match=r"test\.csv' \(field 'files\.test'\): not valid "
        r"UTF-8.*line 3.*iconv",
    ):
        direct(tmp_path).load()
    (tmp_path / "test.jsonl").write_bytes(b'{"uid": "a"}\n{"sentence": "\xff"}\n')
    with pytest.raises(DataConfigError, match=r"test\.jsonl'.*UTF-8.*line 2"):
        direct(
            tmp_path, files={"train": str(csv_files[0]), "test": str(tmp_path / "test.jsonl")}
        ).load()


@pytest.mark.parametrize(
    ("first", "second", "shown"),
    [("ok", "", "float nan"), ("7", "42", "int 42")],  # all-numeric: a column of numbers
)
def test_text_column_not_text(tmp_path: Path, csv_files, first, second, shown) -> None:
    (tmp_path / "test.csv").write_text(f"uid,sentence,gold\na,{first},0\nb,{second},1\n")
    row = 1 if first == "7" else 2
    example = "a" if row == 1 else "b"
    with pytest.raises(
        DataConfigError,
        match=rf"test\.csv'.*text column 'sentence' \(field "
        rf"'columns\.text_a'\).*row {row} .*id 'test:{example}'",
    ):
        direct(tmp_path).load()
    with pytest.raises(DataConfigError, match=rf"holds {shown if row == 2 else 'int 7'}"):
        direct(tmp_path).load()


def test_text_b_null_in_jsonl(tmp_path: Path, csv_files) -> None:
    lines = [{"a": "x", "b": "y", "y": 0}, {"a": "x", "b": None, "y": 1}]
    (tmp_path / "test.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in lines * 10))
    source = direct(
        tmp_path,
        files={"train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl")},
        columns={"text_a": "a", "text_b": "b", "label": "y"},
    )
    with pytest.raises(DataConfigError, match=r"train\.jsonl'.*'columns\.text_b'.*line 2"):
        source.load()


def test_duplicate_ids(tmp_path: Path, csv_files) -> None:
    dup = rows(15, "te")
    dup[9]["uid"] = "te2"
    write_csv(tmp_path / "test.csv", dup)
    with pytest.raises(
        DataConfigError,
        match=r"test\.csv'.*duplicate id 'te2' in column 'uid' "
        r"\(field 'columns\.id'\) at row 3.*and row 10",
    ):
        direct(tmp_path).load()


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(
        DataConfigError,
        match=r"data\.xlsx' \(field 'files\.train'\): unknown "
        r"file format '\.xlsx'.*'format'",
    ):
        direct(tmp_path, files={"train": str(tmp_path / "data.xlsx"), "test": "t.csv"})
    with pytest.raises(DataConfigError, match=r"field 'format' is 'excel'"):
        direct(tmp_path, format="excel")


def test_missing_file_and_bad_fields(tmp_path: Path) -> None:
    with pytest.raises(DataConfigError, match=r"train\.csv' \(field 'files\.train'\): not found"):
        direct(tmp_path).load()
    with pytest.raises(DataConfigError, match=r"'files\.test' must be a file path"):
        direct(tmp_path, files={"train": "a.csv"})
    with pytest.raises(DataConfigError, match=r"'columns\.label' must name a column"):
        direct(tmp_path, columns={"text_a": "x"})
    with pytest.raises(DataConfigError, match=r"'label_names' must be a list of at least two"):
        direct(tmp_path, label_names=["only"])
    with pytest.raises(DataConfigError, match=r"'label_map' maps to 'great'"):
        direct(tmp_path, label_map={"a": "great"})


def test_invalid_jsonl(tmp_path: Path, csv_files) -> None:
    (tmp_path / "test.jsonl").write_text('{"uid": "a", "sentence": "x", "gold": 0}\n{oops\n')
    with pytest.raises(
        DataConfigError,
        match=r"test\.jsonl' \(field 'files\.test'\): invalid "
        r"JSON at line 2",
    ):
        direct(
            tmp_path, files={"train": str(csv_files[0]), "test": str(tmp_path / "test.jsonl")}
        ).load()

"""The four real hub configs, loaded from local stand-in folders laid out like the hub."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.data import DataConfigError, HubTextClassification

CONF = Path(__file__).parents[3] / "conf" / "dataset"


def write_standin(folder: Path, splits: dict[str, pd.DataFrame]) -> Path:
    """Write one parquet file per hub split name; datasets maps them to splits by file name."""
    folder.mkdir(parents=True)
    for split, frame in splits.items():
        frame.to_parquet(folder / f"{split}.parquet", index=False)
    return folder


def load_config(name: str, standin: Path, tmp_path: Path, **overrides):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert next(iter(cfg)) == "_target_"
    cfg.path = str(standin)
    cfg.name = None
    cfg.cache_dir = str(tmp_path / "hf_cache")
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def labels_for(n: int, pattern: list[int]) -> list[int]:
    return [pattern[i % len(pattern)] for i in range(n)]


def test_imdb(tmp_path: Path) -> None:
    train_labels = labels_for(40, [0, 0, 0, 1])  # 30 neg : 10 pos
    standin = write_standin(
        tmp_path / "imdb",
        {
            "train": pd.DataFrame(
                {"text": [f"review {i}" for i in range(40)], "label": train_labels}
            ),
            "test": pd.DataFrame(
                {"text": [f"test review {i}" for i in range(20)], "label": labels_for(20, [0, 1])}
            ),
        },
    )
    source = instantiate(load_config("imdb", standin, tmp_path))
    assert isinstance(source, HubTextClassification)
    data = source.load()
    assert data.name == "imdb"
    assert data.label_names == ["neg", "pos"]
    assert not data.is_pair
    # Validation carved from train: 10% of 40, stratified (3 neg + 1 pos).
    assert len(data["train"]) == 36 and len(data["validation"]) == 4
    assert data["validation"].class_counts(2).tolist() == [3, 1]
    assert set(data["train"].ids).isdisjoint(data["validation"].ids)
    assert sorted(data["train"].ids + data["validation"].ids) == sorted(
        f"train:{i}" for i in range(40)
    )
    assert len(data["test"]) == 20 and data["test"].ids[0] == "test:0"
    assert data["test"].text_a[3] == "test review 3" and data["test"].labels[3] == 1
    for example_id, text in zip(data["train"].ids, data["train"].text_a, strict=True):
        row = int(example_id.split(":")[1])
        assert text == f"review {row}"
        assert data["train"].labels[data["train"].ids.index(example_id)] == train_labels[row]
    again = instantiate(load_config("imdb", standin, tmp_path)).load()
    assert again["validation"].ids == data["validation"].ids
    other = instantiate(load_config("imdb", standin, tmp_path, split_seed=5)).load()
    assert other["validation"].ids != data["validation"].ids


def test_sst2_uses_hub_validation_as_test(tmp_path: Path) -> None:
    standin = write_standin(
        tmp_path / "sst2",
        {
            "train": pd.DataFrame(
                {
                    "idx": range(50),
                    "sentence": [f"s{i}" for i in range(50)],
                    "label": labels_for(50, [0, 1]),
                }
            ),
            "validation": pd.DataFrame(
                {
                    "idx": range(20),
                    "sentence": [f"v{i}" for i in range(20)],
                    "label": labels_for(20, [1, 0]),
                }
            ),
            "test": pd.DataFrame(
                {"idx": range(10), "sentence": [f"t{i}" for i in range(10)], "label": [-1] * 10}
            ),
        },
    )
    data = instantiate(load_config("sst2", standin, tmp_path)).load()
    assert data.label_names == ["negative", "positive"]
    assert data["test"].text_a == [f"v{i}" for i in range(20)]  # hub validation, labels known
    assert data["test"].ids == [f"validation:{i}" for i in range(20)]
    assert data["test"].labels.tolist() == labels_for(20, [1, 0])
    assert len(data["validation"]) == 5 and len(data["train"]) == 45
    assert data["validation"].class_counts(2).tolist() in ([2, 3], [3, 2])
    assert all(i.startswith("train:") for i in data["validation"].ids)


def test_snli_pairs_and_dropped_labels(tmp_path: Path) -> None:
    def frame(prefix: str, labels: list[int]) -> pd.DataFrame:
        n = len(labels)
        return pd.DataFrame(
            {
                "premise": [f"{prefix} premise {i}" for i in range(n)],
                "hypothesis": [f"{prefix} hypothesis {i}" for i in range(n)],
                "label": labels,
            }
        )

    train = labels_for(30, [0, 1, 2, -1, 0, 1])  # five -1
    standin = write_standin(
        tmp_path / "snli",
        {
            "train": frame("tr", train),
            "validation": frame("va", [0, 1, 2, -1, 2, 1]),
            "test": frame("te", [2, 2, -1, 0, 1]),
        },
    )
    data = instantiate(load_config("snli", standin, tmp_path)).load()
    assert data.is_pair
    assert data.label_names == ["entailment", "neutral", "contradiction"]
    assert len(data["train"]) == 25 and len(data["validation"]) == 5 and len(data["test"]) == 4
    assert -1 not in data["train"].labels
    # Ids keep the original row index, so dropped rows leave gaps.
    assert "train:3" not in data["train"].ids and data["test"].ids == [
        "test:0",
        "test:1",
        "test:3",
        "test:4",
    ]
    for a, b in zip(data["train"].text_a, data["train"].text_b, strict=True):
        assert a.replace("premise", "hypothesis") == b
    assert data["test"].labels.tolist() == [2, 2, 0, 1]


def test_qqp_pairs(tmp_path: Path) -> None:
    def frame(prefix: str, n: int, labels: list[int]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "question1": [f"{prefix} q1 {i}" for i in range(n)],
                "question2": [f"{prefix} q2 {i}" for i in range(n)],
                "label": labels,
                "idx": range(100, 100 + n),
            }
        )

    standin = write_standin(
        tmp_path / "qqp",
        {
            "train": frame("tr", 60, labels_for(60, [0, 0, 1])),
            "validation": frame("va", 20, labels_for(20, [0, 1])),
            "test": frame("te", 10, [-1] * 10),
        },
    )
    data = instantiate(load_config("qqp", standin, tmp_path)).load()
    assert data.is_pair
    assert data.label_names == ["not_duplicate", "duplicate"]
    assert len(data["train"]) == 54 and len(data["validation"]) == 6
    assert data["validation"].class_counts(2).tolist() == [4, 2]
    assert data["test"].ids[0] == "validation:100"
    assert data["test"].text_b[0] == "va q2 0"
    assert len(data["test"]) == 20


def test_string_labels_with_label_map(tmp_path: Path) -> None:
    standin = write_standin(
        tmp_path / "strings",
        {
            "train": pd.DataFrame(
                {"text": [f"r{i}" for i in range(20)], "label": labels_for(20, ["bad", "good"])}
            ),  # type: ignore[list-item]
            "test": pd.DataFrame({"text": ["x", "y", "z"], "label": ["good", "bad", "meh"]}),
        },
    )
    cfg = load_config(
        "imdb", standin, tmp_path, label_map={"bad": 0, "good": "pos"}, drop_labels=["meh"]
    )
    data = instantiate(cfg).load()
    assert data["test"].labels.tolist() == [1, 0]
    assert data["train"].class_counts(2).sum() + len(data["validation"]) == 20


def test_identity(tmp_path: Path) -> None:
    cfg = OmegaConf.load(CONF / "sst2.yaml")
    identity = instantiate(cfg).identity()
    json.dumps(identity)
    assert identity["path"] == "glue" and identity["config_name"] == "sst2"
    assert identity["splits"] == {"train": "train", "validation": None, "test": "validation"}
    assert identity["split_seed"] == 0
    cfg.cache_dir = str(tmp_path)
    assert instantiate(cfg).identity() == identity  # runtime-only setting
    cfg.drop_labels = [-1]
    assert instantiate(cfg).identity() != identity


def test_missing_column_names_hub_id_and_field(tmp_path: Path) -> None:
    standin = write_standin(
        tmp_path / "imdb",
        {
            "train": pd.DataFrame({"review": ["a", "b"], "label": [0, 1]}),
            "test": pd.DataFrame({"review": ["c"], "label": [0]}),
        },
    )
    source = instantiate(load_config("imdb", standin, tmp_path))
    with pytest.raises(
        DataConfigError,
        match=r"hub dataset '.*imdb' split 'train'.*'text'.*"
        r"columns\.text_a.*available columns are \['review', 'label'\]",
    ):
        source.load()


def test_label_outside_set_names_hub_id(tmp_path: Path) -> None:
    standin = write_standin(
        tmp_path / "imdb",
        {
            "train": pd.DataFrame({"text": list("abcdefghij"), "label": labels_for(10, [0, 1])}),
            "test": pd.DataFrame({"text": ["c", "d"], "label": [0, 7]}),
        },
    )
    source = instantiate(load_config("imdb", standin, tmp_path))
    with pytest.raises(
        DataConfigError,
        match=r"imdb' split 'test'.*columns\.label.*7 at row 1 "
        r"\(id 'test:1'\).*\['neg', 'pos'\]",
    ):
        source.load()


def test_unreachable_hub_is_a_clear_error(tmp_path: Path) -> None:
    cfg = load_config("imdb", tmp_path / "nowhere", tmp_path)
    with pytest.raises(DataConfigError, match="load_dataset failed.*local folder"):
        instantiate(cfg).load()


def test_bad_splits_config() -> None:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "qqp.yaml"))
    del cfg["_target_"]
    cfg["splits"] = {"train": "train", "validation": None, "test": None}
    with pytest.raises(DataConfigError, match="'glue'.*splits.test"):
        HubTextClassification(**cfg)
    cfg["splits"] = {"train": "train", "dev": "validation", "test": "validation"}
    with pytest.raises(DataConfigError, match="'splits' has unknown keys \\['dev'\\]"):
        HubTextClassification(**cfg)


def test_labels_are_int64(tmp_path: Path) -> None:
    standin = write_standin(
        tmp_path / "imdb",
        {
            "train": pd.DataFrame(
                {
                    "text": list("abcdefghijklmnopqrst"),
                    "label": np.array(labels_for(20, [0, 1]), dtype=np.int8),
                }
            ),
            "test": pd.DataFrame({"text": ["c", "d"], "label": [True, False]}),
        },
    )
    data = instantiate(load_config("imdb", standin, tmp_path)).load()
    assert data["test"].labels.dtype == np.int64 and data["test"].labels.tolist() == [1, 0]

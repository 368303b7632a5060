"""VitaminC loader on a tiny BIG-bench-shaped task.json written in the test (no download)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.data import DataConfigError, DataIntegrityError, bigbench_fetch, fetch
from trusteq.data.vitaminc import LABEL_NAMES, TASK, VitaminC, parse_task

CONFIG = Path(__file__).parents[3] / "conf" / "dataset" / "vitaminc.yaml"
N_PAGES = 60


@pytest.fixture(autouse=True)
def _no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(target: Path) -> Path:
        raise AssertionError("the test tried to download the bigbench sdist")

    monkeypatch.setattr(bigbench_fetch, "download_sdist", refuse)


def one_hot(label: str) -> dict[str, int]:
    return {name: int(name == label) for name in LABEL_NAMES}


def tiny_task() -> dict:
    """60 pages, 5 pairs each (classes 2:2:1, as VitaminC's True / False / Neither roughly)."""
    examples = []
    for page in range(N_PAGES):
        for k, label in enumerate(["True", "False", "True", "False", "Neither"]):
            evidence = f"Page {page} -LRB-film-RRB-: The film grossed ${page + k} million ."
            claim = f"The film made {'more' if k % 2 else 'less'} than {page} million ."
            examples.append(
                {"input": f"{evidence}\nClaim: {claim}", "target_scores": one_hot(label)}
            )
    return {"name": TASK, "examples": examples}


def write_cache(cache_dir: Path, task: dict) -> Path:
    """Put task.json where ensure_bigbench_tasks looks for it, with its manifest."""
    folder = cache_dir / bigbench_fetch.CORPUS_DIRNAME / TASK
    folder.mkdir(parents=True)
    (folder / "task.json").write_text(json.dumps(task), encoding="utf-8")
    fetch.write_manifest(folder, "test", ["task.json"])
    return folder


def make_source(cache_dir: Path, **overrides) -> VitaminC:
    cfg = OmegaConf.load(CONFIG)
    cfg.cache_dir = str(cache_dir)
    for key, value in overrides.items():
        cfg[key] = value
    return instantiate(cfg)


def test_parse_task_reads_evidence_claim_and_label() -> None:
    task = {
        "examples": [
            {
                "input": "Westlife: It sold 23 million .\nClaim: It sold over 25 million .",
                "target_scores": {"True": 0, "False": 1, "Neither": 0},
            },
            {"input": "A: b: c\nClaim: d", "target_scores": {"True": 0, "False": 0, "Neither": 1}},
        ]
    }
    pages, evidence, claims, labels = parse_task(task, "x")
    assert pages == ["Westlife", "A"]
    assert evidence == ["Westlife: It sold 23 million .", "A: b: c"]
    assert claims == ["It sold over 25 million .", "d"]
    assert labels == [1, 2]


@pytest.mark.parametrize(
    "example",
    [
        {"input": "T: no claim marker", "target_scores": one_hot("True")},
        {"input": "T: a\nClaim: b\nClaim: c", "target_scores": one_hot("True")},
        {"input": "no title\nClaim: b", "target_scores": one_hot("True")},
        {"input": "T: a\nClaim: b", "target_scores": {"True": 1, "False": 1, "Neither": 0}},
        {"input": "T: a\nClaim: b", "target_scores": {"Yes": 1}},
    ],
)
def test_parse_task_refuses_malformed_examples(example: dict) -> None:
    with pytest.raises(DataConfigError, match=r"examples\[1\]"):
        parse_task(
            {"examples": [{"input": "T: a\nClaim: b", "target_scores": one_hot("True")}, example]},
            "f",
        )


def test_config_is_lazy_and_checked(tmp_path: Path) -> None:
    assert next(iter(OmegaConf.load(CONFIG))) == "_target_"
    source = make_source(tmp_path / "not-yet")
    assert isinstance(source, VitaminC) and not (tmp_path / "not-yet").exists()
    with pytest.raises(DataConfigError, match="group_by"):
        VitaminC(tmp_path, group_by="claim")
    with pytest.raises(DataConfigError, match="1/20"):
        VitaminC(tmp_path, fractions={"train": 0.72, "validation": 0.08, "test": 0.2})
    with pytest.raises(DataConfigError, match="summing to 1"):
        VitaminC(tmp_path, fractions={"train": 0.7, "validation": 0.1, "test": 0.3})


def test_page_split_is_a_stratified_partition_by_page(tmp_path: Path) -> None:
    write_cache(tmp_path, tiny_task())
    data = make_source(tmp_path).load()
    assert data.is_pair and data.label_names == ["True", "False", "Neither"]
    assert set(data.splits) == {"train", "validation", "test"}
    ids = [i for s in data.splits.values() for i in s.ids]
    assert sorted(ids) == sorted(f"vitaminc:{i}" for i in range(5 * N_PAGES))  # a partition
    pages = {
        name: {text.split(": ", 1)[0] for text in split.text_a}
        for name, split in data.splits.items()
    }
    assert not (pages["train"] & pages["test"] or pages["train"] & pages["validation"])
    assert not pages["validation"] & pages["test"]
    # whole pages of 5 pairs, 60 pages in folds of 3: 42 / 6 / 12 pages
    assert [len(data[s]) for s in ("train", "validation", "test")] == [210, 30, 60]
    for split in data.splits.values():  # every page holds 2:2:1, so every split does
        assert split.class_counts(3).tolist() == [len(split) * 2 // 5] * 2 + [len(split) // 5]
    first = data["train"]
    position = int(first.ids[0].split(":")[1])
    example = tiny_task()["examples"][position]
    assert f"{first.text_a[0]}\nClaim: {first.text_b[0]}" == example["input"]
    assert LABEL_NAMES[first.labels[0]] == next(k for k, v in example["target_scores"].items() if v)
    again = make_source(tmp_path).load()
    assert all(again[s].fingerprint() == data[s].fingerprint() for s in data.splits)
    other = make_source(tmp_path, split_seed=1).load()
    assert other["test"].fingerprint() != data["test"].fingerprint()


def test_example_split_and_stratified_subsample(tmp_path: Path) -> None:
    write_cache(tmp_path, tiny_task())
    data = make_source(
        tmp_path, group_by="none", subsample={"train": 50, "validation": None, "test": 20}
    ).load()
    assert len(data["train"]) == 50 and len(data["test"]) == 20 and len(data["validation"]) == 30
    assert Counter(data["test"].labels.tolist()) == {0: 8, 1: 8, 2: 4}
    assert data["train"].class_counts(3).tolist() == [20, 20, 10]


def test_identity_names_the_split_not_the_cache(tmp_path: Path) -> None:
    a = make_source(tmp_path / "a").identity()
    b = make_source(tmp_path / "b").identity()
    assert a == b and a["group_by"] == "page" and a["source"].endswith(TASK)
    assert "cache_dir" not in a
    assert make_source(tmp_path, group_by="none").identity() != a


def test_modified_cache_is_refused(tmp_path: Path) -> None:
    folder = write_cache(tmp_path, tiny_task())
    (folder / "task.json").write_text(json.dumps({"examples": []}))
    with pytest.raises(DataIntegrityError, match="differs from its manifest"):
        make_source(tmp_path).load()


def test_one_page_cannot_be_split(tmp_path: Path) -> None:
    task = {
        "examples": [
            {"input": "P: e\nClaim: c", "target_scores": one_hot(label)}
            for label in ("True", "False") * 10
        ]
    }
    write_cache(tmp_path, task)
    with pytest.raises(DataConfigError, match="1 pages"):
        make_source(tmp_path).load()
    assert np.all(np.isin(parse_task(task, "x")[3], [0, 1]))

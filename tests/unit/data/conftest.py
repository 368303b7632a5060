"""Fixtures for the data tests: everything is built in tmp_path; nothing touches the network."""

from __future__ import annotations

import os

# Before `datasets` is imported anywhere: its config reads these once, at import.
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from trusteq.data.vader import CORPUS_DIRNAME, write_manifest  # noqa: E402


@pytest.fixture(autouse=True)
def _hub_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep `datasets` offline and its caches in tmp_path even if it was imported earlier."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(
        datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets", raising=False
    )


def _ground_truth_bytes(rows: list[tuple[str, float, str]]) -> bytes:
    """Encode rows the way the VADER files are: tab-separated, CRLF, no final newline."""
    lines = [f"{rid}\t{rating}\t{text}".encode() for rid, rating, text in rows]
    return b"\r\n".join(lines)


def _movie_rows() -> list[tuple[str, float, str]]:
    """80 rows: 40 positive, 32 negative, 8 too neutral (|rating| < 0.5, four of them exactly 0)."""
    rows = []
    for i in range(1, 81):
        if i % 10 == 0:
            rating = 0.0 if i % 20 == 0 else 0.3
        elif i % 10 <= 5:
            rating = 1.5 + (i % 3) * 0.5
        else:
            rating = -1.0 - (i % 4) * 0.5
        rows.append((str(i), rating, f"movie sentence number {i}"))
    return rows


def _tweet_rows() -> list[tuple[str, float, str]]:
    """12 rows: 6 positive, 4 negative, 2 neutral."""
    ratings = [2.0, -2.0, 1.0, -0.6, 0.2, 3.1, -3.0, 0.5, 0.0, -1.0, 1.2, 2.2]
    return [(str(i), r, f"tweet {i} :)") for i, r in enumerate(ratings, start=1)]


@pytest.fixture
def vader_cache(tmp_path: Path) -> Path:
    """A populated cache dir (movie + tweets files and manifest), as a first load leaves it.

    The movie file holds an invalid UTF-8 byte in row 3's text.
    """
    cache_dir = tmp_path / "data"
    folder = cache_dir / CORPUS_DIRNAME
    folder.mkdir(parents=True)
    movie = _ground_truth_bytes(_movie_rows()).replace(b"number 3", b"number \xff3")
    (folder / "movieReviewSnippets_GroundTruth.txt").write_bytes(movie)
    (folder / "tweets_GroundTruth.txt").write_bytes(_ground_truth_bytes(_tweet_rows()))
    write_manifest(folder, "fake corpus for tests")
    return cache_dir


@pytest.fixture
def movie_rows() -> list[tuple[str, float, str]]:
    """The raw movie rows behind ``vader_cache``: (id, rating, text)."""
    return _movie_rows()


@pytest.fixture
def tweet_rows() -> list[tuple[str, float, str]]:
    """The raw tweet rows behind ``vader_cache``."""
    return _tweet_rows()


@pytest.fixture
def ground_truth_bytes():
    """The encoder of VADER ground-truth files (tab-separated, CRLF)."""
    return _ground_truth_bytes

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trusteq.data import DataConfigError, DataIntegrityError, VaderSentimentCorpus, vader_fetch
from trusteq.data import vader as vader_module
from trusteq.data.vader import CORPUS_DIRNAME, MANIFEST_NAME, ensure_vader_corpus

CONFIG = Path(__file__).parents[3] / "conf" / "dataset" / "vader_movies.yaml"


@pytest.fixture(autouse=True)
def _no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(target_dir: Path) -> Path:
        raise AssertionError("the test tried to download the vaderSentiment sdist")

    monkeypatch.setattr(vader_fetch, "_download_sdist", refuse)


def make_config(cache_dir: Path, **overrides):
    cfg = OmegaConf.load(CONFIG)
    cfg.cache_dir = str(cache_dir)
    cfg.ood_corpora = {"ood_tweets": "tweets"}
    cfg.far_ood_corpora = {}  # 20 Newsgroups: tests/unit/data/test_data_newsgroups.py
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def make_source(cache_dir: Path, **overrides) -> VaderSentimentCorpus:
    return instantiate(make_config(cache_dir, **overrides))


def test_config_target_first_and_instantiate_is_lazy(tmp_path: Path) -> None:
    assert next(iter(OmegaConf.load(CONFIG))) == "_target_"
    source = make_source(tmp_path / "does-not-exist-yet")
    assert isinstance(source, VaderSentimentCorpus)
    assert not (tmp_path / "does-not-exist-yet").exists()


def test_load_from_populated_cache(vader_cache: Path, movie_rows) -> None:
    data = make_source(vader_cache).load()
    assert data.name == "vader_movies"
    assert data.label_names == ["negative", "positive"]
    assert not data.is_pair
    assert set(data.splits) == {"train", "validation", "test", "ood_tweets"}
    in_dist = [data[s] for s in ("train", "validation", "test")]
    # 80 movie rows, 8 with |rating| < 0.5 dropped: 40 positive + 32 negative remain.
    assert sum(len(s) for s in in_dist) == 72
    assert sum(int(s.labels.sum()) for s in in_dist) == 40
    assert len(data["test"]) == 15 and len(data["validation"]) == 8 and len(data["train"]) == 49
    all_ids = [i for s in in_dist for i in s.ids]
    assert len(set(all_ids)) == 72
    assert "movieReviewSnippets:10" not in all_ids and "movieReviewSnippets:20" not in all_ids
    assert all(i.startswith("movieReviewSnippets:") for i in all_ids)
    # Stratified: every split keeps the 40/72 positive share within one example.
    for split in in_dist:
        assert abs(split.labels.sum() - len(split) * 40 / 72) <= 1
    # Tweets: 12 rows, 2 neutral dropped (|0.5| is kept), 6 positive.
    tweets = data["ood_tweets"]
    assert len(tweets) == 10 and int(tweets.labels.sum()) == 6
    assert tweets.ids[0] == "tweets:1"
    # Labels are the sign of the rating, checked against the raw rows.
    ratings = {f"movieReviewSnippets:{rid}": r for rid, r, _ in movie_rows}
    for split in in_dist:
        for example_id, label in zip(split.ids, split.labels, strict=True):
            assert label == (ratings[example_id] > 0)


def test_crlf_and_bad_byte(vader_cache: Path) -> None:
    data = make_source(vader_cache).load()
    texts = {i: t for s in data.splits.values() for i, t in zip(s.ids, s.text_a, strict=True)}
    assert texts["movieReviewSnippets:1"] == "movie sentence number 1"  # no trailing \r
    assert texts["movieReviewSnippets:3"] == "movie sentence number \ufffd3"


def test_split_is_deterministic_and_seeded(vader_cache: Path) -> None:
    first = make_source(vader_cache).load()
    again = make_source(vader_cache).load()
    other = make_source(vader_cache, split_seed=1).load()
    for name in ("train", "validation", "test"):
        assert first[name].fingerprint() == again[name].fingerprint()
    assert first["test"].ids != other["test"].ids
    assert sorted(first["test"].ids + first["train"].ids + first["validation"].ids) == sorted(
        other["test"].ids + other["train"].ids + other["validation"].ids
    )


def test_subsample_from_config(vader_cache: Path) -> None:
    source = make_source(
        vader_cache, subsample={"train": 20, "validation": None, "test": 10, "ood": 5}
    )
    data = source.load()
    full = make_source(vader_cache).load()
    assert len(data["train"]) == 20 and len(data["test"]) == 10 and len(data["ood_tweets"]) == 5
    assert len(data["validation"]) == len(full["validation"])
    assert set(data["train"].ids) <= set(full["train"].ids)
    assert (
        data["train"].ids == make_source(vader_cache, subsample={"train": 20}).load()["train"].ids
    )
    assert source.identity()["subsample"]["train"] == 20


def test_min_abs_rating_filter(vader_cache: Path, movie_rows) -> None:
    data = make_source(vader_cache, min_abs_rating=1.6).load()
    kept = [r for _, r, _ in movie_rows if abs(r) >= 1.6]
    assert sum(len(data[s]) for s in ("train", "validation", "test")) == len(kept)


def test_identity_is_json_and_excludes_cache_dir(vader_cache: Path, tmp_path: Path) -> None:
    identity = make_source(vader_cache).identity()
    json.dumps(identity)
    assert identity == make_source(tmp_path / "elsewhere").identity()
    assert identity["sdist_sha256"] == vader_module.VADER_SDIST_SHA256
    assert identity != make_source(vader_cache, split_seed=3).identity()
    assert identity != make_source(vader_cache, min_abs_rating=1.0).identity()


def test_no_ood_corpora(vader_cache: Path) -> None:
    data = make_source(vader_cache, ood_corpora={}).load()
    assert set(data.splits) == {"train", "validation", "test"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"corpus": "imdb"}, "corpus"),
        ({"ood_corpora": {"tweets": "tweets"}}, "ood_corpora"),
        ({"ood_corpora": {"ood_movies": "movieReviewSnippets"}}, "ood_corpora"),
        ({"fractions": {"train": 0.7, "validation": 0.2, "test": 0.2}}, "fractions"),
        ({"min_abs_rating": 5}, "min_abs_rating"),
        ({"subsample": {"train": 0}}, "subsample.train"),
        ({"subsample": {"trian": 5}}, "subsample"),
    ],
)
def test_bad_config_fails_in_constructor(tmp_path: Path, overrides: dict, field: str) -> None:
    kwargs = OmegaConf.to_container(make_config(tmp_path, **overrides))
    del kwargs["_target_"]  # called directly: Hydra would wrap the error
    with pytest.raises(DataConfigError, match=f"vader_movies.*'{field}'"):
        VaderSentimentCorpus(**kwargs)


def test_tampered_cache_is_detected(vader_cache: Path) -> None:
    path = vader_cache / CORPUS_DIRNAME / "tweets_GroundTruth.txt"
    path.write_bytes(path.read_bytes() + b"\r\n99\t1.0\textra")
    with pytest.raises(DataIntegrityError, match="tweets_GroundTruth.txt.*manifest"):
        make_source(vader_cache).load()


def test_missing_corpus_file_in_cache(vader_cache: Path) -> None:
    source = make_source(vader_cache, ood_corpora={"ood_nyt": "nytEditorialSnippets"})
    with pytest.raises(DataIntegrityError, match="nytEditorialSnippets_GroundTruth.txt"):
        source.load()


def test_malformed_line_names_file_and_line(
    vader_cache: Path, ground_truth_bytes, tweet_rows
) -> None:
    folder = vader_cache / CORPUS_DIRNAME
    path = folder / "tweets_GroundTruth.txt"
    path.write_bytes(ground_truth_bytes(tweet_rows[:2]) + b"\r\n3\tnot-a-number\ttext")
    (folder / MANIFEST_NAME).unlink()
    vader_module.write_manifest(folder, "rewritten")
    with pytest.raises(DataConfigError, match="tweets_GroundTruth.txt', line 3"):
        make_source(vader_cache).load()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


@pytest.fixture
def fake_sdist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ground_truth_bytes, movie_rows, tweet_rows
) -> Path:
    """An sdist with the real layout (nested tarball) whose sha256 is pinned for the test."""
    inner = _tar_gz(
        {
            "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": ground_truth_bytes(movie_rows),
            "hutto_ICWSM_2014/tweets_GroundTruth.txt": ground_truth_bytes(tweet_rows),
            "hutto_ICWSM_2014/tweets_anonDataRatings.txt": b"not extracted",
            "hutto_ICWSM_2014/_README_.txt": b"readme",
        }
    )
    outer = _tar_gz(
        {
            "vaderSentiment-3.3.2/setup.py": b"",
            "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz": inner,
        }
    )
    path = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    path.write_bytes(outer)
    monkeypatch.setattr(vader_fetch, "VADER_SDIST_SHA256", hashlib.sha256(outer).hexdigest())
    return path


def test_extraction_from_sdist_is_atomic_and_cached(fake_sdist: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    folder = ensure_vader_corpus(cache_dir, sdist_path=fake_sdist)
    assert folder == cache_dir / CORPUS_DIRNAME
    assert sorted(p.name for p in folder.iterdir()) == [
        MANIFEST_NAME,
        "movieReviewSnippets_GroundTruth.txt",
        "tweets_GroundTruth.txt",
    ]
    assert [p.name for p in cache_dir.iterdir()] == [CORPUS_DIRNAME]  # no staging leftovers
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    movie = (folder / "movieReviewSnippets_GroundTruth.txt").read_bytes()
    assert manifest["files"]["movieReviewSnippets_GroundTruth.txt"] == (
        hashlib.sha256(movie).hexdigest()
    )
    # Second call: the sdist is not needed any more.
    fake_sdist.unlink()
    assert ensure_vader_corpus(cache_dir, sdist_path=fake_sdist) == folder
    data = make_source(cache_dir).load()
    assert sum(len(data[s]) for s in ("train", "validation", "test")) == 72


def test_sdist_checksum_mismatch(fake_sdist: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vader_fetch, "VADER_SDIST_SHA256", "0" * 64)
    with pytest.raises(DataIntegrityError, match="does not match the pinned"):
        ensure_vader_corpus(tmp_path / "cache", sdist_path=fake_sdist)
    assert not (tmp_path / "cache" / CORPUS_DIRNAME).exists()


@pytest.mark.slow
def test_real_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # restore the real downloader and the pinned checksum
    source = make_source(tmp_path, ood_corpora=None)
    folder = ensure_vader_corpus(tmp_path)
    line_counts = {
        stem: len((folder / f"{stem}_GroundTruth.txt").read_bytes().splitlines())
        for stem in vader_module.CORPUS_SIZES
    }
    assert line_counts == vader_module.CORPUS_SIZES
    assert line_counts["movieReviewSnippets"] == 10_605
    data = source.load()
    assert set(data.splits) == {
        "train",
        "validation",
        "test",
        "ood_tweets",
        "ood_amazon",
        "ood_nyt",
    }
    assert sum(len(data[s]) for s in ("train", "validation", "test")) == 10_072
    assert len(data["ood_tweets"]) == 3_432
    assert np.isclose(data["test"].labels.mean(), 4_996 / 10_072, atol=0.01)

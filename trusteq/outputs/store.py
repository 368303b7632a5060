"""The on-disk cache: atomic, content-addressed, verified entries.

Layout: `<root>/<kind>/<key>/` holding the entry's files and a `meta.json` written last. An entry is
built in `<root>/<kind>/.tmp-<key>-<host>-<pid>-<random>/` and renamed into place in one
`os.rename`, so a killed job leaves at most a temporary folder (ignored, and removed by
`clean_temporary`), never a half entry. If two jobs build the same entry at once, the first rename
wins and the second copy is discarded.

Integrity: `meta.json` records the size and BLAKE2b digest of every other file of the entry
(`files`). Reading an entry (`read_meta`, `read_arrays`, `verify`) checks the sizes every time and
the digests once per process per entry, so flipped bytes in a still-valid safetensors file, a
truncated file or a damaged `meta.json` raise `CacheError` naming the entry and the repair command
instead of being served as results. Entries written before digests existed stay readable and are
logged once as unverified.

Replacing (`replace=True`, what `force=true` uses): the new entry is built completely first, then
the old one is renamed aside (`.old-<key>-…`), the new one renamed in and the old one deleted, so a
failure while rebuilding leaves the old entry intact.

Entries are readable by other users (folders 0777 and files 0666, minus the umask), so a cache
can be shared.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import socket
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
#: Digest recorded per file in `meta.json["files"]` (fast, cryptographic).
DIGEST = "blake2b"
_TMP_PREFIX = ".tmp-"
_OLD_PREFIX = ".old-"

#: Entries verified in this process: entry folder -> (meta.json mtime_ns, size).
_VERIFIED: dict[str, tuple[int, int]] = {}
#: Entries without digests already reported in this process.
_UNVERIFIED_LOGGED: set[str] = set()


class CacheError(RuntimeError):
    """A cache entry is missing or unreadable; the message says which and how to rebuild it."""


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _host_tag() -> str:
    return hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()


def owner_tag() -> str:
    """`<host tag>-<pid>`: names temporary folders so cleanup knows whether their owner lives."""
    return f"{_host_tag()}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def file_digest(path: Path) -> str:
    """BLAKE2b hex digest (64 bytes) of a file, read in 1 MiB blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, DIGEST).hexdigest()


def repair_hint(kind: str, path: Path) -> str:
    """The command that rebuilds an entry of `kind` (or deleting its folder)."""
    commands = {
        "outputs": "`trusteq-infer <same overrides> force=true`",
        "checkpoints": "`trusteq-train <same overrides> force_train=true`",
        "produced": "`trusteq-infer <same overrides> force=true`",
    }
    command = commands.get(kind, "the stage that made it with force=true")
    return f"Repair: rerun {command}, or delete the folder (`rm -rf {path}`) and rerun."


def _entry_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and digest of every file under `folder` except `meta.json`, by relative path."""
    records = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative != META_FILE:
            records[relative] = {"size": path.stat().st_size, DIGEST: file_digest(path)}
    return records


def _make_shareable(folder: Path) -> None:
    """Folders 0777 and files 0666 minus the umask (mkdtemp makes 0700)."""
    mask = _umask()
    folder.chmod(0o777 & ~mask)
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


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
        """True when the entry is complete (its `meta.json` exists; see `verify` for soundness)."""
        return (self.path(kind, key) / META_FILE).is_file()

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def building(
        self, kind: str, key: str, meta: dict[str, Any], replace: bool = False
    ) -> Iterator[Path]:
        """Build an entry in a temporary folder and publish it atomically on success.

        Yields the temporary folder; the caller writes files into it (and may still add to `meta`).
        On normal exit `meta` plus `key`, `kind`, `created_unix` and `files` (size and digest of
        every file) is written as `meta.json` and the folder renamed into place. On an exception
        the temporary folder is deleted and nothing is published.

        Args:
            kind: entry kind (`outputs`, `checkpoints`, `produced`, ...).
            key: content key.
            meta: JSON-able description of the entry.
            replace: publish even when the entry exists (`force=true`): the old entry is swapped
                out only after the new one is complete, so a failed rebuild keeps it. Without it,
                an existing complete entry wins and the new copy is discarded.

        Raises:
            CacheError: the cache folder cannot be written (a file, read-only, no space).
        """
        parent = self.root / kind
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(
                tempfile.mkdtemp(
                    prefix=f"{_TMP_PREFIX}{key}-{_host_tag()}-{os.getpid()}-", dir=parent
                )
            )
        except OSError as error:
            raise CacheError(
                f"{parent}: cannot create a cache entry ({error.strerror or error}). Point "
                "TRUSTEQ_CACHE (or paths.cache_dir=...) at a writable folder."
            ) from error
        try:
            yield tmp
            record = {
                "key": key,
                "kind": kind,
                "created_unix": time.time(),
                **meta,
                "files": _entry_files(tmp),
            }
            (tmp / META_FILE).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
            _make_shareable(tmp)
            self._publish(kind, key, tmp, replace)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _publish(self, kind: str, key: str, tmp: Path, replace: bool) -> None:
        final = self.path(kind, key)
        stale = final.exists() and not self.exists(kind, key)  # a folder without meta.json
        if (replace or stale) and final.exists():
            aside = Path(tempfile.mkdtemp(prefix=f"{_OLD_PREFIX}{key}-", dir=final.parent))
            aside.rmdir()  # only its unique name is needed
            try:
                os.rename(final, aside)
            except FileNotFoundError:  # another job swapped it out just now: publish plainly
                self._publish(kind, key, tmp, replace=False)
                return
            try:
                os.rename(tmp, final)
            except BaseException:
                os.rename(aside, final)  # put the old entry back
                raise
            shutil.rmtree(aside, ignore_errors=True)
            _VERIFIED.pop(str(final), None)
            log.info("entry %s/%s replaced", kind, key)
            return
        try:
            os.rename(tmp, final)
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not self.exists(kind, key):
                raise
            log.info("entry %s/%s was published by another job; keeping that one", kind, key)
            shutil.rmtree(tmp, ignore_errors=True)

    def write_arrays(
        self,
        kind: str,
        key: str,
        arrays: dict[str, np.ndarray],
        meta: dict[str, Any],
        replace: bool = False,
    ) -> Path:
        """Publish an entry holding `arrays` (safetensors) and `meta`; returns its folder.

        Args:
            kind: entry kind.
            key: content key.
            arrays: name -> array (any shape, contiguous copies are written).
            meta: JSON-able description.
            replace: see `building`.
        """
        with self.building(kind, key, meta, replace=replace) as tmp:
            save_file(
                {name: np.ascontiguousarray(a) for name, a in arrays.items()},
                str(tmp / TENSORS_FILE),
            )
        return self.path(kind, key)

    # ------------------------------------------------------------------ reading
    def _corrupt(self, kind: str, key: str, what: str) -> CacheError:
        folder = self.path(kind, key)
        return CacheError(f"cache entry {folder} is corrupt: {what}. {repair_hint(kind, folder)}")

    def _load_meta(self, kind: str, key: str) -> dict[str, Any]:
        path = self.path(kind, key) / META_FILE
        if not path.is_file():
            raise CacheError(f"{path}: no finished cache entry {kind}/{key}.")
        try:
            meta = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise self._corrupt(kind, key, f"{META_FILE} is unreadable ({error})") from error
        if not isinstance(meta, dict) or not meta:
            raise self._corrupt(kind, key, f"{META_FILE} holds no entry description")
        return meta

    def verify(self, kind: str, key: str, full: bool = False) -> dict[str, Any]:
        """Check an entry against the sizes and digests in its `meta.json`; returns the meta.

        Sizes are checked on every call, digests once per process per entry (again after the
        entry is replaced, or with `full`).

        Args:
            kind: entry kind.
            key: content key.
            full: recompute the digests even when already verified in this process.

        Raises:
            CacheError: the entry is missing, its `meta.json` is empty or invalid, or a file is
                missing, of another size or another digest; the message names the entry folder
                and the repair command.
        """
        folder = self.path(kind, key)
        meta = self._load_meta(kind, key)
        files = meta.get("files")
        if files is None:
            if str(folder) not in _UNVERIFIED_LOGGED:
                _UNVERIFIED_LOGGED.add(str(folder))
                log.warning(
                    "cache entry %s was written before digests were recorded; read unverified "
                    "(rebuild with force=true to add them)",
                    folder,
                )
            return meta
        if not isinstance(files, dict):
            raise self._corrupt(kind, key, f"{META_FILE} field 'files' is not a mapping")
        stat = (folder / META_FILE).stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        check_digests = full or _VERIFIED.get(str(folder)) != stamp
        for relative, record in files.items():
            path = folder / relative
            try:
                size = path.stat().st_size
            except OSError:
                raise self._corrupt(kind, key, f"file {relative} is missing") from None
            if size != record.get("size"):
                raise self._corrupt(
                    kind, key, f"file {relative} has {size} bytes, {record.get('size')} recorded"
                )
            if check_digests and file_digest(path) != record.get(DIGEST):
                raise self._corrupt(kind, key, f"file {relative} differs from its recorded digest")
        _VERIFIED[str(folder)] = stamp
        return meta

    def read_meta(self, kind: str, key: str) -> dict[str, Any]:
        """The entry's `meta.json`, after `verify`.

        Raises:
            CacheError: the entry does not exist or is corrupt (see `verify`).
        """
        return self.verify(kind, key)

    def read_arrays(self, kind: str, key: str) -> dict[str, np.ndarray]:
        """The entry's arrays, after `verify`.

        Raises:
            CacheError: the entry does not exist, is corrupt, or its tensor file is unreadable.
        """
        self.verify(kind, key)
        path = self.path(kind, key) / TENSORS_FILE
        try:
            return load_file(str(path))
        except Exception as error:  # corrupted on disk after publication
            raise self._corrupt(kind, key, f"{TENSORS_FILE} is unreadable ({error})") from error

    def remove(self, kind: str, key: str) -> None:
        """Delete an entry; a no-op when absent. Prefer `building(..., replace=True)`."""
        shutil.rmtree(self.path(kind, key), ignore_errors=True)
        _VERIFIED.pop(str(self.path(kind, key)), None)

    # ------------------------------------------------------------------ cleaning
    def clean_temporary(self, older_than_s: float = 3600.0, system_tmp: bool = True) -> int:
        """Delete what killed jobs left behind; returns how many folders were removed.

        Removes `.tmp-*` build folders and `.old-*` swapped-out entries of every kind: at once
        when the process that made them (same host) is dead, never while it lives, and when
        their owner is unknown (another host, an old name) once older than `older_than_s`. With
        `system_tmp`, the `trusteq-ckpt-<host>-<pid>-*` folders of fine-tuning runs in the system
        temporary folder follow the same rule. Safe to call at the start of every stage.

        Args:
            older_than_s: age in seconds beyond which a leftover is removed regardless of owner.
            system_tmp: also clean `<tmpdir>/trusteq-ckpt-*`.
        """
        removed = 0
        now = time.time()
        host = _host_tag()
        candidates = [*self.root.glob(f"*/{_TMP_PREFIX}*"), *self.root.glob(f"*/{_OLD_PREFIX}*")]
        if system_tmp:
            candidates += Path(tempfile.gettempdir()).glob("trusteq-ckpt-*")
        for leftover in candidates:
            try:
                age = now - leftover.stat().st_mtime
            except OSError:
                continue
            owner_alive: bool | None = None  # None: owner unknown (another host, old name)
            parts = leftover.name.split("-")
            if leftover.name.startswith(_TMP_PREFIX) and len(parts) >= 5 and parts[-3] == host:
                with contextlib.suppress(ValueError):
                    owner_alive = _pid_alive(int(parts[-2]))
            elif leftover.name.startswith("trusteq-ckpt-"):
                # trusteq-ckpt-<host>-<pid>-<random> (trusteq.models.lightning_runs)
                owner = leftover.name.removeprefix("trusteq-ckpt-").rsplit("-", 2)
                if len(owner) == 3 and owner[0] == host:
                    with contextlib.suppress(ValueError):
                        owner_alive = _pid_alive(int(owner[1]))
            if owner_alive is False or (owner_alive is None and age > older_than_s):
                shutil.rmtree(leftover, ignore_errors=True)
                removed += not leftover.exists()
        if removed:
            log.info("removed %d temporary folder(s) left by killed jobs", removed)
        return removed

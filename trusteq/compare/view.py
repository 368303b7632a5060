"""Read-only access to a study's cache through its manifest (compare never runs a model).

A :class:`CacheView` needs the cache store, the merged manifest and the study's task (for its
compare-time view of the arrays); nothing else: no dataset, checkpoint, backbone or model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trusteq.outputs.store import CacheError, OutputStore
from trusteq.pipeline.keys import OUTPUTS, PRODUCED
from trusteq.pipeline.manifest import Manifest, ManifestError, ids_digest
from trusteq.tasks.base import Task


class AlignmentError(ManifestError):
    """Cached outputs of two variants do not cover the same examples in the same order."""


class CacheView:
    """Memoised, verified reads of a study's entries.

    Args:
        store: the cache store holding the entries.
        manifest: the merged study manifest.
        task: the study's task (its `view` adapts cached arrays for characteristics).
        hint: the command that makes missing entries (quoted in errors).
    """

    def __init__(self, store: OutputStore, manifest: Manifest, task: Task, hint: str = "") -> None:
        self.store = store
        self.manifest = manifest
        self.task = task
        self.hint = hint
        self._outputs: dict[tuple[str, str], tuple[dict[str, np.ndarray], dict[str, Any]]] = {}
        self._produced: dict[tuple[str, str], tuple[dict[str, np.ndarray], dict[str, Any]]] = {}

    # ------------------------------------------------------------------ the study
    @property
    def header(self) -> Any:
        return self.manifest.header

    @property
    def variants(self) -> list[str]:
        """Variant names in table order (reference first, then its seed replicates)."""
        return list(self.header.variants)

    @property
    def reference(self) -> str:
        return self.header.reference

    @property
    def noise_floor(self) -> str | None:
        return self.header.noise_floor

    @property
    def seeds(self) -> list[str]:
        return list(self.header.seeds)

    @property
    def producers(self) -> dict[str, str]:
        """Declared producer name → its split."""
        return dict(self.header.producers)

    # ------------------------------------------------------------------ entries
    def _read(self, kind: str, key: str, what: str) -> tuple[dict[str, np.ndarray], dict]:
        if not self.store.exists(kind, key):
            raise CacheError(
                f"{self.store.path(kind, key)}: the manifest names {what}, but the entry is not in "
                f"the cache (moved or deleted). Rerun {self.hint or '`trusteq-infer`'} to rebuild "
                "it, or point TRUSTEQ_CACHE at the cache that holds it."
            )
        return self.store.read_arrays(kind, key), self.store.read_meta(kind, key)

    def raw_outputs(self, variant: str, split: str) -> tuple[dict[str, np.ndarray], dict]:
        """The cached arrays (as stored) and `meta.json` of `variant` on `split`.

        Raises:
            ManifestError: the manifest has no such entry (names the command that makes it).
            AlignmentError: the entry's ids differ from the reference's.
        """
        if (variant, split) not in self._outputs:
            record = self.manifest.outputs_entry(variant, split, self.hint)
            arrays, meta = self._read(
                OUTPUTS, record["key"], f"outputs of variant {variant!r} on split {split!r}"
            )
            reference = self.manifest.outputs_entry(self.reference, split, self.hint)
            if ids_digest(meta["ids"]) != reference["ids_sha256"]:
                raise AlignmentError(
                    f"outputs of {variant!r} and {self.reference!r} on {split!r} cover different "
                    f"examples (ids differ); rerun {self.hint or '`trusteq-infer`'} force=true "
                    f"variant={variant}."
                )
            self._outputs[variant, split] = (arrays, meta)
        return self._outputs[variant, split]

    def outputs(self, variant: str, split: str) -> dict[str, np.ndarray]:
        """The task's view of `variant`'s cached outputs on `split` (what characteristics read)."""
        return self.task.view(self.raw_outputs(variant, split)[0])

    def meta(self, variant: str, split: str) -> dict[str, Any]:
        """The entry's `meta.json` (ids, compression stats, timings, config)."""
        return self.raw_outputs(variant, split)[1]

    def produced(self, variant: str, producer: str) -> tuple[dict[str, np.ndarray], dict]:
        """A producer's cached entry for `variant`: `(arrays, meta)`.

        Raises:
            ManifestError: the manifest has no such entry (names the command that makes it).
        """
        if (variant, producer) not in self._produced:
            record = self.manifest.produced_entry(variant, producer, self.hint)
            self._produced[variant, producer] = self._read(
                PRODUCED, record["key"], f"{producer!r} outputs of variant {variant!r}"
            )
        return self._produced[variant, producer]

    def produced_key(self, variant: str, producer: str) -> str:
        """The cache key of a producer's entry for `variant` (equal keys: the same outputs).

        Raises:
            ManifestError: the manifest has no such entry.
        """
        return str(self.manifest.produced_entry(variant, producer, self.hint)["key"])

    def split_outputs(self, split: str) -> dict[str, dict[str, np.ndarray]]:
        """Every variant's view on `split`, in table order, row-aligned."""
        return {name: self.outputs(name, split) for name in self.variants}

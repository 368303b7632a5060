"""The study manifest: what compare reads instead of the study.

Infer writes, per study and variant, a *part*: the (split → outputs entry) and (producer →
produced entry) keys of that variant, with each entry's example count and an id digest, plus the
study header (variants in table order, reference, noise floor, seed population, task, label
names, descriptions). Parts live under

    <cache>/manifests/<study name>/<study digest>/<variant>.json

where the digest (`trusteq.pipeline.plan.study_digest`) is a function of the config sections that
define the entries, so a sweep whose jobs each infer one variant (on one machine or many, with a
shared or later merged cache) writes the parts of one manifest, and a changed study writes a new
one. Each part is written to a temporary file and renamed into place (atomic on one POSIX
filesystem), so a killed job leaves the previous part or none, never half a part.

Compare merges the parts and reads the entries: no dataset, checkpoint, backbone or model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trusteq.outputs.store import CacheError

FORMAT = 1
MANIFESTS = "manifests"


class ManifestError(CacheError):
    """A manifest is missing, incomplete or inconsistent; the message says how to make it."""


def ids_digest(ids: list[str]) -> str:
    """sha256 of the example ids in order (length-prefixed), to check rows align."""
    digest = hashlib.sha256()
    for example_id in ids:
        encoded = str(example_id).encode("utf-8", errors="surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def manifest_dir(cache_root: str | Path, study: str, digest: str) -> Path:
    """Folder holding the parts of study `study` under `digest`."""
    return Path(cache_root) / MANIFESTS / study / digest


@dataclass
class StudyHeader:
    """What compare needs to know about a study besides its entries.

    Attributes:
        name: the study name.
        variants: variant names in table order (reference first, then its seed replicates).
        reference: the reference variant.
        noise_floor: the seed replicate whose distance to the reference is the noise floor.
        seeds: the seed population (reference first).
        task: the task name (`conf/task/<task>.yaml`).
        label_names: class names, index = label id.
        descriptions: variant → free text for tables.
        producers: producer name → the split it ran on.
    """

    name: str
    variants: list[str]
    reference: str
    noise_floor: str | None
    seeds: list[str]
    task: str
    label_names: list[str]
    descriptions: dict[str, str] = field(default_factory=dict)
    producers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Manifest:
    """A merged manifest: the header plus variant → entries.

    Attributes:
        header: the study header.
        digest: the study digest the parts were written under.
        outputs: variant → split → `{"key", "n", "ids_sha256"}`.
        produced: variant → producer → `{"key", "split", "n"}`.
        folder: where the parts are (None for an in-memory manifest).
    """

    header: StudyHeader
    digest: str
    outputs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    produced: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    folder: Path | None = None

    # ------------------------------------------------------------------ writing
    def part(self, variant: str) -> dict[str, Any]:
        """The JSON part of one variant."""
        return {
            "format": FORMAT,
            "digest": self.digest,
            "header": self.header.to_dict(),
            "variant": variant,
            "outputs": self.outputs.get(variant, {}),
            "produced": self.produced.get(variant, {}),
            "written_unix": time.time(),
        }

    def write_part(self, folder: Path, variant: str) -> Path:
        """Merge this process's entries of `variant` into its part file, atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{variant}.json"
        record = self.part(variant)
        if target.is_file():  # keep entries another job wrote for this variant (other splits)
            try:
                old = json.loads(target.read_text())
            except (OSError, json.JSONDecodeError):
                old = {}
            if old.get("digest") == self.digest:
                record["outputs"] = {**old.get("outputs", {}), **record["outputs"]}
                record["produced"] = {**old.get("produced", {}), **record["produced"]}
        handle, tmp = tempfile.mkstemp(prefix=f".{variant}-", suffix=".json", dir=folder)
        try:
            with os.fdopen(handle, "w") as stream:
                json.dump(record, stream, indent=1, sort_keys=True)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, folder: Path, hint: str = "") -> Manifest:
        """Merge every part under `folder`.

        Args:
            folder: a manifest folder (see :func:`manifest_dir`).
            hint: the command that writes missing parts (quoted in errors).

        Raises:
            ManifestError: no part exists, a part is unreadable, or parts disagree on the header.
        """
        parts = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if not parts:
            others = (
                sorted(p.name for p in folder.parent.glob("*")) if folder.parent.is_dir() else []
            )
            raise ManifestError(
                f"{folder}: no study manifest for this configuration"
                + (f" (manifests of other configurations: {others})" if others else "")
                + f". Run {hint or '`trusteq-infer` with the same overrides'} first."
            )
        header: dict[str, Any] | None = None
        manifest: Manifest | None = None
        for path in parts:
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise ManifestError(
                    f"{path}: unreadable manifest part ({error}). Delete it and rerun "
                    f"{hint or 'trusteq-infer'} for variant {path.stem!r}."
                ) from error
            if record.get("format") != FORMAT:
                raise ManifestError(f"{path}: manifest format {record.get('format')} != {FORMAT}.")
            if header is None:
                header = record["header"]
                manifest = cls(StudyHeader(**header), record["digest"], folder=folder)
            elif record["header"]["variants"] != header["variants"]:
                raise ManifestError(
                    f"{path}: written for variants {record['header']['variants']}, other parts "
                    f"for {header['variants']}; rerun {hint or 'trusteq-infer'}."
                )
            assert manifest is not None
            manifest.outputs[record["variant"]] = record.get("outputs", {})
            manifest.produced[record["variant"]] = record.get("produced", {})
        assert manifest is not None
        return manifest

    def outputs_entry(self, variant: str, split: str, hint: str = "") -> dict[str, Any]:
        """The outputs record of `variant` on `split`.

        Raises:
            ManifestError: naming the variant, split and the command that makes it.
        """
        entry = self.outputs.get(variant, {}).get(split)
        if entry is None:
            raise ManifestError(
                f"study {self.header.name!r}: no outputs of variant {variant!r} on split "
                f"{split!r} in the manifest{f' {self.folder}' if self.folder else ''}. Run "
                f"{hint or '`trusteq-infer`'} variant={variant} first (or `trusteq-study`)."
            )
        return entry

    def produced_entry(self, variant: str, producer: str, hint: str = "") -> dict[str, Any]:
        """The produced record of `producer` for `variant`.

        Raises:
            ManifestError: naming the variant, producer and the command that makes it.
        """
        entry = self.produced.get(variant, {}).get(producer)
        if entry is None:
            raise ManifestError(
                f"study {self.header.name!r}: no {producer!r} entry of variant {variant!r} in the "
                f"manifest. Run {hint or '`trusteq-infer`'} variant={variant} first."
            )
        return entry

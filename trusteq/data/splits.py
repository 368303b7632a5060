"""In-memory containers for text-classification data: one split and a dataset's splits.

Every source (hub, local files, packaged corpora) produces these two types; everything downstream
(datamodules, the output cache, characteristics) consumes only them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

REQUIRED_SPLITS: tuple[str, ...] = ("train", "validation", "test")
OOD_PREFIX = "ood_"
#: Label of an example that has none (allowed in ``ood_*`` splits only: far-OOD text that only
#: feeds OOD scoring, e.g. newsgroup posts under a sentiment task).
UNLABELLED = -1


def stratified_sample_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Pick ``n`` indices whose class proportions match ``labels`` as closely as possible.

    Each class receives ``floor(n * N_c / N)`` examples, and the ``n - sum`` leftover slots go to
    the classes with the largest fractional remainders (ties to the lower class id), so the result
    is exact and deterministic. Within a class the examples are drawn uniformly without
    replacement from ``numpy.random.default_rng(seed)``.

    Args:
        labels: shape ``(N,)``, integer class ids.
        n: number of indices to draw, ``1 <= n <= N``.
        seed: seed of the random generator.

    Returns:
        Shape ``(n,)`` int64, sorted ascending so the subset keeps the original order.

    Raises:
        ValueError: if ``n`` is not in ``[1, N]``.
    """
    total = len(labels)
    if not 1 <= n <= total:
        raise ValueError(f"cannot draw {n} examples from {total}; expected 1 <= n <= {total}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / total
    quota = np.floor(exact).astype(np.int64)
    leftover = n - int(quota.sum())
    # Stable sort on the negated remainder: largest remainder first, lower class id on ties.
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:leftover]] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == cls), size=int(k), replace=False)
        for cls, k in zip(classes, quota, strict=True)
        if k > 0
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


# eq=False: the generated __eq__/__hash__ would compare numpy arrays element-wise and hash lists,
# both of which fail; compare contents with fingerprint() instead.
@dataclass(frozen=True, eq=False)
class TextSplit:
    """One split of a text-classification dataset.

    Attributes:
        name: split name, e.g. ``"train"``, ``"validation"``, ``"test"``, ``"ood_tweets"``.
        ids: length ``N``, unique example ids (``"<source>:<original id>"``).
        text_a: length ``N``, the (first) text segment.
        text_b: length ``N``, the second segment of a sentence pair, or ``None`` for single texts.
        labels: shape ``(N,)``, int64 class ids in ``[0, C)``; stored read-only.

    Raises:
        ValueError: on construction, if the lengths differ, ``labels`` is not 1-D integer, or ids
            repeat.
    """

    name: str
    ids: list[str]
    text_a: list[str]
    text_b: list[str] | None
    labels: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
            raise ValueError(
                f"split {self.name!r}: labels must be a 1-D integer array, got dtype "
                f"{labels.dtype} and shape {labels.shape}"
            )
        labels = labels.astype(np.int64, copy=True)
        labels.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "ids", list(self.ids))
        object.__setattr__(self, "text_a", list(self.text_a))
        if self.text_b is not None:
            object.__setattr__(self, "text_b", list(self.text_b))
        lengths = {"ids": len(self.ids), "text_a": len(self.text_a), "labels": len(labels)}
        if self.text_b is not None:
            lengths["text_b"] = len(self.text_b)
        if len(set(lengths.values())) != 1:
            raise ValueError(f"split {self.name!r}: field lengths differ: {lengths}")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"split {self.name!r}: example ids are not unique")

    def __len__(self) -> int:
        """Number of examples ``N``."""
        return len(self.ids)

    def fingerprint(self) -> str:
        """Content identity of the split, for cache keys.

        The hash covers ids, texts and labels in order (not the split name), with every string
        length-prefixed so that no two different splits serialise to the same bytes.

        Returns:
            sha256 hex digest (64 characters).
        """
        digest = hashlib.sha256()

        def add(text: str) -> None:
            encoded = text.encode("utf-8", errors="surrogatepass")
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)

        digest.update(b"trusteq.TextSplit.v1")
        digest.update(len(self).to_bytes(8, "little"))
        digest.update(b"pair" if self.text_b is not None else b"single")
        for column in (self.ids, self.text_a, self.text_b or []):
            for text in column:
                add(text)
        digest.update(np.ascontiguousarray(self.labels, dtype="<i8").tobytes())
        return digest.hexdigest()

    def select(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> TextSplit:
        """Return the examples at ``indices`` (in that order) as a new split.

        Args:
            indices: positions in ``[0, N)``, no repeats.
            name: name of the new split; defaults to this split's name.

        Returns:
            A split of ``len(indices)`` examples.

        Raises:
            ValueError: if an index repeats (ids would no longer be unique).
        """
        positions = [int(i) for i in np.asarray(indices, dtype=np.int64)]
        return TextSplit(
            name=self.name if name is None else name,
            ids=[self.ids[i] for i in positions],
            text_a=[self.text_a[i] for i in positions],
            text_b=None if self.text_b is None else [self.text_b[i] for i in positions],
            labels=self.labels[positions] if positions else np.zeros(0, dtype=np.int64),
        )

    def subset(self, n: int | None, seed: int) -> TextSplit:
        """Deterministic stratified subsample of ``n`` examples, in original order.

        Args:
            n: number of examples to keep; ``None`` or ``n >= N`` keeps the whole split.
            seed: seed of the draw; the same ``(n, seed)`` always yields the same examples.

        Returns:
            This split if nothing is dropped, else a new split with the same name.

        Raises:
            ValueError: if ``n < 1``.
        """
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise ValueError(f"split {self.name!r}: subset size must be >= 1 or None, got {n}")
        return self.select(stratified_sample_indices(self.labels, n, seed))

    def class_counts(self, num_classes: int) -> np.ndarray:
        """Examples per class: shape ``(C,)`` int64 (:data:`UNLABELLED` examples not counted)."""
        return np.bincount(self.labels[self.labels >= 0], minlength=num_classes)


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """All splits of one dataset plus its label names.

    Attributes:
        name: dataset name, e.g. ``"vader_movies"``.
        label_names: length ``C``; index = label id.
        splits: always ``"train"``, ``"validation"`` and ``"test"``, plus optional
            out-of-distribution splits named ``"ood_<x>"``.

    Raises:
        ValueError: on construction, if a required split is missing, an extra split is not named
            ``ood_*``, a label is outside ``[0, C)``, or some splits are pairs and others are not.
    """

    name: str
    label_names: list[str]
    splits: dict[str, TextSplit]

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_names", [str(n) for n in self.label_names])
        object.__setattr__(self, "splits", dict(self.splits))
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
                raise ValueError(
                    f"dataset {self.name!r}: split stored under {key!r} is named {split.name!r}"
                )
            low = UNLABELLED if key.startswith(OOD_PREFIX) else 0
            if len(split) and (split.labels.min() < low or split.labels.max() >= self.num_classes):
                raise ValueError(
                    f"dataset {self.name!r}, split {key!r}: labels must lie in "
                    f"[{low}, {self.num_classes}) for label_names {self.label_names}"
                    + (f" ({UNLABELLED} = unlabelled)" if low < 0 else "")
                )
        if len({s.text_b is None for s in self.splits.values()}) > 1:
            raise ValueError(f"dataset {self.name!r}: some splits have text_b and others do not")

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return len(self.label_names)

    @property
    def is_pair(self) -> bool:
        """Whether examples are sentence pairs (``text_b`` is set)."""
        return self.splits["train"].text_b is not None

    @property
    def ood_splits(self) -> list[str]:
        """Names of the out-of-distribution splits, in insertion order."""
        return [key for key in self.splits if key.startswith(OOD_PREFIX)]

    def __getitem__(self, split: str) -> TextSplit:
        """Return the split called ``split``.

        Raises:
            KeyError: if there is no such split; the message lists the available ones.
        """
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(
                f"dataset {self.name!r} has no split {split!r}; available: {list(self.splits)}"
            ) from None

r"""VitaminC evidence/claim pairs (3-way fact verification) from the ``bigbench==1.0.0`` sdist.

Source: Schuster, T., Fisch, A. and Barzilay, R. (2021). "Get Your Vitamin C! Robust Fact
Verification with Contrastive Evidence." NAACL 2021 (arXiv 2103.08541), as packaged by BIG-bench
(Srivastava et al. 2022, arXiv 2206.04615, Apache-2.0) in the task
``vitaminc_fact_verification``: 54,668 examples whose ``input`` is
``"<Wikipedia page title>: <evidence sentence>\nClaim: <claim>"`` and whose ``target_scores`` give
one of ``True`` (the evidence supports the claim), ``False`` (refutes it) or ``Neither`` (not
enough information). The sdist is fetched, sha256-checked and reduced to this one ``task.json`` by
:func:`trusteq.data.bigbench_fetch.ensure_bigbench_tasks` (shared with Disfl-QA); nothing is
imported from the package and nothing is committed.

VitaminC is contrastive: the same claim recurs with revised evidence from the same page, and the
same evidence with several claims. A split by example would put near-copies of a test pair in
training, so by default the pairs are split by Wikipedia page (``group_by: page``, sklearn's
``StratifiedGroupKFold``): no page is shared between train, validation and test, and the class
proportions stay close to the corpus's. The text is BIG-bench's as is (FEVER-style tokenised
Wikipedia: ``-LRB-``/``-RRB-`` for brackets, spaces before punctuation; 158 inputs carry a U+FFFD
where BIG-bench lost a character).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from trusteq.data.base import DataConfigError, TextDatasetSource, check_split_fractions
from trusteq.data.splits import REQUIRED_SPLITS, TextSplit

log = logging.getLogger(__name__)

TASK = "vitaminc_fact_verification"
#: Label id -> BIG-bench target name (True = supports, False = refutes, Neither = not enough info).
LABEL_NAMES: list[str] = ["True", "False", "Neither"]
CLAIM_MARKER = "\nClaim: "
TITLE_SEPARATOR = ": "
#: Examples in the BIG-bench 1.0.0 file.
CORPUS_SIZE = 54_668
GROUP_BY = ("page", "none")
#: The page split works in folds of this fraction: fractions must be multiples of 1/20.
FOLDS = 20


def parse_task(
    task: Mapping[str, Any], where: str
) -> tuple[list[str], list[str], list[str], list[int]]:
    r"""Read BIG-bench ``vitaminc_fact_verification/task.json`` (already parsed from JSON).

    Args:
        task: the JSON object; its ``examples`` list holds ``{"input", "target_scores"}`` dicts.
        where: the file, for messages.

    Returns:
        ``(pages, evidence, claims, labels)``, one entry per example in file order: the page
        title, the evidence (``"<title>: <sentence>"``, the whole text before the claim marker),
        the claim, and the label id in ``[0, 3)`` (see :data:`LABEL_NAMES`).

    Raises:
        DataConfigError: naming the example index, for a missing ``examples`` list, an input
            without exactly one ``"\nClaim: "`` marker or title separator, or target scores
            that are not one-hot over ``True`` / ``False`` / ``Neither``.
    """
    examples = task.get("examples") if isinstance(task, Mapping) else None
    if not isinstance(examples, list):
        raise DataConfigError(f"{where}: no 'examples' list; the BIG-bench file is corrupt")
    pages, evidence, claims, labels = [], [], [], []
    for index, example in enumerate(examples):
        text = example.get("input") if isinstance(example, Mapping) else None
        scores = example.get("target_scores") if isinstance(example, Mapping) else None
        if not isinstance(text, str) or text.count(CLAIM_MARKER) != 1:
            raise DataConfigError(
                f"{where} examples[{index}]: expected input '<title>: <evidence>\\nClaim: "
                f"<claim>' with one claim marker, got {text!r:.200}"
            )
        quote, claim = text.split(CLAIM_MARKER)
        if TITLE_SEPARATOR not in quote:
            raise DataConfigError(
                f"{where} examples[{index}]: evidence {quote!r:.200} has no '<title>: ' prefix"
            )
        positive = (
            [name for name, value in scores.items() if value == 1]
            if isinstance(scores, Mapping) and set(scores) <= set(LABEL_NAMES)
            else []
        )
        if len(positive) != 1 or sum(scores.values()) != 1:
            raise DataConfigError(
                f"{where} examples[{index}]: target_scores must be one-hot over {LABEL_NAMES}, "
                f"got {scores!r}"
            )
        pages.append(quote.split(TITLE_SEPARATOR, 1)[0])
        evidence.append(quote)
        claims.append(claim)
        labels.append(LABEL_NAMES.index(positive[0]))
    return pages, evidence, claims, labels


def page_split(
    labels: np.ndarray, groups: Sequence[str], fractions: Mapping[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Stratified split by group (no group in two splits), in folds of ``1 / FOLDS``.

    sklearn's ``StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed)`` deals the groups
    into :data:`FOLDS` folds of near-equal size and class mix; the first ``FOLDS * test`` folds
    form the test split, the next ``FOLDS * validation`` the validation split, the rest train.

    Args:
        labels: shape `(N,)`, class ids.
        groups: length N, each example's group (here its page title).
        fractions: ``{train, validation, test}``, multiples of ``1 / FOLDS`` summing to 1.
        seed: the shuffle seed; the same inputs and seed always give the same split.

    Returns:
        ``{train, validation, test}`` -> sorted int64 positions in ``[0, N)``; a partition.

    Raises:
        ValueError: if there are fewer groups than folds.
    """
    folds = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for fold, (_, held) in enumerate(folds.split(np.zeros(len(labels)), labels, list(groups))):
        fold_of[held] = fold
    n_test = round(fractions["test"] * FOLDS)
    n_validation = round(fractions["validation"] * FOLDS)
    bounds = {
        "test": (0, n_test),
        "validation": (n_test, n_test + n_validation),
        "train": (n_test + n_validation, FOLDS),
    }
    return {
        name: np.flatnonzero((fold_of >= low) & (fold_of < high))
        for name, (low, high) in bounds.items()
    }


class VitaminC(TextDatasetSource):
    """3-way fact verification on VitaminC evidence/claim pairs (BIG-bench's copy).

    ``text_a`` is the evidence (``"<page title>: <sentence>"``), ``text_b`` the claim; labels
    ``True`` = 0, ``False`` = 1, ``Neither`` = 2. Ids are ``"vitaminc:<index in the file>"``.
    The examples are split into train / validation / test by page (``group_by: page``, see
    :func:`page_split`) or by example (``group_by: none``, sklearn ``train_test_split``
    stratified twice, as the VADER source); either is deterministic given ``split_seed``.
    There are no OOD splits.

    Args:
        cache_dir: folder holding ``bigbench-1.0.0/vitaminc_fact_verification/`` (created on
            first load). Not part of the identity.
        dataset_name: trusteq's name for the dataset.
        group_by: ``page`` or ``none``.
        split_seed: seed of the split.
        fractions: ``{train, validation, test}`` fractions, positive, summing to 1; multiples of
            0.05 when ``group_by: page``.
        sdist_path: an already downloaded ``bigbench-1.0.0.tar.gz`` (still checked against the
            pinned sha256). Not part of the identity.
        subsample: see :class:`~trusteq.data.base.TextDatasetSource` (stratified, deterministic).
        subsample_seed: see :class:`~trusteq.data.base.TextDatasetSource`.

    Raises:
        DataConfigError: if a field is malformed (nothing is read or downloaded here).
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        dataset_name: str = "vitaminc",
        group_by: str = "page",
        split_seed: int = 0,
        fractions: Mapping[str, float] | None = None,
        sdist_path: str | os.PathLike[str] | None = None,
        subsample: Mapping[str, int | None] | None = None,
        subsample_seed: int = 0,
    ) -> None:
        super().__init__(name=dataset_name, subsample=subsample, subsample_seed=subsample_seed)
        where = self.describe()
        if cache_dir is None or str(cache_dir) == "":
            raise DataConfigError(f"{where}: field 'cache_dir' must be a folder path")
        self.cache_dir = Path(str(cache_dir)).expanduser()
        self.sdist_path = None if sdist_path is None else Path(str(sdist_path)).expanduser()
        if group_by not in GROUP_BY:
            raise DataConfigError(
                f"{where}: field 'group_by' is {group_by!r}; expected one of {list(GROUP_BY)}"
            )
        self.group_by = str(group_by)
        self.split_seed = int(split_seed)
        self.fractions = check_split_fractions(fractions, where)
        if self.group_by == "page" and any(
            abs(v * FOLDS - round(v * FOLDS)) > 1e-6 for v in self.fractions.values()
        ):
            raise DataConfigError(
                f"{where}: with group_by: page the fractions are whole folds of 1/{FOLDS}; got "
                f"{self.fractions!r} (use multiples of {1 / FOLDS}, e.g. 0.7 / 0.1 / 0.2)"
            )

    def describe(self) -> str:
        """Dataset name and source for messages."""
        return f"dataset {self.name!r} (BIG-bench {TASK})"

    def _source_identity(self) -> dict[str, Any]:
        from trusteq.data.bigbench_fetch import BIGBENCH_SDIST_SHA256, BIGBENCH_VERSION

        return {
            "source": f"pypi:bigbench=={BIGBENCH_VERSION} sdist, {TASK}",
            "sdist_sha256": BIGBENCH_SDIST_SHA256,
            "group_by": self.group_by,
            "split_seed": self.split_seed,
            "fractions": dict(self.fractions),
        }

    def _load_splits(self) -> tuple[list[str], dict[str, TextSplit]]:
        from trusteq.data.bigbench_fetch import ensure_bigbench_tasks

        folder = ensure_bigbench_tasks(self.cache_dir, [TASK], self.sdist_path)[TASK]
        path = folder / "task.json"
        where = f"'{path}'"
        try:
            task = json.loads(path.read_text("utf-8"))
        except ValueError as err:
            raise DataConfigError(f"{where}: not valid JSON ({err})") from err
        pages, evidence, claims, labels = parse_task(task, where)
        if len(labels) != CORPUS_SIZE:
            log.info("%s: %d examples (BIG-bench 1.0.0 has %d)", where, len(labels), CORPUS_SIZE)
        ids = [f"vitaminc:{index}" for index in range(len(labels))]
        full = TextSplit("all", ids, evidence, claims, np.asarray(labels, dtype=np.int64))
        try:
            if self.group_by == "page":
                chosen = page_split(full.labels, pages, self.fractions, self.split_seed)
            else:
                rest, test = train_test_split(
                    np.arange(len(full)),
                    test_size=self.fractions["test"],
                    random_state=self.split_seed,
                    stratify=full.labels,
                )
                train, validation = train_test_split(
                    rest,
                    test_size=self.fractions["validation"] / (1.0 - self.fractions["test"]),
                    random_state=self.split_seed,
                    stratify=full.labels[rest],
                )
                chosen = {"train": train, "validation": validation, "test": test}
        except ValueError as err:
            raise DataConfigError(
                f"{self.describe()}: cannot split {len(full)} pairs ({len(set(pages))} pages) "
                f"with fractions {self.fractions} and group_by {self.group_by!r}: {err}"
            ) from err
        splits = {name: full.select(np.sort(chosen[name]), name=name) for name in REQUIRED_SPLITS}
        return list(LABEL_NAMES), splits

"""Released error-id lists (e.g. Paper A's SQuAD 2.0 dev errors) as pseudo model outputs.

Some papers publish only which examples each model got wrong. The error-set characteristics
(error Jaccard, its chance expectation, error consistency κ) need nothing more, so each list becomes
an outputs mapping with `targets` all 0 and `preds` 1 exactly on the listed examples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def error_outputs(
    error_ids: Mapping[str, Sequence[str]], n_examples: int
) -> dict[str, dict[str, np.ndarray]]:
    """Turn per-model error-id lists into paired pseudo outputs over a universe of `n_examples`.

    Examples no model got wrong are in no list; they are added as anonymous padding rows so that
    error rates (and hence chance corrections) use the true N. Jaccard values do not depend on it.

    Args:
        error_ids: model name → ids of the examples it got wrong.
        n_examples: size of the evaluation set (Paper A: 11,873 SQuAD 2.0 dev questions).

    Returns:
        model name → `{"preds": (N,) int64, "targets": (N,) int64}`, error ⇔ `preds != targets`.

    Raises:
        ValueError: the lists name more distinct examples than `n_examples`.
    """
    observed = sorted(set().union(*map(set, error_ids.values())))
    if len(observed) > n_examples:
        raise ValueError(
            f"the error lists name {len(observed)} distinct examples, more than n_examples="
            f"{n_examples}; pass the size of the whole evaluation set."
        )
    position = {example_id: row for row, example_id in enumerate(observed)}
    targets = np.zeros(n_examples, dtype=np.int64)
    outputs = {}
    for model, ids in error_ids.items():
        preds = np.zeros(n_examples, dtype=np.int64)
        preds[[position[example_id] for example_id in set(ids)]] = 1
        outputs[model] = {"preds": preds, "targets": targets}
    return outputs


def load_error_lists(folder: str | Path, models: Sequence[str]) -> dict[str, list[str]]:
    """Read `<folder>/<model>.json` (a JSON list of example ids) for each model.

    Raises:
        FileNotFoundError: a model's file is missing (the message names it).
    """
    folder = Path(folder)
    lists = {}
    for model in models:
        path = folder / f"{model}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no error-id list for model {model!r}.")
        lists[model] = json.loads(path.read_text())
    return lists

"""The one MLflow key scheme of the verdicts: what each child run and the parent run carry.

Every number has exactly one key, and every key is built here (the docs table comes from
:func:`key_table_markdown`, so the two cannot drift apart).

**Child run (one per variant)**, for each characteristic ``<c>`` (its ``name``, e.g.
``error_consistency``, ``knn_agreement_k10``):

* metrics ``<c>.vs_reference`` (the value of ``c(variant, reference)``), ``<c>.ci_low``,
  ``<c>.ci_high`` (its bootstrap interval), ``<c>.floor_mean``, ``<c>.floor_min``,
  ``<c>.floor_max`` (the seed-pair floor), ``<c>.margin`` (δ, value units), ``<c>.gap``,
  ``<c>.gap_ci_low``, ``<c>.gap_ci_high`` (negative = less alike), ``<c>.p_diverge``,
  ``<c>.p_equiv`` (Holm-adjusted), ``<c>.n_needed`` (inconclusive only) and
  ``<c>.outcome_code`` (:data:`OUTCOME_CODES`: −1 diverges, 0 inconclusive, 1 within noise,
  2 more alike; sortable and plottable in the compare view);
* tag ``<c>.outcome``: the outcome word (``within_noise`` ...);
* tag ``verdict``: ``trust-equivalent`` / ``diverges: a, b`` / ``inconclusive``, and metrics
  ``verdict.n_within_noise`` etc. (counts over the characteristics).

The floor sits on every child run (``<c>.floor_*``), so the runs table shows value and floor
side by side. **Parent run (the study)**: params ``verdict.alpha``, ``verdict.family_size``,
``verdict.n_resamples``, ``verdict.confidence``, ``verdict.equivalence``, ``verdict.p_method``,
``verdict.reference``, ``verdict.seeds``, ``verdict.margin_rule``,
``verdict.margin_se_multiplier`` (:func:`study_params`).

MLflow metric and tag names may hold letters, digits, ``_ - . / :`` and spaces; characteristic
names here are snake_case, so every key is valid. Nothing that is constant by construction is
logged (e.g. a seed replicate's own seed-pair value is on the floor rows, not a metric).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

#: Numeric code of each outcome (the ``<c>.outcome_code`` metric); higher = more alike.
OUTCOME_CODES: dict[str, int] = {
    "diverges": -1,
    "inconclusive": 0,
    "within_noise": 1,
    "more_alike": 2,
}

#: ``(suffix, verdict-table column, meaning)`` of each per-characteristic metric.
CHARACTERISTIC_METRICS: tuple[tuple[str, str, str], ...] = (
    ("vs_reference", "value", "value of c(variant, reference)"),
    ("ci_low", "ci_low", "lower end of its bootstrap interval"),
    ("ci_high", "ci_high", "upper end of its bootstrap interval"),
    ("floor_mean", "floor_mean", "mean of c over the seed pairs"),
    ("floor_min", "floor_min", "lowest seed-pair value"),
    ("floor_max", "floor_max", "highest seed-pair value"),
    ("margin", "margin", "equivalence margin (value units)"),
    ("gap", "gap", "signed value − floor mean; negative = less alike"),
    ("gap_ci_low", "gap_ci_low", "lower end of the gap's interval"),
    ("gap_ci_high", "gap_ci_high", "upper end of the gap's interval"),
    ("p_diverge", "p_diverge_adj", "Holm-adjusted p-value of 'diverges' (gap < 0)"),
    ("p_equiv", "p_equiv_adj", "Holm-adjusted p-value of the equivalence test"),
    ("n_needed", "n_needed", "examples needed to decide (inconclusive only)"),
)
OUTCOME_CODE_SUFFIX = "outcome_code"
OUTCOME_TAG_SUFFIX = "outcome"
VERDICT_TAG = "verdict"
#: Per-variant counts: ``verdict.<name>`` metric from the overall table's column.
VERDICT_COUNTS: tuple[str, ...] = (
    "n_characteristics",
    "n_within_noise",
    "n_more_alike",
    "n_diverges",
    "n_inconclusive",
)
#: Study-level settings logged as params on the parent run, ``verdict.<name>``.
STUDY_PARAMS: tuple[str, ...] = (
    "alpha",
    "family_size",
    "n_resamples",
    "confidence",
    "equivalence",
    "p_method",
    "reference",
    "seeds",
    "margin_rule",
    "margin_se_multiplier",
)

_VALID_KEY = re.compile(r"^[A-Za-z0-9_\-./: ]+$")


def metric_key(characteristic: str, suffix: str) -> str:
    """``<characteristic>.<suffix>``, checked against MLflow's allowed characters.

    Raises:
        ValueError: an unknown suffix or a name MLflow would refuse.

    Examples:
        >>> metric_key("error_consistency", "vs_reference")
        'error_consistency.vs_reference'
    """
    known = {s for s, _, _ in CHARACTERISTIC_METRICS} | {OUTCOME_CODE_SUFFIX, OUTCOME_TAG_SUFFIX}
    if suffix not in known:
        raise ValueError(f"unknown key suffix {suffix!r}; known: {sorted(known)}")
    key = f"{characteristic}.{suffix}"
    if not _VALID_KEY.match(key):
        raise ValueError(f"{key!r} is not a valid MLflow key (letters, digits, _ - . / : space)")
    return key


def characteristic_keys(characteristic: str) -> dict[str, list[str]]:
    """Every key one characteristic gives a child run: ``{"metrics": [...], "tags": [...]}``."""
    metrics = [metric_key(characteristic, suffix) for suffix, _, _ in CHARACTERISTIC_METRICS]
    metrics.append(metric_key(characteristic, OUTCOME_CODE_SUFFIX))
    return {"metrics": metrics, "tags": [metric_key(characteristic, OUTCOME_TAG_SUFFIX)]}


def variant_metrics_and_tags(
    verdicts: pd.DataFrame, overall: pd.DataFrame | None = None
) -> dict[str, tuple[dict[str, float], dict[str, str]]]:
    """Metrics and tags of each variant's child run, from the verdict tables.

    Args:
        verdicts: the per-test table of :class:`~trusteq.stats.verdict.VerdictResult`.
        overall: its per-variant table (for the ``verdict`` tag and the counts).

    Returns:
        ``{variant: (metrics, tags)}``; non-finite numbers are left out (MLflow would store
        NaN, which sorts badly in the runs table).

    Raises:
        ValueError: two rows of one variant give the same key (a characteristic listed twice).
    """
    runs: dict[str, tuple[dict[str, float], dict[str, str]]] = {}
    for row in verdicts.itertuples(index=False):
        metrics, tags = runs.setdefault(str(row.variant), ({}, {}))
        name = str(row.characteristic)
        tag_key = metric_key(name, OUTCOME_TAG_SUFFIX)
        if tag_key in tags:
            raise ValueError(f"{row.variant}: characteristic {name!r} appears twice")
        for suffix, column, _ in CHARACTERISTIC_METRICS:
            value = getattr(row, column)
            if value is not None and math.isfinite(float(value)):
                metrics[metric_key(name, suffix)] = float(value)
        metrics[metric_key(name, OUTCOME_CODE_SUFFIX)] = float(OUTCOME_CODES[row.outcome])
        tags[tag_key] = str(row.outcome)
    if overall is not None:
        for row in overall.itertuples(index=False):
            metrics, tags = runs.setdefault(str(row.variant), ({}, {}))
            tags[VERDICT_TAG] = str(row.verdict)
            for count in VERDICT_COUNTS:
                metrics[f"{VERDICT_TAG}.{count}"] = float(getattr(row, count))
    return runs


def run_name(
    study: str, variant: str, verdict: tuple[Mapping[str, float], Mapping[str, str]]
) -> str:
    """A child run's name: ``<study>/<variant>``, then its verdict, readable in the runs table.

    The MLflow runs table shows run names by default but tags only once a user adds the column,
    so the name carries the answer: ``quickstart/pruned50 · diverges 11/15``,
    ``quickstart/int8 · inconclusive (9/15 undecided)``, ``quickstart/seed43 · trust-equivalent``.
    Without a verdict (the reference itself, or verdicts off) it is ``<study>/<variant>``.

    Examples:
        >>> run_name("qs", "int8", ({"verdict.n_diverges": 2.0, "verdict.n_characteristics": 15.0},
        ...                         {"verdict": "diverges: cka_linear, error_jaccard"}))
        'qs/int8 · diverges 2/15'
    """
    metrics, tags = verdict
    base = f"{study}/{variant}"
    word = tags.get(VERDICT_TAG)
    if not word:
        return base
    total = int(metrics.get(f"{VERDICT_TAG}.n_characteristics", 0))
    if word.startswith("diverges"):
        return f"{base} · diverges {int(metrics.get(f'{VERDICT_TAG}.n_diverges', 0))}/{total}"
    if word == "inconclusive":
        undecided = int(metrics.get(f"{VERDICT_TAG}.n_inconclusive", 0))
        return f"{base} · inconclusive ({undecided}/{total} undecided)"
    return f"{base} · {word}"


#: The experiment tag MLflow's UI reads a shared runs-table view from (`?viewStateShareKey=`).
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
VERDICT_VIEW_KEY = "trusteq-verdicts"


def verdict_view_key(parent_run_id: str | None = None) -> str:
    """The share key of the verdict view: every study's (no id), or one study's comparison."""
    return VERDICT_VIEW_KEY if parent_run_id is None else f"{VERDICT_VIEW_KEY}-{parent_run_id}"


def verdict_view_state(parent_run_id: str | None = None) -> dict[str, Any]:
    """The runs-table view that shows the verdicts at a glance (MLflow 3 UI "shared view").

    Stored as the experiment tag ``mlflow.sharedViewState.<key>`` (`verdict_view_key`; plain
    JSON, which the UI accepts beside its compressed form) and opened by
    ``#/experiments/<id>/runs?viewStateShareKey=<key>``: the runs carrying a ``verdict`` tag
    (one per compared variant, and the study's parent with every variant's verdict in one line),
    listed flat, the most diverging first, with the number of diverging characteristics,
    accuracy, the verdict and the study as columns. With `parent_run_id`, only that comparison's
    variants (the children of that parent run): the view the study prints, uncluttered by
    earlier studies in the same experiment.
    """

    def tag(name: str) -> str:
        return f"tags.`{name}`"

    def metric(name: str) -> str:
        return f"metrics.`{name}`"

    return {
        "searchFilter": f"tags.{VERDICT_TAG} LIKE '%'"
        + ("" if parent_run_id is None else f" and tags.`mlflow.parentRunId` = '{parent_run_id}'"),
        # Not the creation date: the UI folds child runs under their parent only when sorted by
        # date (or unsorted), and the answer is in the children.
        "orderByKey": metric(f"{VERDICT_TAG}.n_diverges"),
        "orderByAsc": False,
        "selectedColumns": [
            metric(f"{VERDICT_TAG}.n_diverges"),
            metric("accuracy"),
            tag(VERDICT_TAG),
            tag("trusteq.study"),
        ],
    }


def study_verdict(overall: pd.DataFrame) -> str:
    """The parent run's ``verdict`` tag: every variant's verdict in one line.

    Examples:
        >>> frame = pd.DataFrame({"variant": ["int8", "layers3"],
        ...                       "verdict": ["inconclusive", "diverges: cka_linear"]})
        >>> study_verdict(frame)
        'diverges: layers3 · inconclusive: int8'
    """
    groups: dict[str, list[str]] = {}
    for row in overall.itertuples(index=False):
        word = "diverges" if str(row.verdict).startswith("diverges") else str(row.verdict)
        groups.setdefault(word, []).append(str(row.variant))
    order = ["diverges", "inconclusive", "trust-equivalent"]
    words = sorted(groups, key=lambda w: order.index(w) if w in order else len(order))
    return " · ".join(f"{word}: {', '.join(groups[word])}" for word in words)


def study_params(settings: Mapping[str, Any]) -> dict[str, str]:
    """Params of the parent run from :attr:`VerdictResult.settings` (``verdict.<name>``)."""
    params = {}
    for name in STUDY_PARAMS:
        if name in settings:
            value = settings[name]
            if isinstance(value, Sequence) and not isinstance(value, str):
                value = ",".join(str(item) for item in value)
            params[f"{VERDICT_TAG}.{name}"] = str(value)
    return params


def key_table_markdown(characteristic: str = "<c>") -> str:
    """The child-run key scheme as a Markdown table (for the docs)."""
    lines = ["| key | kind | meaning |", "|---|---|---|"]
    for suffix, _, meaning in CHARACTERISTIC_METRICS:
        lines.append(f"| `{characteristic}.{suffix}` | metric | {meaning} |")
    codes = ", ".join(f"{code} {word}" for word, code in OUTCOME_CODES.items())
    lines.append(f"| `{characteristic}.{OUTCOME_CODE_SUFFIX}` | metric | outcome code: {codes} |")
    lines.append(f"| `{characteristic}.{OUTCOME_TAG_SUFFIX}` | tag | outcome word |")
    lines.append(f"| `{VERDICT_TAG}` | tag | trust-equivalent / diverges: list / inconclusive |")
    for count in VERDICT_COUNTS:
        lines.append(f"| `{VERDICT_TAG}.{count}` | metric | outcome counts over characteristics |")
    return "\n".join(lines)

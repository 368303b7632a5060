"""The terminal summary: every header whole, the verdict and its diverging list never cut."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.console import Console

from trusteq.characteristics.matrix import PairwiseResult
from trusteq.pipeline.manifest import StudyHeader
from trusteq.report.console import cell, print_summary
from trusteq.report.results import ComparisonResult
from trusteq.stats.verdict import VerdictResult, overall_verdicts

VARIANTS = ["reference", "reference_seed43", "reference_seed44", "int8", "a_pruned_variant"]
#: Long characteristic names, the kind a wide variant-per-row table used to cut to "knn_ag…".
CHARACTERISTICS = [f"knn_agreement_k{k}" for k in (1, 5, 10, 20, 50)] + [
    "ood_flag_jaccard.knn",
    "attribution_lime_jaccard_k10",
]


def _result(with_verdicts: bool = True) -> ComparisonResult:
    rows = {}
    for i, name in enumerate(VARIANTS):
        row = {"params_M": 22.7, "accuracy": 0.8 - 0.01 * i, "description": "d", "verdict": "x"}
        for j, column in enumerate(CHARACTERISTICS):
            row[column] = 0.5 + 0.01 * j
            row[f"{column}_lo"], row[f"{column}_hi"] = 0.4, 0.6
        row["ood_auroc_of_a_long_analysis_name"] = 0.25
        rows[name] = row
    summary = pd.DataFrame.from_dict(rows, orient="index")
    eye = np.eye(len(VARIANTS))
    pairwise = {
        column: PairwiseResult(column, VARIANTS, eye, eye, eye, {"summary_column": column})
        for column in CHARACTERISTICS
    }
    header = StudyHeader(
        name="demo",
        variants=VARIANTS,
        reference="reference",
        noise_floor="reference_seed43",
        seeds=VARIANTS[:3],
        task="classification",
        label_names=["neg", "pos"],
    )
    verdicts = None
    if with_verdicts:
        outcomes = {
            "reference_seed43": ["within_noise"] * 7,
            "int8": ["within_noise"] * 5 + ["inconclusive", "more_alike"],
            "a_pruned_variant": ["diverges"] * 6 + ["inconclusive"],
        }
        table = pd.DataFrame(
            [
                {"variant": v, "characteristic": c, "outcome": o}
                for v, row in outcomes.items()
                for c, o in zip(CHARACTERISTICS, row, strict=True)
            ]
        )
        verdicts = VerdictResult(
            table=table,
            overall=overall_verdicts(table),
            floor=pd.DataFrame(),
            settings={"alpha": 0.05, "family_size": 21, "n_resamples": 1000, "seeds": VARIANTS[:3]},
        )
    return ComparisonResult(
        unary={}, pairwise=pairwise, summary=summary, header=header, verdicts=verdicts
    )


def _render(result: ComparisonResult, report=None, tmp_path=None) -> str:
    console = Console(width=120, record=True, color_system=None)
    print_summary(result, 12.0, tmp_path or "out", report, console=console)
    return console.export_text()


def test_every_characteristic_and_variant_name_is_printed_whole(tmp_path):
    text = _render(_result(), tmp_path=tmp_path)
    for name in [*CHARACTERISTICS, *VARIANTS, "ood_auroc_of_a_long_analysis_name"]:
        assert name in text, name
    assert "…" not in text  # nothing cut to an ellipsis at 120 columns
    assert "0.510 [0.40, 0.60]" in text  # knn_agreement_k5 of every variant, with its interval


def test_the_verdict_table_lists_outcome_counts_and_every_diverging_characteristic(tmp_path):
    text = _render(_result(), tmp_path=tmp_path)
    verdict_part = text[text.index("verdict per variant") :]
    assert "Holm over M = 21 tests, alpha = 0.05, 1000 resamples" in " ".join(verdict_part.split())
    lines = {line.split("│")[1].strip(): line for line in verdict_part.splitlines() if "│" in line}
    assert "reference_seed43 (seed)" in lines and "int8" in lines
    int8 = [part.strip() for part in lines["int8"].split("│")]
    # variant, verdict, within noise, more alike, diverges, undecided, diverges on
    assert int8[1:8] == ["int8", "inconclusive", "5/7", "1/7", "0/7", "1/7", "-"]
    pruned = [part.strip() for part in lines["a_pruned_variant"].split("│")]
    assert pruned[2:7] == ["diverges", "0/7", "0/7", "6/7", "1/7"]
    listed = " ".join(verdict_part.split())  # the list wraps over several lines
    for name in CHARACTERISTICS[:6]:
        assert name in listed.split("diverges on", 1)[1]
    assert "attribution_lime_jaccard_k10," not in listed  # undecided, so not in the list


def test_the_report_is_named_as_a_file_url_when_it_exists(tmp_path):
    report = tmp_path / "report.html"
    assert "study report" not in _render(_result(), report, tmp_path)
    report.write_text("<html></html>")
    assert f"study report (open in a browser): {report.resolve().as_uri()}" in _render(
        _result(), report, tmp_path
    )


def test_without_a_seed_population_it_says_why_there_is_no_verdict(tmp_path):
    text = " ".join(_render(_result(with_verdicts=False), tmp_path=tmp_path).split())
    assert "verdict per variant" not in text
    assert "no verdicts: the study declares fewer than two seeds (study.seeds)" in text


def test_cell_formats_nan_intervals_and_large_values():
    row = pd.Series({"a": 0.94871, "a_lo": 0.9379, "a_hi": 0.9587, "b": float("nan"), "c": 1234.5})
    assert cell(row, "a") == "0.949 [0.94, 0.96]"
    assert cell(row, "b") == "-"
    assert cell(row, "c") == "1234"  # f"{1234.5:.0f}": round half to even
    assert cell(pd.Series({"d": "text"}), "d") == "text"

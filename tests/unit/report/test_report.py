"""The HTML study report: content matches the verdicts; it renders in headless chromium."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from trusteq.characteristics.error_consistency import ErrorConsistency  # noqa: E402
from trusteq.characteristics.matrix import pairwise_matrix  # noqa: E402
from trusteq.characteristics.prediction_agreement import PredictionAgreement  # noqa: E402
from trusteq.report import forest_plot, to_data_uri, write_report  # noqa: E402
from trusteq.stats import seed_verdicts, simulate_population  # noqa: E402

NAMES = ["reference", "seed1", "seed2", "int8", "layers3"]


class _ReportParser(HTMLParser):
    """Collects the verdict table's cells and rows, every src/href, and the reproduce blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.verdicts: dict[str, str] = {}
        self.links: list[str] = []
        self.scripts = 0
        self._pre: str | None = None
        self.pre: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag == "td" and "data-outcome" in attrs:
            self.cells[(attrs["data-variant"], attrs["data-characteristic"])] = attrs[
                "data-outcome"
            ]
        if tag == "tr" and "data-verdict" in attrs:
            self.verdicts[attrs["data-variant"]] = attrs["data-verdict"]
        if tag == "pre":
            self._pre = attrs.get("id", "")
            self.pre[self._pre] = ""

    def handle_endtag(self, tag):
        if tag == "pre":
            self._pre = None

    def handle_data(self, data):
        if self._pre is not None:
            self.pre[self._pre] += data


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    outputs = simulate_population(NAMES, 500, extra_noise={"layers3": 2.5}, seed=2)
    chars = [PredictionAgreement(), ErrorConsistency()]
    result = seed_verdicts(chars, outputs, "reference", ["seed1", "seed2"], n_resamples=300)
    summary = pd.DataFrame(
        {"variant": NAMES, "size_mb": [90.9, 90.9, 90.9, 58.6, 69.6], "accuracy": [0.8] * 5}
    )
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = write_report(
        tmp_path_factory.mktemp("report") / "report.html",
        study_name="tiny <study>",
        verdicts=result,
        summary=summary,
        pairwise={"prediction_agreement": pairwise_matrix(chars[0], outputs, n_resamples=50)},
        figures={"size vs agreement": fig},
        ood={"OOD AUROC": _png(tmp_path_factory.mktemp("png"))},
        attribution={"top-10 Jaccard": _png(tmp_path_factory.mktemp("png2"))},
        examples={
            "flagged OOD by one model only": pd.DataFrame(
                {"sentence": ["a <b>bold</b> claim", "plain"], "reference": [1, 0], "int8": [0, 1]}
            )
        },
        chance={"error_consistency": 0.0},
        command="trusteq-study experiment=quickstart seed=1",
        config_yaml="study:\n  reference: reference\n",
    )
    return result, path


def _png(folder) -> Path:
    fig, ax = plt.subplots()
    ax.bar([0, 1], [0.6, 0.7])
    path = folder / "figure.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _parse(html: str) -> _ReportParser:
    parser = _ReportParser()
    parser.feed(html)
    return parser


def _expected_cells(result) -> dict[tuple[str, str], str]:
    return {(row.variant, row.characteristic): row.outcome for row in result.table.itertuples()}


def test_verdict_table_matches_the_dataframe(study):
    result, path = study
    parsed = _parse(path.read_text())
    assert parsed.cells == _expected_cells(result)
    expected = dict(zip(result.overall["variant"], result.overall["verdict"], strict=True))
    assert {k: v for k, v in parsed.verdicts.items() if k != "reference"} == expected
    assert parsed.verdicts["reference"] == "reference"
    assert result.verdict("layers3").startswith("diverges")


def test_report_is_self_contained_and_reproducible(study):
    _, path = study
    html = path.read_text()
    parsed = _parse(html)
    assert parsed.scripts == 0
    for link in parsed.links:
        assert link.startswith(("data:", "#")), link
    assert sum(link.startswith("data:image/png;base64,") for link in parsed.links) >= 3
    assert parsed.pre["command"] == "trusteq-study experiment=quickstart seed=1"
    assert "reference: reference" in parsed.pre["config"]
    assert "tiny &lt;study&gt;" in html  # autoescaped
    assert "a &lt;b&gt;bold&lt;/b&gt; claim" in html  # example sentences escaped too
    for section in ('id="ood"', 'id="attribution"', 'id="examples"', 'id="matrices"'):
        assert section in html
    assert "M = 8" in html and "α = 0.05" in html and "<b>300</b> resamples" in html


def test_forest_plot_and_data_uri(tmp_path, study):
    result, _ = study
    fig = forest_plot(result.table, result.floor, characteristic="error_consistency", chance=0.0)
    assert "error_consistency vs reference" in fig.axes[0].get_xlabel()
    png = tmp_path / "forest.png"
    fig.savefig(png)
    assert to_data_uri(png).startswith("data:image/png;base64,iVBOR")
    with pytest.raises(ValueError, match="one characteristic"):
        forest_plot(result.table)
    with pytest.raises(ValueError, match="PNG"):
        to_data_uri(b"GIF89a")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _headless(url: str, *extra: str) -> subprocess.CompletedProcess:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
    ]
    return subprocess.run(
        [*command, "--v=0", *extra, url], capture_output=True, text=True, timeout=120, check=True
    )


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
@pytest.mark.skipif(
    _chromium() is None, reason="needs Debian's chromium (apt-get install chromium)"
)
def test_report_renders_in_headless_chromium(study, tmp_path):
    result, path = study
    # Positive control: the console check does see a page's errors.
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><script>console.error('control-42')</script>")
    assert any(
        "control-42" in m
        for m in _console_messages(_headless(control.as_uri(), "--dump-dom").stderr)
    )
    dumped = _headless(path.as_uri(), "--dump-dom")
    assert _console_messages(dumped.stderr) == []
    parsed = _parse(dumped.stdout)  # the DOM as chromium built it
    assert parsed.cells == _expected_cells(result)
    shot = tmp_path / "report.png"
    _headless(path.as_uri(), f"--screenshot={shot}", "--window-size=1300,1600", "--hide-scrollbars")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000


def test_examples_needed_are_whole_counts(study):
    """`n_needed` is a number of examples: 575, never 575.000 (read as 575 thousand)."""
    import math
    import re

    result, path = study
    html = path.read_text()
    undecided = result.table[result.table.outcome == "inconclusive"]
    finite = undecided[np.isfinite(undecided.n_needed)]
    assert len(finite), "the simulated population must leave something undecided"
    captions = re.findall(r"Examples needed to decide:(.*?)</figcaption>", html, flags=re.S)
    shown = " ".join(captions)
    for row in finite.itertuples():
        assert f"{row.variant} ≈ {math.ceil(row.n_needed):,}" in shown
    assert not re.search(r"≈ [0-9,]+\.[0-9]", shown)

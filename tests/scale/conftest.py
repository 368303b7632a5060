"""Helpers of the scale-out tests: the console commands as a user runs them, on a 2-variant study.

Every test here is marked ``scale`` (distributed launchers, a PostgreSQL server): deselect them
with ``-m "not scale"``; CI runs them with ``-m scale``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trusteq.testing.tiny import tiny_overrides

BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.scale)


def run_cli(entry: str, args: list[str], root: Path, timeout: float = 900, **env: str):
    """Run a console entry point in `root` with TRUSTEQ_ROOT=`root`; returns the finished run."""
    environment = {**os.environ, "TRUSTEQ_ROOT": str(root), "PYTHONUNBUFFERED": "1", **env}
    return subprocess.run(
        [str(BIN / entry), *args],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def two_variant_study(root: Path, model_dir: Path, files: dict[str, Path]) -> list[str]:
    """Overrides: a tiny study of two variants, `reference` and `int8` (its dynamic-int8 child).

    The tiny BERT and data of `tiny_overrides`, without its experiment: the study is defined here
    on the command line (no default experiment), so changes to the quick-start's variant list do
    not change it. Written against the command line only: any CLI that composes
    `conf/study.yaml` with Hydra overrides runs it.
    """
    keep = [
        item
        for item in tiny_overrides(root, model_dir, files)
        if not item.lstrip("~+").startswith(("experiment=", "study."))
    ]
    return [
        *keep,
        "study.name=scale_two_variants",
        "study.reference=reference",
        "+study.variants.reference.seed=42",
        "+study.variants.reference.description=tiny BERT fine-tuned",
        "+study.variants.int8.parent=reference",
        "+study.variants.int8.description=dynamic int8 of the reference",
        "+compression@study.variants.int8.compression.quantize=dynamic_int8",
    ]


def combined(process: subprocess.CompletedProcess) -> str:
    """stdout then stderr of a finished process."""
    return process.stdout + process.stderr


class Cli:
    """The helpers above as one fixture (tests/ is not a package)."""

    run = staticmethod(run_cli)
    study = staticmethod(two_variant_study)
    combined = staticmethod(combined)


@pytest.fixture
def cli() -> Cli:
    return Cli()

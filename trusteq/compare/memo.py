"""Comparisons are cache entries too: the same entries, settings and code give the same results.

A comparison's key is the content hash of every entry the manifest names, the study header, the
resolved `characteristics`, `analyses` and `compare` settings, and a digest of the code that
computes them (the source of `trusteq/{characteristics,analyses,stats,compare,report,ood,
explain}`), so a fixed metric never serves a stale result. The entry (`comparisons/<key>/`) holds
the result files (summary, matrices, `report.html`) and the result itself (pickled, figures
dropped), so a cached rerun copies files instead of recomputing bootstraps and figures.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import shutil
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trusteq.compare.view import CacheView
from trusteq.outputs.keys import content_key
from trusteq.pipeline.keys import OUTPUTS, PRODUCED
from trusteq.report.results import ComparisonResult

log = logging.getLogger(__name__)

COMPARISONS = "comparisons"
RESULT_FILE = "result.pkl"
FILES = "files"
#: Packages whose code defines a comparison's numbers and report.
_CODE = ("characteristics", "analyses", "stats", "compare", "report", "ood", "explain", "viz")


@cache
def code_digest() -> str:
    """sha256 over the source of the packages that compute and render a comparison."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in _CODE:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".j2", ".html", ".css"):
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def comparison_key(cfg: DictConfig, view: CacheView) -> str:
    """The key of the comparison `cfg` asks for over the entries `view` names."""
    manifest = view.manifest
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return content_key(
        COMPARISONS,
        {
            "header": manifest.header.to_dict(),
            "outputs": {v: manifest.outputs.get(v, {}) for v in manifest.header.variants},
            "produced": {v: manifest.produced.get(v, {}) for v in manifest.header.variants},
            "characteristics": resolved.get("characteristics"),
            "analyses": resolved.get("analyses"),
            "compare": resolved.get("compare"),
            "code": code_digest(),
        },
    )


def _portable(result: ComparisonResult) -> ComparisonResult:
    """A copy without matplotlib figures (logged and rendered already; heavy to pickle)."""
    import copy

    light = copy.copy(result)
    light.analyses = {}
    for name, analysis in result.analyses.items():
        stripped = copy.copy(analysis)
        stripped.figures = {}
        light.analyses[name] = stripped
    light.parent_run_id = None
    return light


def save(view: CacheView, key: str, result: ComparisonResult, out_dir: Path | None) -> None:
    """Publish the comparison entry (result + the files written to `out_dir`)."""
    store = view.store
    meta = {"study": result.header.name, "split": result.split}
    with store.building(COMPARISONS, key, meta, replace=store.exists(COMPARISONS, key)) as folder:
        (folder / RESULT_FILE).write_bytes(pickle.dumps(_portable(result)))
        if out_dir is not None and out_dir.is_dir():
            shutil.copytree(out_dir, folder / FILES)


def load(view: CacheView, key: str, out_dir: Path | None) -> ComparisonResult | None:
    """The cached comparison (its files copied into `out_dir`), or None when there is none."""
    store = view.store
    if not store.exists(COMPARISONS, key):
        return None
    # The entries the comparison was computed from must still be intact: a corrupt entry is an
    # error (naming its repair), never hidden behind a cached result.
    manifest = view.manifest
    for variant in manifest.header.variants:
        for record in manifest.outputs.get(variant, {}).values():
            store.verify(OUTPUTS, record["key"])
        for record in manifest.produced.get(variant, {}).values():
            store.verify(PRODUCED, record["key"])
    try:
        store.verify(COMPARISONS, key)
        folder = store.path(COMPARISONS, key)
        result: Any = pickle.loads((folder / RESULT_FILE).read_bytes())
    except Exception as error:  # unreadable or stale pickle: recompute, never fail on a memo
        log.warning("cached comparison %s unreadable (%s); recomputing", key, error)
        return None
    if out_dir is not None:
        if not (folder / FILES).is_dir():
            return None  # computed without result files (a library call): make them now
        shutil.copytree(folder / FILES, out_dir, dirs_exist_ok=True)
    log.info("comparison cached: %s (no characteristic recomputed)", key)
    return result

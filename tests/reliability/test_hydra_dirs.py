"""Runs started in the same second get their own output folders (issue 10, item 3).

Trial: `outputs/${study.name}/${now:%Y-%m-%d_%H-%M-%S}` made two studies started in the same second
overwrite each other's summary and matrices.
"""

from __future__ import annotations

import re
from datetime import datetime

from omegaconf import OmegaConf

from trusteq.testing.tiny import CONF_DIR


def _patterns() -> dict[str, str]:
    hydra = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "hydra" / "default.yaml"))
    return {"run": hydra["run"]["dir"], "sweep": hydra["sweep"]["dir"]}


def test_run_and_sweep_dirs_include_microseconds():
    for name, template in _patterns().items():
        (pattern,) = re.findall(r"\$\{now:([^}]*)\}", template)
        assert "%f" in pattern, name
        first = datetime(2026, 12, 1, 10, 0, 0, 1).strftime(pattern)
        second = datetime(2026, 12, 1, 10, 0, 0, 2).strftime(pattern)
        assert first != second  # the same second, one microsecond apart


def test_composed_run_dir_resolves(overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("study", overrides=overrides, return_hydra_config=True)
    run_dir = str(cfg.hydra.run.dir)
    assert re.fullmatch(r"outputs/rel/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{6}", run_dir), run_dir

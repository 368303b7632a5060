"""Where an entry came from: the commit, the library versions, the machine."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

_LIBRARIES = (
    "torch",
    "transformers",
    "lightning",
    "hydra-core",
    "mlflow",
    "faiss-cpu",
    "onnxruntime",
    "trusteq",
)


@cache
def git_sha() -> str | None:
    """The checkout's commit, or None outside git."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


@cache
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape outputs."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@cache
def machine() -> dict[str, Any]:
    """CPU model and the instruction set of the quantized kernels (int8 results depend on it).

    Returns:
        ``cpu`` (model name), ``machine`` (architecture), ``torch_cpu_capability`` (the SIMD
        level torch dispatches to, e.g. ``AVX512``), ``quantized_engine`` (fbgemm / qnnpack /
        x86 / onednn).
    """
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch
        capability = None
    return {
        "cpu": cpu,
        "machine": platform.machine(),
        "torch_cpu_capability": capability,
        "quantized_engine": torch.backends.quantized.engine,
    }

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from trusteq.outputs.keys import content_key
from trusteq.outputs.store import CacheError, OutputStore


def test_key_depends_on_content_not_order():
    a = content_key("outputs", {"model": "m", "seed": 1, "split": "test"})
    b = content_key("outputs", {"split": "test", "seed": 1, "model": "m"})
    c = content_key("outputs", {"split": "test", "seed": 2, "model": "m"})
    assert a == b
    assert a != c
    assert a != content_key("checkpoints", {"model": "m", "seed": 1, "split": "test"})


def test_miss_then_hit_roundtrip(tmp_path):
    store = OutputStore(tmp_path)
    assert not store.exists("outputs", "k1")
    with pytest.raises(CacheError, match="no finished cache entry"):
        store.read_arrays("outputs", "k1")
    logits = np.arange(6, dtype=np.float32).reshape(3, 2)
    store.write_arrays("outputs", "k1", {"logits": logits}, {"ids": ["a", "b", "c"]})
    assert store.exists("outputs", "k1")
    np.testing.assert_array_equal(store.read_arrays("outputs", "k1")["logits"], logits)
    meta = store.read_meta("outputs", "k1")
    assert meta["ids"] == ["a", "b", "c"] and meta["key"] == "k1"


def test_failed_build_publishes_nothing(tmp_path):
    store = OutputStore(tmp_path)
    with pytest.raises(RuntimeError), store.building("outputs", "k2", {}) as folder:
        (folder / "partial.bin").write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert not store.exists("outputs", "k2")
    assert not any((tmp_path / "outputs").iterdir())


def test_killed_process_leaves_no_entry(tmp_path):
    """SIGKILL in the middle of a write: no entry, only a temporary folder that cleanup removes."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from trusteq.outputs.store import OutputStore
        store = OutputStore({str(tmp_path)!r})
        with store.building("outputs", "k3", {{}}) as folder:
            (folder / "outputs.safetensors").write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -signal.SIGKILL
    store = OutputStore(tmp_path)
    assert not store.exists("outputs", "k3")
    leftovers = list((tmp_path / "outputs").glob(".tmp-k3-*"))
    assert len(leftovers) == 1
    os.utime(leftovers[0], (0, 0))  # pretend it is old
    assert store.clean_temporary(older_than_s=60, system_tmp=False) == 1
    assert not list((tmp_path / "outputs").iterdir())


def test_second_writer_keeps_first_entry(tmp_path):
    store = OutputStore(tmp_path)
    store.write_arrays("outputs", "k4", {"x": np.zeros(2, np.float32)}, {"writer": 1})
    store.write_arrays("outputs", "k4", {"x": np.ones(2, np.float32)}, {"writer": 2})
    assert store.read_meta("outputs", "k4")["writer"] == 1
    assert len(list((tmp_path / "outputs").iterdir())) == 1

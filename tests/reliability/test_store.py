"""Cache store reliability (issue 10, items 1, 5, 6 and the 0700 permissions trial)."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from safetensors.numpy import save_file

from trusteq.outputs import store as store_module
from trusteq.outputs.store import TENSORS_FILE, CacheError, OutputStore


def _arrays(value: float) -> dict[str, np.ndarray]:
    return {"logits": np.full((4, 2), value, np.float32)}


def test_replace_swaps_in_the_new_entry(tmp_path):
    store = OutputStore(tmp_path)
    store.write_arrays("outputs", "k", _arrays(0.0), {"writer": 1})
    store.write_arrays("outputs", "k", _arrays(1.0), {"writer": 2}, replace=True)
    assert store.read_meta("outputs", "k")["writer"] == 2
    np.testing.assert_array_equal(store.read_arrays("outputs", "k")["logits"], 1.0)
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["k"]  # no .old-* or .tmp-*


def test_failed_rebuild_keeps_the_old_entry(tmp_path):
    """Trial: `trusteq-infer force=true infer.batch_size=0` deleted a good entry."""
    store = OutputStore(tmp_path)
    store.write_arrays("outputs", "k", _arrays(0.0), {"writer": 1})
    with pytest.raises(ValueError), store.building("outputs", "k", {}, replace=True) as folder:
        (folder / TENSORS_FILE).write_bytes(b"half")
        raise ValueError("batch_size=0")
    assert store.read_meta("outputs", "k")["writer"] == 1
    np.testing.assert_array_equal(store.read_arrays("outputs", "k")["logits"], 0.0)
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["k"]


def test_replace_also_repairs_a_corrupt_entry(tmp_path):
    store = OutputStore(tmp_path)
    store.write_arrays("outputs", "k", _arrays(0.0), {})
    (store.path("outputs", "k") / "meta.json").write_text("")
    store.write_arrays("outputs", "k", _arrays(2.0), {"writer": 2}, replace=True)
    assert store.read_meta("outputs", "k")["writer"] == 2


def test_meta_records_size_and_digest_of_every_file(tmp_path):
    store = OutputStore(tmp_path)
    with store.building("checkpoints", "c", {}) as folder:
        (folder / "model.safetensors").write_bytes(b"w" * 100)
        (folder / "sub").mkdir()
        (folder / "sub" / "vocab.txt").write_text("a\nb\n")
    files = store.read_meta("checkpoints", "c")["files"]
    assert set(files) == {"model.safetensors", "sub/vocab.txt"}
    assert files["model.safetensors"]["size"] == 100
    import hashlib

    assert files["model.safetensors"]["blake2b"] == hashlib.blake2b(b"w" * 100).hexdigest()


def test_flipped_bytes_in_a_valid_safetensors_file_are_refused(tmp_path):
    """Trial: flipping bytes inside a cached outputs.safetensors changed 52 summary cells."""
    store = OutputStore(tmp_path)
    store.write_arrays("outputs", "k", _arrays(0.5), {})
    path = store.path("outputs", "k") / TENSORS_FILE
    save_file({"logits": np.full((4, 2), 0.7, np.float32)}, str(path))  # same size, valid file
    store_module._VERIFIED.clear()  # a new process
    with pytest.raises(CacheError) as caught:
        store.read_arrays("outputs", "k")
    message = str(caught.value)
    assert str(store.path("outputs", "k")) in message and "digest" in message
    assert "force=true" in message and "rm -rf" in message


def test_digests_are_checked_once_per_process_sizes_always(tmp_path, monkeypatch):
    store = OutputStore(tmp_path)
    store.write_arrays("outputs", "k", _arrays(0.5), {})
    calls = []
    real = store_module.file_digest
    monkeypatch.setattr(store_module, "file_digest", lambda p: calls.append(p) or real(p))
    store_module._VERIFIED.clear()
    for _ in range(3):
        store.read_arrays("outputs", "k")
        store.read_meta("outputs", "k")
    assert len(calls) == 1
    path = store.path("outputs", "k") / TENSORS_FILE
    path.write_bytes(path.read_bytes()[:-4])  # truncated: caught by the size check alone
    with pytest.raises(CacheError, match="bytes"):
        store.read_arrays("outputs", "k")


@pytest.mark.parametrize("content", ["", "{", "[]", "{}", '{"key": "k"'])
def test_truncated_or_empty_meta_is_a_cache_error_naming_the_entry(tmp_path, content):
    store = OutputStore(tmp_path)
    store.write_arrays("outputs", "k", _arrays(0.5), {})
    (store.path("outputs", "k") / "meta.json").write_text(content)
    with pytest.raises(CacheError) as caught:
        store.read_meta("outputs", "k")
    assert str(store.path("outputs", "k")) in str(caught.value)
    assert "trusteq-infer" in str(caught.value)


def test_checkpoint_repair_hint_names_force_train(tmp_path):
    store = OutputStore(tmp_path)
    with store.building("checkpoints", "c", {}) as folder:
        (folder / "model.safetensors").write_bytes(b"w" * 10)
    (store.path("checkpoints", "c") / "model.safetensors").write_bytes(b"x" * 10)
    store_module._VERIFIED.clear()
    with pytest.raises(CacheError, match="force_train=true"):
        store.verify("checkpoints", "c")


def test_entries_without_digests_stay_readable_and_are_logged_once(tmp_path, caplog):
    folder = tmp_path / "outputs" / "old"
    folder.mkdir(parents=True)
    save_file(_arrays(0.25), str(folder / TENSORS_FILE))
    (folder / "meta.json").write_text(json.dumps({"key": "old", "kind": "outputs"}))
    store = OutputStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="trusteq.outputs.store"):
        for _ in range(3):
            np.testing.assert_array_equal(store.read_arrays("outputs", "old")["logits"], 0.25)
    assert sum("before digests" in r.getMessage() for r in caplog.records) == 1


def test_entries_are_readable_by_other_users(tmp_path):
    """Trial: cache entries were created 0700/0600."""
    old = os.umask(0o022)
    try:
        store = OutputStore(tmp_path)
        folder = store.write_arrays("outputs", "k", _arrays(0.0), {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_clean_temporary_removes_dead_jobs_leftovers_at_once(tmp_path):
    """SIGKILL mid-build: the dead job's .tmp-* goes on the next clean, whatever its age."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from trusteq.outputs.store import OutputStore
        store = OutputStore({str(tmp_path)!r})
        with store.building("outputs", "k", {{}}) as folder:
            (folder / "outputs.safetensors").write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -signal.SIGKILL
    (tmp_path / "outputs" / ".old-k-abcd1234").mkdir()  # a swap killed between its renames
    os.utime(tmp_path / "outputs" / ".old-k-abcd1234", (0, 0))
    store = OutputStore(tmp_path)
    assert store.clean_temporary(system_tmp=False) == 2
    assert not list((tmp_path / "outputs").iterdir())


def test_clean_temporary_keeps_a_live_jobs_build(tmp_path):
    store = OutputStore(tmp_path)
    with store.building("outputs", "k", {}) as folder:
        assert store.clean_temporary(system_tmp=False) == 0
        assert folder.is_dir()


def test_unwritable_cache_is_a_cache_error(tmp_path):
    """Trial: TRUSTEQ_CACHE pointing at a file raised a bare error after computing."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheError, match="TRUSTEQ_CACHE"):
        OutputStore(blocker).write_arrays("outputs", "k", _arrays(0.0), {})

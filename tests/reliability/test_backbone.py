"""Backbone problems are one clear BackboneError; weights enter the identity by digest (issue 10).

Trials: an empty model folder, a folder without tokenizer files, a non-model folder, a truncated
model.safetensors, a path that does not exist (reported as an invalid hub repo id), an offline hub
id (the tokenizer was loaded before the guarded model load) and a local model whose head has a
different label count all gave raw library tracebacks; replacing model.safetensors in place reused
every cached result.
"""

from __future__ import annotations

import shutil

import pytest

from trusteq.models import backbone as backbone_module
from trusteq.models.backbone import Backbone, BackboneError


@pytest.fixture
def model_dir(tmp_path, tiny_model_dir):
    target = tmp_path / "model"
    shutil.copytree(tiny_model_dir, target)
    return target


@pytest.fixture(autouse=True)
def _private_digest_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTEQ_CACHE", str(tmp_path / "digest-cache"))
    monkeypatch.setattr(backbone_module, "_DIGEST_MEMO", {})


def _refused(path, *load: str) -> str:
    backbone = Backbone(str(path))
    with pytest.raises(BackboneError) as caught:
        backbone.check()
    for method in load:  # the loaders refuse the same way (the tokenizer first of all)
        with pytest.raises(BackboneError):
            getattr(backbone, method)()
    message = str(caught.value)
    assert message.startswith(f"model.name_or_path={str(path)!r}")
    assert "Fix:" in message and "\n" not in message
    return message


def test_the_tiny_model_passes(model_dir):
    Backbone(str(model_dir)).check()


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "is empty" in _refused(tmp_path / "empty", "load_tokenizer")


def test_folder_without_tokenizer_files(model_dir):
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (model_dir / name).unlink(missing_ok=True)
    assert "no tokenizer files" in _refused(model_dir, "load_tokenizer")


def test_non_model_folder(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("buy milk")
    assert "no config.json" in _refused(tmp_path / "notes", "load_tokenizer")


def test_folder_without_weights(model_dir):
    (model_dir / "model.safetensors").unlink()
    assert "holds no weights" in _refused(model_dir)


@pytest.mark.parametrize("cut", [4, 100, -10])
def test_truncated_safetensors(model_dir, cut):
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:cut])
    assert "corrupt" in _refused(model_dir, "load_tokenizer")


def test_garbage_safetensors_header(model_dir):
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:16] = b"\xff" * 8  # the JSON header is no longer valid
    weights.write_bytes(bytes(data))
    assert "corrupt" in _refused(model_dir)


def test_path_that_does_not_exist(tmp_path):
    message = _refused(tmp_path / "no-such-model", "load_tokenizer")
    assert "no such folder" in message and "repo id" not in message


def test_offline_hub_id_not_in_the_cache(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backbone = Backbone("nobody-here/no-such-model-xyz")
    with pytest.raises(BackboneError, match="not in the local Hugging Face cache"):
        backbone.check()
    with pytest.raises(BackboneError, match="HF_HUB_OFFLINE"):
        backbone.load_tokenizer()  # guarded too (it used to load first, unguarded)


def test_head_with_another_label_count_gets_a_fresh_head(model_dir, caplog):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=3, ignore_mismatched_sizes=True
    )
    model.save_pretrained(model_dir)  # a "fine-tuned" 3-label model
    loaded = Backbone(str(model_dir)).load_classifier(num_labels=2)
    assert loaded.config.num_labels == 2
    assert loaded.classifier.out_features == 2
    assert any("3-label classification head" in r.getMessage() for r in caplog.records)


def test_weights_replaced_in_place_change_the_identity(model_dir):
    before = Backbone(str(model_dir)).identity()
    assert before["files_sha256"]["model.safetensors"]
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
    model.save_pretrained(model_dir)
    after = Backbone(str(model_dir)).identity()
    assert after["name_or_path"] == before["name_or_path"]
    assert after != before


def test_digests_are_cached_per_path_mtime_size(model_dir, monkeypatch, tmp_path):
    calls = []
    real = backbone_module.sha256_file
    monkeypatch.setattr(backbone_module, "sha256_file", lambda p: calls.append(p) or real(p))
    first = Backbone(str(model_dir)).identity()
    hashed = len(calls)
    assert hashed >= 2
    backbone_module._DIGEST_MEMO.clear()  # a new process: only the json cache remains
    assert Backbone(str(model_dir)).identity() == first
    assert len(calls) == hashed
    assert (tmp_path / "digest-cache" / "file_digests.json").is_file()


def _fake_hub_cache(cache, model_dir, repo="someone/tiny-bert", commit="abc123def"):
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    return repo, snapshot


def test_a_cached_hub_id_is_identified_by_its_snapshot_weights(tmp_path, model_dir, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo, snapshot = _fake_hub_cache(tmp_path / "hub", model_dir)
    backbone = Backbone(repo)
    backbone.check()  # offline, but in the local cache: accepted
    identity = backbone.identity()
    assert identity["snapshot"] == "abc123def"
    local = Backbone(str(snapshot)).identity()["files_sha256"]
    assert identity["files_sha256"] == local

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from trusteq.testing.tiny import tiny_bert_folder

    return tiny_bert_folder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_data_files(tmp_path_factory) -> dict[str, Path]:
    from trusteq.testing.tiny import write_sentiment_csvs

    return write_sentiment_csvs(
        tmp_path_factory.mktemp("tiny-data"), {"train": 96, "validation": 32, "test": 48}
    )

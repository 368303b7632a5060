"""Datasets: one in-memory format (:class:`TextSplit`, :class:`DatasetSplits`) from several sources.

Sources (each built by Hydra from ``conf/dataset/<name>.yaml``): the packaged VADER sentiment
corpora (offline default), Hugging Face hub datasets, and local csv/tsv/jsonl/parquet files.
"""

from __future__ import annotations

from trusteq.data.base import DataConfigError, DataIntegrityError, TextDatasetSource
from trusteq.data.hub import HubTextClassification
from trusteq.data.local_files import LocalFilesTextClassification
from trusteq.data.splits import UNLABELLED, DatasetSplits, TextSplit, stratified_sample_indices
from trusteq.data.vader import VaderSentimentCorpus

__all__ = [
    "DataConfigError",
    "DataIntegrityError",
    "DatasetSplits",
    "HubTextClassification",
    "LocalFilesTextClassification",
    "TextDatasetSource",
    "TextSplit",
    "UNLABELLED",
    "VaderSentimentCorpus",
    "stratified_sample_indices",
]

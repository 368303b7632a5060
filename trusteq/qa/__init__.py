"""Extractive question answering (SQuAD 2.0 layout).

Data sources, windows, the QA model, SQuAD v2 post-processing and scoring, and the study seam
(:class:`trusteq.qa.task.QATask`).

Sources (``conf/dataset/``): ``squad_v2`` and ``newsqa`` (hub or local files), ``qa_files`` (SQuAD
json, jsonl / parquet, MRQA jsonl) and ``disfl_qa`` (offline, from the ``bigbench==1.0.0`` sdist).
"""

from __future__ import annotations

from trusteq.qa.data import QADatasetSource, QADatasetSplits, QASplit
from trusteq.qa.sources import DisflQA, QADataset

__all__ = ["DisflQA", "QADataset", "QADatasetSource", "QADatasetSplits", "QASplit"]

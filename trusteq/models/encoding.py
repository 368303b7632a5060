"""Tokenisation and batching of text splits for the classifier.

Training batches are shuffled with dynamic padding; inference batches are sorted by length so that
padding (and so CPU time) is minimal, and every item carries its row index so outputs are put back
in the split's order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class TokenizedSplit(Dataset):
    """A text split tokenised once, up front.

    Args:
        text_a: first segments, length N.
        text_b: second segments (sentence pairs) or None.
        labels: shape `(N,)`, int64 label ids.
        tokenizer: a `transformers` fast tokenizer.
        max_length: truncation length in tokens (pairs are truncated longest-first).
    """

    def __init__(
        self,
        text_a: Sequence[str],
        text_b: Sequence[str] | None,
        labels: np.ndarray,
        tokenizer: Any,
        max_length: int,
    ) -> None:
        encoded = tokenizer(
            list(text_a),
            list(text_b) if text_b is not None else None,
            truncation=True,
            max_length=max_length,
            padding=False,
        )
        self.input_ids: list[list[int]] = encoded["input_ids"]
        self.token_type_ids: list[list[int]] | None = encoded.get("token_type_ids")
        self.labels = np.asarray(labels, dtype=np.int64)
        self.pad_token_id = int(tokenizer.pad_token_id or 0)

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {
            "index": index,
            "input_ids": self.input_ids[index],
            "label": int(self.labels[index]),
        }
        if self.token_type_ids is not None:
            item["token_type_ids"] = self.token_type_ids[index]
        return item

    def lengths(self) -> np.ndarray:
        """Token counts per example, shape `(N,)`."""
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self))

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad a list of items to the longest one (dynamic padding)."""
        width = max(len(item["input_ids"]) for item in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        token_type_ids = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            length = len(item["input_ids"])
            input_ids[row, :length] = torch.tensor(item["input_ids"])
            attention_mask[row, :length] = 1
            if "token_type_ids" in item:
                token_type_ids[row, :length] = torch.tensor(item["token_type_ids"])
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": torch.tensor([item["label"] for item in items], dtype=torch.long),
            "index": torch.tensor([item["index"] for item in items], dtype=torch.long),
        }
        if self.token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        return batch


class LengthSortedSampler(Sampler[int]):
    """Yields indices from the longest to the shortest example (inference only)."""

    def __init__(self, lengths: np.ndarray) -> None:
        self.order = np.argsort(-lengths, kind="stable").tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class BucketBatchSampler(Sampler[list[int]]):
    """Random batches of similar length: less padding, so less compute per epoch.

    Each epoch shuffles all indices, cuts them into pools of `pool_batches` batches, sorts each pool
    by length, cuts it into batches and shuffles the batch order (the "bucket iterator" of
    torchtext / fairseq). Reproducible from `seed`; every epoch draws a new order.
    """

    def __init__(
        self, lengths: np.ndarray, batch_size: int, seed: int, pool_batches: int = 50
    ) -> None:
        self.lengths = lengths
        self.batch_size = batch_size
        self.pool = batch_size * pool_batches
        self.rng = np.random.default_rng(seed)

    def __iter__(self) -> Iterator[list[int]]:
        order = self.rng.permutation(len(self.lengths))
        batches = []
        for start in range(0, len(order), self.pool):
            pool = order[start : start + self.pool]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches += [
                pool[i : i + self.batch_size].tolist() for i in range(0, len(pool), self.batch_size)
            ]
        for index in self.rng.permutation(len(batches)):
            yield batches[index]

    def __len__(self) -> int:
        pools, rest = divmod(len(self.lengths), self.pool)
        return pools * -(-self.pool // self.batch_size) + -(-rest // self.batch_size)


def train_loader(data: TokenizedSplit, batch_size: int, seed: int) -> DataLoader:
    """Length-bucketed random batches with dynamic padding, reproducible from `seed`."""
    return DataLoader(
        data,
        batch_sampler=BucketBatchSampler(data.lengths(), batch_size, seed),
        collate_fn=data.collate,
    )


def inference_loader(data: TokenizedSplit, batch_size: int) -> DataLoader:
    """Length-sorted loader; outputs must be re-ordered by the batch's `index`."""
    return DataLoader(
        data,
        batch_size=batch_size,
        sampler=LengthSortedSampler(data.lengths()),
        collate_fn=data.collate,
    )

"""Tokenisation of QA splits into overlapping windows ("features"), the standard BERT recipe.

Each question is paired with its context and tokenised with ``truncation="only_second"``: a
context longer than ``max_length`` tokens is cut into windows that overlap by ``doc_stride``
tokens (Devlin et al. 2019, Sec. 4.3; the Hugging Face ``run_qa.py`` preprocessing). Questions are
first cut to ``max_query_length`` tokens (Google's ``run_squad.py``). Every window carries its
question's row, the character offsets of its context tokens (None elsewhere), and its training
labels: the token positions of the first located gold answer when the answer lies wholly inside
the window, else the [CLS] position (no answer here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from trusteq.qa.data import QASplit


def truncate_questions(questions: list[str], tokenizer: Any, max_query_length: int) -> list[str]:
    """Questions stripped on the left and cut after ``max_query_length`` tokens."""
    stripped = [question.lstrip() for question in questions]
    encoded = tokenizer(stripped, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for question, offsets in zip(stripped, encoded["offset_mapping"], strict=True):
        out.append(
            question[: offsets[max_query_length - 1][1]]
            if len(offsets) > max_query_length
            else question
        )
    return out


class QAFeatures(Dataset):
    """A QA split tokenised into windows, with labels and offsets; usable by trusteq's loaders.

    Implements what `trusteq.models.encoding.train_loader` / `inference_loader` and
    `trusteq.models.latency.measure_latency` need: ``lengths()``, ``collate()``, ``input_ids``,
    ``token_type_ids``, ``pad_token_id``.

    Args:
        split: the questions.
        tokenizer: a fast tokenizer (offset mapping needed).
        max_length: tokens per window (question + context + special tokens).
        doc_stride: overlap in tokens between consecutive windows of one context.
        max_query_length: questions are cut to this many tokens.

    Attributes:
        example_index: shape `(F,)`, int64, the question row of each window.
        start_positions, end_positions: shape `(F,)`, int64 token labels ([CLS] = no answer).
        offsets: length F; per window and token ``(char_start, char_end)`` in the context, or
            None for question and special tokens.
        cls_index: shape `(F,)`, int64, position of the [CLS] token.

    Raises:
        ValueError: the window cannot hold the longest question plus ``doc_stride`` tokens.
    """

    def __init__(
        self,
        split: QASplit,
        tokenizer: Any,
        max_length: int,
        doc_stride: int,
        max_query_length: int,
    ) -> None:
        self.split = split
        questions = truncate_questions(split.questions, tokenizer, max_query_length)
        pad_right = tokenizer.padding_side == "right"
        encoded = tokenizer(
            questions if pad_right else split.contexts,
            split.contexts if pad_right else questions,
            truncation="only_second" if pad_right else "only_first",
            max_length=max_length,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        context_id = 1 if pad_right else 0
        self.input_ids: list[list[int]] = encoded["input_ids"]
        self.token_type_ids: list[list[int]] | None = encoded.get("token_type_ids")
        self.pad_token_id = int(tokenizer.pad_token_id or 0)
        n_features = len(self.input_ids)
        self.example_index = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
        self.start_positions = np.zeros(n_features, dtype=np.int64)
        self.end_positions = np.zeros(n_features, dtype=np.int64)
        self.cls_index = np.zeros(n_features, dtype=np.int64)
        self.offsets: list[list[tuple[int, int] | None]] = []
        for feature in range(n_features):
            sequence_ids = encoded.sequence_ids(feature)
            offsets = [
                tuple(span) if sequence_ids[t] == context_id else None
                for t, span in enumerate(encoded["offset_mapping"][feature])
            ]
            self.offsets.append(offsets)
            ids = self.input_ids[feature]
            cls = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
            self.cls_index[feature] = cls
            row = int(self.example_index[feature])
            located = [
                (start, text)
                for text, start in zip(
                    split.answer_texts[row], split.answer_starts[row], strict=True
                )
                if start >= 0
            ]
            self.start_positions[feature] = self.end_positions[feature] = cls
            if not located:
                continue
            start_char, text = located[0]
            end_char = start_char + len(text)
            context_tokens = [t for t, span in enumerate(offsets) if span is not None]
            if not context_tokens:
                continue
            first, last = context_tokens[0], context_tokens[-1]
            if offsets[first][0] > start_char or offsets[last][1] < end_char:
                continue  # the answer is not wholly inside this window
            token_start = first
            while token_start <= last and offsets[token_start][0] <= start_char:
                token_start += 1
            token_end = last
            while token_end >= first and offsets[token_end][1] >= end_char:
                token_end -= 1
            self.start_positions[feature] = token_start - 1
            self.end_positions[feature] = token_end + 1

    def __len__(self) -> int:
        """Number of windows F."""
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {
            "index": index,
            "input_ids": self.input_ids[index],
            "start_positions": int(self.start_positions[index]),
            "end_positions": int(self.end_positions[index]),
        }
        if self.token_type_ids is not None:
            item["token_type_ids"] = self.token_type_ids[index]
        return item

    def lengths(self) -> np.ndarray:
        """Tokens per window, shape `(F,)`."""
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self))

    def first_feature(self) -> np.ndarray:
        """Shape `(N,)`, int64: each question's first window (-1 if it has none)."""
        first = np.full(len(self.split), -1, dtype=np.int64)
        for feature in range(len(self) - 1, -1, -1):
            first[self.example_index[feature]] = feature
        return first

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad a list of windows to the longest one (dynamic padding)."""
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
            "start_positions": torch.tensor([i["start_positions"] for i in items]),
            "end_positions": torch.tensor([i["end_positions"] for i in items]),
            "index": torch.tensor([item["index"] for item in items], dtype=torch.long),
        }
        if self.token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        return batch

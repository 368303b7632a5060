"""Tiny models and data built on the spot, for tests and smoke runs (no download, < 1 s).

A 2-layer, hidden-32 BERT with a word-level WordPiece vocabulary of the words it will see, saved
as an ordinary Hugging Face folder so every loading path (`Backbone`, Auto classes) is exercised.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

POSITIVE = ["good", "great", "fine", "lovely", "superb", "charming", "brilliant", "moving"]
NEGATIVE = ["bad", "awful", "dull", "poor", "boring", "tedious", "clumsy", "flat"]
FILLER = ["the", "film", "was", "plot", "acting", "really", "quite", "and", "a", "story"]


def tiny_bert_folder(folder: str | Path, words: Iterable[str] = (), num_layers: int = 2) -> Path:
    """Save a randomly initialised tiny BERT and its tokenizer to `folder`.

    Args:
        folder: destination (created).
        words: extra vocabulary words.
        num_layers: encoder depth (hidden 32, 2 heads, intermediate 64).

    Returns:
        The folder, loadable with `AutoModelForSequenceClassification.from_pretrained`.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","]
    vocab += sorted(set(POSITIVE + NEGATIVE + FILLER + list(words)) - set(vocab))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def sentiment_sentences(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """`n` short synthetic sentences whose label is carried by one sentiment word (1 = positive)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        word = rng.choice(POSITIVE if label else NEGATIVE)
        filler = list(rng.choice(FILLER, size=int(rng.integers(3, 7))))
        filler.insert(int(rng.integers(0, len(filler) + 1)), str(word))
        texts.append(" ".join(filler))
        labels.append(label)
    return texts, labels


def write_sentiment_csvs(
    folder: str | Path, sizes: dict[str, int], seed: int = 0
) -> dict[str, Path]:
    """Write `text,label` CSV files per split (label names `negative` / `positive`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for offset, (split, size) in enumerate(sizes.items()):
        texts, labels = sentiment_sentences(size, seed=seed + offset)
        path = folder / f"{split}.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(
                zip(texts, ["positive" if y else "negative" for y in labels], strict=True)
            )
        paths[split] = path
    return paths


def compose(overrides: list[str]) -> Any:
    """Compose conf/study.yaml with overrides (outside a Hydra app)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("study", overrides=overrides)


def local_overrides(root: Path, model_dir: Path, files: dict[str, Path]) -> list[str]:
    """The tiny BERT in `model_dir` on the csv files of `write_sentiment_csvs`, cache under `root`.

    The part of every tiny study's command line that is not its lineup (`debug=fast`, paths,
    `model=local`, `dataset=local_files` and its columns, no subsampling).
    """
    return [
        "debug=fast",
        f"paths.root_dir={root}",
        f"paths.cache_dir={root}/cache",
        "model=local",
        f"model.name_or_path={model_dir}",
        "dataset=local_files",
        f"dataset.files.train={files['train']}",
        f"dataset.files.validation={files['validation']}",
        f"dataset.files.test={files['test']}",
        "dataset.columns.text_a=text",
        "dataset.columns.label=label",
        "dataset.label_names=[negative,positive]",
        "dataset.subsample={train:null,validation:null,test:null,ood:null}",
    ]


def tiny_overrides(
    root: Path, model_dir: Path, files: dict[str, Path], explain: bool = False
) -> list[str]:
    """Overrides that turn the quick-start into a seconds-long study on a tiny BERT.

    The OOD analysis is dropped (local files have no `ood_*` splits); so are the explainers and
    the attribution analysis unless `explain` (they would dominate a seconds-long test).
    """
    return [
        "experiment=quickstart",
        *local_overrides(root, model_dir, files),
        "study.variants.layers3.compression.drop.num_layers=1",
        # two seeds are enough for the tiny studies (the quick-start's third costs test time)
        "++study.variants.reference_seed44=null",
        "++study.seeds=[reference,reference_seed43]",
        "train.epochs=2",
        "train.learning_rate=1e-3",
    ] + (
        [
            "++analyses.ood=null",
            "++analyses.attack=null",
            "++producers.attack=null",
            "++producers.transfer_reference=null",
        ]
        if explain
        else ["~analyses", "~producers"]
    )

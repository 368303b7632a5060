"""Tiny extractive-QA data made on the spot (SQuAD layouts), for tests and smoke runs.

Passages say where people live ("alice lives in rome ."), padded with filler words so that a
short ``max_length`` cuts them into several windows; a question asks where someone lives, and is
unanswerable when that person is not in the passage. Words come from :data:`QA_WORDS`, so a
tiny BERT built with them (`trusteq.testing.tiny.tiny_bert_folder`) knows every word.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = ["paris", "rome", "oslo", "lima", "cairo", "delhi", "quito", "accra"]
QA_FILLER = ["it", "rained", "there", "today", "people", "say", "that", "many", "birds", "sing"]
QA_WORDS = [*NAMES, *PLACES, *QA_FILLER, "lives", "in", "where", "does", "live", "?", "news"]


def qa_records(n: int, seed: int = 0, prefix: str = "q", unanswerable: float = 0.3) -> list[dict]:
    """``n`` SQuAD-layout records (flat: id, question, context, answers)."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        people = list(rng.choice(NAMES, size=2, replace=False))
        places = list(rng.choice(PLACES, size=2, replace=False))
        parts = []
        for person, place in zip(people, places, strict=True):
            parts.append(" ".join(rng.choice(QA_FILLER, size=int(rng.integers(6, 14)))))
            parts.append(f"{person} lives in {place} .")
        context = " ".join(parts)
        if rng.random() < unanswerable:
            asked = str(rng.choice([name for name in NAMES if name not in people]))
            answers: dict[str, list[Any]] = {"text": [], "answer_start": []}
        else:
            k = int(rng.integers(0, 2))
            asked, place = people[k], places[k]
            marker = f"{asked} lives in "
            answers = {"text": [place], "answer_start": [context.index(marker) + len(marker)]}
        records.append(
            {
                "id": f"{prefix}{i}",
                "question": f"where does {asked} live ?",
                "context": context,
                "answers": answers,
            }
        )
    return records


def write_jsonl(path: str | Path, records: list[dict]) -> Path:
    """One JSON object per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_squad_json(path: str | Path, records: list[dict], title: str = "tiny") -> Path:
    """The official SQuAD v2.0 layout (one paragraph per record, ``is_impossible`` set)."""
    paragraphs = [
        {
            "context": r["context"],
            "qas": [
                {
                    "id": r["id"],
                    "question": r["question"],
                    "answers": [
                        {"text": t, "answer_start": s}
                        for t, s in zip(
                            r["answers"]["text"], r["answers"]["answer_start"], strict=True
                        )
                    ],
                    "is_impossible": not r["answers"]["text"],
                }
            ],
        }
        for r in records
    ]
    document = {"version": "v2.0", "data": [{"title": title, "paragraphs": paragraphs}]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_mrqa_jsonl(path: str | Path, records: list[dict], dataset: str = "TinyNews") -> Path:
    """The MRQA jsonl layout: a header line, then one passage per line (answerable only)."""
    lines = [json.dumps({"header": {"dataset": dataset, "split": "dev"}})]
    for r in records:
        if not r["answers"]["text"]:
            continue
        text, start = r["answers"]["text"][0], r["answers"]["answer_start"][0]
        lines.append(
            json.dumps(
                {
                    "context": r["context"],
                    "qas": [
                        {
                            "qid": r["id"],
                            "question": r["question"],
                            "answers": [text],
                            "detected_answers": [
                                {"text": text, "char_spans": [[start, start + len(text) - 1]]}
                            ],
                        }
                    ],
                }
            )
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_qa_splits(folder: str | Path, sizes: dict[str, int], seed: int = 0) -> dict[str, Path]:
    """Flat jsonl files per split (``ood_*`` splits use other passages' word order)."""
    folder = Path(folder)
    return {
        split: write_jsonl(folder / f"{split}.jsonl", qa_records(size, seed + i, prefix=split))
        for i, (split, size) in enumerate(sizes.items())
    }


def tiny_qa_overrides(root: Path, model_dir: Path, files: dict[str, Path]) -> list[str]:
    """Overrides that run `experiment=disfl_qa_ood` as a seconds-long study on local tiny files."""
    splits = [
        f"{'+' if split.startswith('ood_') else ''}dataset.splits.{split}="
        f"{{path:'{path}',format:null}}"
        for split, path in files.items()
    ]
    ood = ",".join(split for split in files if split.startswith("ood_"))
    return [
        "experiment=disfl_qa_ood",
        f"paths.root_dir={root}",
        f"paths.cache_dir={root}/cache",
        "model=local",
        f"model.name_or_path={model_dir}",
        "dataset=qa_files",
        *splits,
        f"analyses.ood.ood_splits=[{ood}]",
        "dataset.subsample={train:null,validation:null,test:null,ood:null}",
        "train.max_length=48",
        "train.epochs=2",
        "train.batch_size=16",
        "train.learning_rate=1e-3",
        "task.doc_stride=16",
        "task.max_query_length=12",
        "infer.latency.enabled=false",
        "trainer.enable_progress_bar=false",
        "compare.n_resamples=20",
        "analyses.ood.ks=[1,3]",
        "analyses.ood.scorers.knn.k=3",
        "characteristics.knn_agreement.ks=[1,3]",
        "characteristics.mutual_knn.ks=[3]",
    ]

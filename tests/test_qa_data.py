"""QA loaders on local files (SQuAD json, jsonl, parquet, MRQA), the hub code path on local
stand-ins, Disfl-QA parsing and caching, bad-input errors, and the tokenised windows."""

from __future__ import annotations

import doctest
import gzip
import importlib
import io
import json
import tarfile

import numpy as np
import pytest

from trusteq.data import bigbench_fetch
from trusteq.data.base import DataConfigError, DataIntegrityError
from trusteq.data.fetch import sha256_file
from trusteq.qa.sources import DisflQA, QADataset, disfl_qa_split, locate_answer
from trusteq.testing.tiny_qa import qa_records, write_jsonl, write_mrqa_jsonl, write_squad_json

RECORDS = qa_records(12, seed=3)


@pytest.mark.parametrize(
    "module", ["trusteq.qa.metrics", "trusteq.qa.postprocess", "trusteq.qa.sources"]
)
def test_doctests(module):
    assert doctest.testmod(importlib.import_module(module)).failed == 0


def _dataset(tmp_path, test_spec, **kwargs):
    train = write_jsonl(tmp_path / "train.jsonl", qa_records(20, seed=1, prefix="t"))
    return QADataset(
        splits={"train": {"path": str(train)}, "validation": None, "test": test_spec}, **kwargs
    )


def _loaded_test(tmp_path, spec):
    return _dataset(tmp_path, spec, validation_fraction=0.25).load()["test"]


def test_squad_json_jsonl_and_parquet_give_the_same_split(tmp_path):
    import pandas as pd

    squad = write_squad_json(tmp_path / "dev.json", RECORDS)
    flat = write_jsonl(tmp_path / "dev.jsonl", RECORDS)
    parquet = tmp_path / "dev.parquet"
    pd.DataFrame(RECORDS).to_parquet(parquet)
    splits = [_loaded_test(tmp_path, {"path": str(p)}) for p in (squad, flat, parquet)]
    assert splits[0].ids == [r["id"] for r in RECORDS]
    assert splits[0].fingerprint() == splits[1].fingerprint() == splits[2].fingerprint()
    unanswerable = [not r["answers"]["text"] for r in RECORDS]
    assert list(~splits[0].answerable) == unanswerable and any(unanswerable)


def test_mrqa_jsonl_and_gzip_keep_only_located_answers(tmp_path):
    path = write_mrqa_jsonl(tmp_path / "news.jsonl", RECORDS)
    gz = tmp_path / "news.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    for source in (path, gz):
        split = _loaded_test(tmp_path, {"path": str(source)})
        answerable = [r for r in RECORDS if r["answers"]["text"]]
        assert split.ids == [r["id"] for r in answerable] and split.answerable.all()
        assert split.answer_starts[0] == answerable[0]["answers"]["answer_start"]


def test_hub_code_path_reads_a_local_folder_and_the_mrqa_layout_with_a_filter(tmp_path):
    hub = tmp_path / "hub"
    write_jsonl(hub / "train.jsonl", qa_records(20, seed=1))
    write_jsonl(hub / "validation.jsonl", RECORDS)
    mrqa_rows = []
    for subset in ("NewsQA", "SQuAD"):
        for r in RECORDS[:5]:
            text = r["answers"]["text"] or ["x"]
            start = (r["answers"]["answer_start"] or [0])[0]
            mrqa_rows.append(
                {
                    "subset": subset,
                    "qid": f"{subset}-{r['id']}",
                    "question": r["question"],
                    "context": r["context"],
                    "answers": text,
                    "detected_answers": {
                        "text": text,
                        "char_spans": [{"start": [start], "end": [start + len(text[0]) - 1]}],
                    },
                }
            )
    write_jsonl(tmp_path / "mrqa" / "validation.jsonl", mrqa_rows)
    source = QADataset(
        splits={
            "train": {"path": str(hub), "format": "hub", "split": "train"},
            "test": {"path": str(hub), "format": "hub", "split": "validation"},
            "ood_news": {
                "path": str(tmp_path / "mrqa"),
                "format": "hub",
                "split": "validation",
                "layout": "mrqa",
                "filter": {"subset": "NewsQA"},
            },
        },
        validation_fraction=0.2,
    )
    data = source.load()
    assert (
        data["test"].fingerprint()
        == _loaded_test(
            tmp_path, {"path": str(write_jsonl(tmp_path / "same.jsonl", RECORDS))}
        ).fingerprint()
    )
    assert [i.split("-")[0] for i in data["ood_news"].ids] == ["NewsQA"] * 5
    assert data.ood_splits == ["ood_news"]
    assert source.identity()["splits"]["ood_news"]["filter"] == {"subset": "NewsQA"}
    assert "ood_news" not in source.identity(include_ood=False)["splits"]


def test_validation_is_carved_by_passage(tmp_path):
    records = qa_records(30, seed=2)
    records += [{**r, "id": r["id"] + "b", "question": "where does bob live ?"} for r in records]
    train = write_jsonl(tmp_path / "train.jsonl", records)
    data = QADataset(
        splits={"train": {"path": str(train)}, "test": {"path": str(train)}},
        validation_fraction=0.3,
    ).load()
    assert set(data["train"].contexts).isdisjoint(data["validation"].contexts)
    assert len(data["train"]) + len(data["validation"]) == 60


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (
            '{"id": "1", "question": "q", "answers": {"text": [], "answer_start": []}}\n',
            ".jsonl",
            "missing field(s) ['context']",
        ),
        (
            '{"id": "1", "question": "q", "context": "abc", "answers": {"text": ["x"], '
            '"answer_start": [7]}}\n',
            ".jsonl",
            "answer_start 7 of answer 'x' lies outside",
        ),
        (
            '{"id": "1", "question": "q", "context": "abc", "answers": ["abc"]}\n',
            ".jsonl",
            "field 'answers' must be {'text'",
        ),
        ('{"id": "1", "question": "q"\n', ".jsonl", "invalid JSON at line 1"),
        ('{"data": [{"title": "t"}]}', ".json", "missing field 'paragraphs'"),
        ("id,question\n1,q\n", ".csv", "unknown QA file format '.csv'"),
        (
            '{"id": "1", "question": "q", "context": "c", "answers": {"text": [], "answer_start": '
            "[]}}\n" * 2,
            ".jsonl",
            "question id '1' repeats",
        ),
    ],
)
def test_bad_files_fail_naming_file_field_and_fix(tmp_path, content, suffix, message):
    bad = tmp_path / f"bad{suffix}"
    bad.write_text(content)
    with pytest.raises(DataConfigError) as error:
        _loaded_test(tmp_path, {"path": str(bad)})
    assert message in str(error.value) and "bad" in str(error.value)


def test_bad_configs_fail_before_reading(tmp_path):
    with pytest.raises(DataConfigError, match="'splits.test.format' is 'xml'"):
        QADataset(splits={"train": {"path": "a.jsonl"}, "test": {"path": "b", "format": "xml"}})
    with pytest.raises(DataConfigError, match="'splits.test' must give a path"):
        QADataset(splits={"train": {"path": "a.jsonl"}, "test": None})
    with pytest.raises(DataConfigError, match="'splits.test.split' must name the hub split"):
        QADataset(splits={"train": {"path": "a"}, "test": {"path": "b", "format": "hub"}})
    with pytest.raises(DataConfigError, match="file '.*missing.jsonl' .*not found"):
        _loaded_test(tmp_path, {"path": str(tmp_path / "missing.jsonl")})


# ---------------------------------------------------------------------- Disfl-QA (BIG-bench)
def _disfl_task(n_passages: int = 10) -> dict:
    examples = []
    for p in range(n_passages):
        context = f"Passage {p} says the total was 40 , 000 in 19{p}0 . "
        examples.append(
            {"input": f"How many no when was it ?  \ncontext: {context}", "target": f"19{p}0"}
        )
        examples.append(
            {"input": f"What was the total ?  \ncontext: {context}", "target": "40,000"}
        )
        examples.append({"input": f"Who won ?  \ncontext: {context}", "target": "unknown"})
    return {"name": "disfl_qa", "examples": examples}


def test_disfl_qa_answers_are_located_in_tokenised_passages():
    assert locate_answer("was 40 , 000 in", "40,000") == 4
    split = disfl_qa_split(_disfl_task(1), "task.json")
    assert split.answer_texts == [["1900"], ["40 , 000"], []]
    assert split.contexts[1][split.answer_starts[1][0] :].startswith("40 , 000")
    with pytest.raises(DataConfigError, match="examples\\[0\\]"):
        disfl_qa_split({"examples": [{"input": "no separator", "target": "x"}]}, "task.json")


def _fake_sdist(path, tasks):
    with tarfile.open(path, "w:gz") as archive:
        for name, task in tasks.items():
            payload = json.dumps(task).encode()
            info = tarfile.TarInfo(f"{bigbench_fetch.TASKS_PREFIX}{name}/task.json")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


def test_bigbench_cache_extracts_only_tasks_and_checks_checksums(tmp_path, monkeypatch):
    nq = {
        "examples": [{"input": "\nQuestion: who won?\nContext: Bob won the cup .", "target": "Bob"}]
        * 1
    }
    sdist = _fake_sdist(
        tmp_path / "bigbench.tar.gz",
        {"disfl_qa": _disfl_task(), "other": {}, "contextual_parametric_knowledge_conflicts": nq},
    )
    with pytest.raises(DataIntegrityError, match="does not match the pinned"):
        bigbench_fetch.ensure_bigbench_tasks(tmp_path / "cache", ["disfl_qa"], sdist)
    monkeypatch.setattr(bigbench_fetch, "BIGBENCH_SDIST_SHA256", sha256_file(sdist))
    source = DisflQA(
        str(tmp_path / "cache"),
        {"train": 0.6, "validation": 0.2, "test": 0.2},
        ood_tasks={"ood_nq": "contextual_parametric_knowledge_conflicts"},
        sdist_path=str(sdist),
    )
    data = source.load()
    cached = tmp_path / "cache" / bigbench_fetch.CORPUS_DIRNAME
    assert sorted(p.name for p in cached.iterdir()) == [
        "contextual_parametric_knowledge_conflicts",
        "disfl_qa",
    ]
    assert [len(data[s]) for s in ("train", "validation", "test")] == [18, 6, 6]
    assert set(data["train"].contexts).isdisjoint(data["test"].contexts)
    assert data["ood_nq"].answer_texts == [["Bob"]]
    assert "ood_tasks" in source.identity() and "ood_tasks" not in source.identity(False)
    (cached / "disfl_qa" / "task.json").write_text("{}")
    with pytest.raises(DataIntegrityError, match="cache was modified"):
        source.load()


# ---------------------------------------------------------------------- windows
def test_windows_overlap_and_labels_point_at_the_answer(tiny_qa_model_dir):
    from transformers import AutoTokenizer

    from trusteq.qa.features import QAFeatures
    from trusteq.qa.formats import records_to_split

    tokenizer = AutoTokenizer.from_pretrained(tiny_qa_model_dir)
    split = records_to_split(RECORDS, "test", "tiny")
    features = QAFeatures(split, tokenizer, max_length=24, doc_stride=8, max_query_length=5)
    assert len(features) > len(split)  # long passages span several windows
    located = 0
    for f in range(len(features)):
        row, start, end = (
            features.example_index[f],
            features.start_positions[f],
            features.end_positions[f],
        )
        if start == 0:
            continue
        span = split.contexts[row][features.offsets[f][start][0] : features.offsets[f][end][1]]
        assert span == split.answer_texts[row][0]
        located += 1
    assert located >= split.answerable.sum()
    assert np.all(features.first_feature() >= 0)
    assert max(len(ids) for ids in features.input_ids) <= 24


@pytest.fixture(scope="module")
def tiny_qa_model_dir(tmp_path_factory):
    from trusteq.testing.tiny import tiny_bert_folder
    from trusteq.testing.tiny_qa import QA_WORDS

    return tiny_bert_folder(tmp_path_factory.mktemp("tiny-qa-bert"), words=QA_WORDS)

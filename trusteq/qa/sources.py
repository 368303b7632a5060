"""QA dataset sources: hub datasets and local files per split, and the packaged Disfl-QA corpus.

Over 400 lines: the QA dataset sources (hub, local files, MRQA, Disfl-QA) share one base and one set
of field checks; each source is short.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trusteq.data.base import DataConfigError, check_mapping, to_plain
from trusteq.data.local_files import file_sha256
from trusteq.data.splits import OOD_PREFIX, REQUIRED_SPLITS
from trusteq.qa.data import QADatasetSource, QASplit
from trusteq.qa.formats import FORMATS, file_reader, mrqa_records, records_to_split

log = logging.getLogger(__name__)

SPEC_KEYS: tuple[str, ...] = ("path", "format", "name", "split", "revision", "layout", "filter")
LAYOUTS: tuple[str, ...] = ("squad", "mrqa")


class QADataset(QADatasetSource):
    """An extractive QA dataset whose splits each come from the hub or from a local file.

    Each split is a spec ``{path, format, name, split, revision, layout, filter}``:

    - ``format: hub``: ``datasets.load_dataset(path, name, split=split, revision=revision)``;
      ``path`` may also be a local folder with files named after the splits (how tests and
      air-gapped machines use it). ``layout: squad`` reads the columns ``id, question, context,
      answers`` (the hub's ``squad_v2``); ``layout: mrqa`` reads MRQA rows (``qid, question,
      context, answers, detected_answers``; the hub's ``mrqa``), ``filter`` keeps the rows whose
      columns equal the given values (``{subset: NewsQA}``).
    - a file format (``squad_json``, ``jsonl``, ``parquet``, ``mrqa``; null = inferred from the
      suffix): ``path`` is the file (see :mod:`trusteq.qa.formats`).

    Question ids are kept as given (SQuAD's own ids, so error lists compare with the ones Paper A
    released) and must be unique within a split.

    Args:
        dataset_name: trusteq's name for the dataset.
        splits: ``train``, ``validation`` (null = carve ``validation_fraction`` of the training
            passages, see :meth:`QASplit.carve_by_context`), ``test`` and any ``ood_*`` split.
        validation_fraction: fraction of training passages carved as validation, in (0, 1).
        split_seed: seed of that carve.
        cache_dir: ``datasets`` cache folder (runtime only, not in the identity).
        subsample: see :class:`QADatasetSource`.
        subsample_seed: see :class:`QADatasetSource`.

    Raises:
        DataConfigError: a malformed field (checked without opening files or the hub).
    """

    def __init__(
        self,
        splits: Mapping[str, Mapping[str, Any] | None],
        dataset_name: str = "qa",
        validation_fraction: float = 0.1,
        split_seed: int = 0,
        cache_dir: str | None = None,
        subsample: Mapping[str, int | None] | None = None,
        subsample_seed: int = 0,
    ) -> None:
        super().__init__(dataset_name, subsample, subsample_seed)
        self.validation_fraction = float(validation_fraction)
        self.split_seed = int(split_seed)
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        splits = to_plain(splits) or {}
        if not isinstance(splits, Mapping):
            raise DataConfigError(f"{self.describe()}: field 'splits' must be a mapping")
        self.specs: dict[str, dict[str, Any] | None] = {}
        for key, spec in splits.items():
            if key not in REQUIRED_SPLITS and not str(key).startswith(OOD_PREFIX):
                raise DataConfigError(
                    f"{self.describe()}: field 'splits.{key}': split names are "
                    f"{list(REQUIRED_SPLITS)} or start with {OOD_PREFIX!r}"
                )
            self.specs[str(key)] = None if spec is None else self._check_spec(str(key), spec)
        for key in ("train", "test"):
            if self.specs.get(key) is None:
                raise DataConfigError(
                    f"{self.describe()}: field 'splits.{key}' must give a path (hub id, folder or "
                    "file); only 'splits.validation' may be null (= carved from train)"
                )
        self.specs.setdefault("validation", None)

    def _check_spec(self, key: str, spec: Any) -> dict[str, Any]:
        field = f"splits.{key}"
        spec = check_mapping(spec, self.describe(), field, SPEC_KEYS)
        if not isinstance(spec.get("path"), str) or not spec["path"]:
            raise DataConfigError(
                f"{self.describe()}: field '{field}.path' must be a hub id, folder or file, got "
                f"{spec.get('path')!r}"
            )
        file_format = spec.get("format")
        if file_format is not None and file_format not in ("hub", *FORMATS):
            raise DataConfigError(
                f"{self.describe()}: field '{field}.format' is {file_format!r}; expected 'hub', "
                f"one of {list(FORMATS)}, or null (inferred from the file suffix)"
            )
        layout = spec.get("layout") or "squad"
        if layout not in LAYOUTS:
            raise DataConfigError(
                f"{self.describe()}: field '{field}.layout' is {layout!r}; expected one of "
                f"{list(LAYOUTS)}"
            )
        if file_format == "hub" and not spec.get("split"):
            raise DataConfigError(
                f"{self.describe()}: field '{field}.split' must name the hub split (e.g. "
                "'validation') when format is 'hub'"
            )
        return {
            "path": spec["path"],
            "format": file_format,
            "name": spec.get("name"),
            "split": spec.get("split"),
            "revision": spec.get("revision"),
            "layout": layout,
            "filter": dict(spec.get("filter") or {}),
        }

    # ------------------------------------------------------------------ identity
    def _source_identity(self) -> dict[str, Any]:
        splits: dict[str, Any] = {}
        for key, spec in self.specs.items():
            if spec is None:
                splits[key] = None
            elif spec["format"] == "hub":
                splits[key] = {k: v for k, v in spec.items()}
            else:
                path = Path(spec["path"]).expanduser()
                file_reader(path, spec["format"], f"splits.{key}.path")  # exists, known format
                splits[key] = {
                    "file": path.name,
                    "format": spec["format"],
                    "sha256": file_sha256(path),
                }
        return {
            "source": "qa-splits",
            "splits": splits,
            "validation_fraction": self.validation_fraction,
            "split_seed": self.split_seed,
        }

    # ------------------------------------------------------------------ reading
    def _read(self, key: str, spec: dict[str, Any]) -> QASplit:
        field = f"splits.{key}"
        if spec["format"] == "hub":
            return self._read_hub(key, spec)
        path = Path(spec["path"]).expanduser()
        records = file_reader(path, spec["format"], f"{field}.path")()
        return records_to_split(records, key, f"file '{path}' (field '{field}')")

    def _read_hub(self, key: str, spec: dict[str, Any]) -> QASplit:
        import datasets  # lazily: heavy

        where = f"hub dataset {spec['path']!r} split {spec['split']!r} (field 'splits.{key}')"
        try:
            dataset = datasets.load_dataset(
                spec["path"],
                spec["name"],
                split=spec["split"],
                revision=spec["revision"],
                cache_dir=self.cache_dir,
            )
        except Exception as err:  # noqa: BLE001 - any failure here is a config/source problem
            raise DataConfigError(
                f"{where}: datasets.load_dataset failed ({type(err).__name__}: {err}). Check "
                f"'splits.{key}.path', '.name' and '.split'; without hub access point "
                f"'splits.{key}.path' at a local file (squad json, jsonl, parquet, MRQA jsonl) "
                "with format: null, or at a folder with files named after the splits."
            ) from err
        for column, value in spec["filter"].items():
            if column not in dataset.column_names:
                raise DataConfigError(
                    f"{where}: field 'splits.{key}.filter' names column {column!r}, which the "
                    f"dataset lacks; columns are {dataset.column_names}"
                )
            dataset = dataset.filter(lambda row, c=column, v=value: row[c] == v)
        rows = dataset.to_list()
        if spec["layout"] == "mrqa":
            records = []
            for index, row in enumerate(rows):
                records += mrqa_records(row.get("context"), [row], f"{where} row {index}")
        else:
            records = [{**row, "_where": f"{where} row {i}"} for i, row in enumerate(rows)]
        return records_to_split(records, key, where)

    def _load_splits(self) -> dict[str, QASplit]:
        splits = {key: self._read(key, spec) for key, spec in self.specs.items() if spec}
        if self.specs["validation"] is None:
            splits["train"], splits["validation"] = splits["train"].carve_by_context(
                self.validation_fraction, self.split_seed, "validation"
            )
        return splits


# ---------------------------------------------------------------------- Disfl-QA (BIG-bench)
_DISFL_SEPARATOR = "\ncontext: "
_NQ_PATTERN = re.compile(r"\nQuestion: (.*)\nContext: (.*)", re.S)
UNANSWERABLE_TARGET = "unknown"


def locate_answer(context: str, answer: str) -> int:
    """Offset of ``answer`` in ``context``, ignoring whitespace differences; -1 if absent.

    BIG-bench stores the passages tokenised (``"40 , 000"``) but the answers as written
    (``"40,000"``); the match is made on the strings with whitespace removed and mapped back.

    Examples:
        >>> locate_answer("about 40 , 000 people", "40,000")
        6
    """
    exact = context.find(answer)
    if exact >= 0:
        return exact
    compact_positions = [i for i, ch in enumerate(context) if not ch.isspace()]
    compact = "".join(context[i] for i in compact_positions)
    target = "".join(answer.split())
    found = compact.find(target) if target else -1
    return compact_positions[found] if found >= 0 else -1


def span_answer(context: str, answer: str) -> tuple[list[str], list[int]]:
    """Gold ``(texts, starts)`` of a BIG-bench answer: the context's own span when located."""
    start = locate_answer(context, answer)
    if start < 0:
        return [answer], [-1]
    compact_target = "".join(answer.split())
    end, seen = start, 0
    while seen < len(compact_target):
        if not context[end].isspace():
            seen += 1
        end += 1
    return [context[start:end]], [start]


def disfl_qa_split(task: Mapping[str, Any], where: str, name: str = "all") -> QASplit:
    r"""Parse BIG-bench ``disfl_qa/task.json`` into one split (before the passage split).

    Each example is ``{"input": "<question>\ncontext: <passage>", "target": <answer>}``; the
    target ``"unknown"`` marks an unanswerable question (2,107 of 8,000). Answers are mapped to
    the passage's own (tokenised) span; ids are ``disfl_qa:<example index>``.

    Raises:
        DataConfigError: an example without the ``context:`` separator or a string target.
    """
    records = []
    for index, example in enumerate(_examples(task, where)):
        text, target = example.get("input"), example.get("target")
        if not isinstance(text, str) or _DISFL_SEPARATOR not in text or not isinstance(target, str):
            raise DataConfigError(
                f"{where} examples[{index}]: expected {{'input': '<question>\\ncontext: "
                "<passage>', 'target': '<answer>'}; the BIG-bench file changed or is corrupt"
            )
        question, context = text.split(_DISFL_SEPARATOR, 1)
        texts, starts = ([], []) if target == UNANSWERABLE_TARGET else span_answer(context, target)
        records.append(
            {
                "id": f"disfl_qa:{index}",
                "question": question.strip(),
                "context": context,
                "answers": {"text": texts, "answer_start": starts},
            }
        )
    return records_to_split(records, name, where)


def nq_conflicts_split(task: Mapping[str, Any], where: str, name: str) -> QASplit:
    r"""Parse ``contextual_parametric_knowledge_conflicts/task.json`` into one split.

    Natural Questions queries over Wikipedia passages whose answer entity was substituted
    (Longpre et al. 2021, "Entity-Based Knowledge Conflicts in Question Answering", arXiv
    2109.05052); ``{"input": "\nQuestion: <q>\nContext: <passage>", "target": <entity>}``, the
    target always in the passage. Ids are ``nq_conflicts:<example index>``.
    """
    records = []
    for index, example in enumerate(_examples(task, where)):
        match = _NQ_PATTERN.fullmatch(str(example.get("input", "")))
        target = example.get("target")
        if match is None or not isinstance(target, str):
            raise DataConfigError(
                f"{where} examples[{index}]: expected input '\\nQuestion: ...\\nContext: ...' "
                "and a string target; the BIG-bench file changed or is corrupt"
            )
        question, context = match.groups()
        texts, starts = span_answer(context, target)
        records.append(
            {
                "id": f"nq_conflicts:{index}",
                "question": question.strip(),
                "context": context,
                "answers": {"text": texts, "answer_start": starts},
            }
        )
    return records_to_split(records, name, where)


def _examples(task: Mapping[str, Any], where: str) -> list[Mapping[str, Any]]:
    examples = task.get("examples") if isinstance(task, Mapping) else None
    if not isinstance(examples, list):
        raise DataConfigError(f"{where}: no 'examples' list; the BIG-bench file is corrupt")
    return examples


#: BIG-bench task name -> parser of its task.json (the tasks a DisflQA source can read).
TASK_PARSERS = {
    "disfl_qa": disfl_qa_split,
    "contextual_parametric_knowledge_conflicts": nq_conflicts_split,
}


class DisflQA(QADatasetSource):
    """Disfl-QA (Gupta et al. 2021, arXiv 2106.04016) from the ``bigbench==1.0.0`` sdist, offline.

    8,000 SQuAD 2.0 questions rewritten with disfluencies over 1,204 SQuAD 2.0 passages, 2,107 of
    them unanswerable (BIG-bench target ``"unknown"``). The questions are split into train /
    validation / test by passage (``fractions``, ``split_seed``): no passage is shared between
    splits. OOD splits come from other BIG-bench QA tasks (``ood_tasks``, default: Natural
    Questions over substituted-entity passages, see :func:`nq_conflicts_split`).

    Args:
        cache_dir: where the extracted task files are cached (runtime only).
        fractions: ``{train, validation, test}`` passage fractions, summing to 1.
        split_seed: seed of the passage split.
        ood_tasks: ``{ood_<name>: BIG-bench task}``; tasks in :data:`TASK_PARSERS`.
        sdist_path: an already downloaded ``bigbench-1.0.0.tar.gz`` (machines without PyPI).
        dataset_name: trusteq's name for the dataset.
        subsample: see :class:`QADatasetSource`.
        subsample_seed: see :class:`QADatasetSource`.

    Raises:
        DataConfigError: a malformed field.
    """

    def __init__(
        self,
        cache_dir: str,
        fractions: Mapping[str, float] | None = None,
        split_seed: int = 0,
        ood_tasks: Mapping[str, str] | None = None,
        sdist_path: str | None = None,
        dataset_name: str = "disfl_qa",
        subsample: Mapping[str, int | None] | None = None,
        subsample_seed: int = 0,
    ) -> None:
        super().__init__(dataset_name, subsample, subsample_seed)
        self.cache_dir = Path(cache_dir)
        self.sdist_path = None if sdist_path is None else Path(sdist_path)
        fractions = check_mapping(fractions, self.describe(), "fractions", REQUIRED_SPLITS)
        if (
            set(fractions) != set(REQUIRED_SPLITS)
            or abs(sum(fractions.values()) - 1) > 1e-6
            or (min(fractions.values()) <= 0)
        ):
            raise DataConfigError(
                f"{self.describe()}: field 'fractions' must give positive train, validation and "
                f"test fractions summing to 1, got {fractions!r}"
            )
        self.fractions = {key: float(fractions[key]) for key in REQUIRED_SPLITS}
        self.split_seed = int(split_seed)
        self.ood_tasks = {str(k): str(v) for k, v in (to_plain(ood_tasks) or {}).items()}
        for key, task in self.ood_tasks.items():
            if not key.startswith(OOD_PREFIX) or task not in TASK_PARSERS:
                raise DataConfigError(
                    f"{self.describe()}: field 'ood_tasks.{key}': names must start with "
                    f"{OOD_PREFIX!r} and tasks be one of {sorted(TASK_PARSERS)}, got {task!r}"
                )

    def _source_identity(self) -> dict[str, Any]:
        from trusteq.data.bigbench_fetch import BIGBENCH_SDIST_SHA256, BIGBENCH_VERSION

        return {
            "source": f"pypi:bigbench=={BIGBENCH_VERSION}",
            "sdist_sha256": BIGBENCH_SDIST_SHA256,
            "fractions": self.fractions,
            "split_seed": self.split_seed,
            "ood_tasks": dict(self.ood_tasks),
        }

    def _load_splits(self) -> dict[str, QASplit]:
        from trusteq.data.bigbench_fetch import ensure_bigbench_tasks

        tasks = ["disfl_qa", *self.ood_tasks.values()]
        folders = ensure_bigbench_tasks(self.cache_dir, tasks, self.sdist_path)

        def read(task: str, name: str) -> QASplit:
            path = folders[task] / "task.json"
            return TASK_PARSERS[task](json.loads(path.read_text("utf-8")), f"'{path}'", name)

        everything = read("disfl_qa", "all")
        passages = sorted(set(everything.contexts))
        order = np.random.default_rng(self.split_seed).permutation(len(passages))
        n_train = round(self.fractions["train"] * len(passages))
        n_validation = round(self.fractions["validation"] * len(passages))
        part = {}
        for rank, position in enumerate(order):
            part[passages[position]] = (
                "train"
                if rank < n_train
                else "validation"
                if rank < n_train + n_validation
                else "test"
            )
        assignment = np.array([part[context] for context in everything.contexts])
        splits = {
            key: everything.select(np.flatnonzero(assignment == key), name=key)
            for key in REQUIRED_SPLITS
        }
        for key, task in self.ood_tasks.items():
            splits[key] = read(task, key)
        return splits

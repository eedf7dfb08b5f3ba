"""Datasets from files: JSONL (also .jsonl.gz), JSON, CSV, Parquet, a saved
Hugging Face dataset directory, or ``hf:NAME`` from the hub.

Rows become items. The format is recognised from the columns: HumanEval
(``prompt, test, entry_point``) gets the code scorer, GSM8K (an ``answer``
with ``####``) the numeric scorer with the number after ``####`` as target.

Every row needs an input and, when the dataset has a target column, a
target; an ``id`` column's values must be unique. A list target means "any of
these": ``Item.target`` is the first and ``meta["targets"]`` the whole list.
Without an id column an item's id is a hash of its fields, numbered
(``HASH-2``) for repeated identical rows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

from assay.errors import ConfigError, DataError
from assay.records import Item, stable_hash
from assay.tables import read_records
from assay.tasks.task import Task

INPUT_FIELDS = ("input", "question", "prompt", "problem", "instruction", "text")
TARGET_FIELDS = ("target", "answer", "label", "output", "solution")
ID_FIELDS = ("id", "task_id", "idx", "item")

GSM8K_CHAT = ("Solve this math problem. Finish with 'The answer is N'.\n\n{{ input }}")
CODE_CHAT = ("Complete this Python function. Reply with the whole function in one "
             "```python code block.\n\n```python\n{{ prompt }}```")
CODE_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")


def read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (location, row) with location like ``file.jsonl line 12`` for errors."""
    records, locations = read_records(path, what="dataset")
    for location, row in zip(locations, records):
        yield f"{path} {location}", row


def _hf_rows(source: str, params: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError(f"{source}: reading Hugging Face datasets needs the 'datasets' package "
                          "(pip install datasets)") from exc
    if source.startswith("hf:"):
        dataset = datasets.load_dataset(source[3:], params.get("config"), split=params.get("split", "test"))
    else:
        dataset = datasets.load_from_disk(source)
        if isinstance(dataset, datasets.DatasetDict):
            split = params.get("split", "test")
            if split not in dataset:
                raise DataError(f"{source}: no split '{split}'; splits: {', '.join(dataset)}")
            dataset = dataset[split]
    for index, row in enumerate(dataset):
        yield f"{source} row {index + 1}", dict(row)


def _pick(columns: list[str], given: str | None, defaults: tuple[str, ...], what: str,
          source: str, required: bool) -> str | None:
    if given:
        if given not in columns:
            raise DataError(f"{source}: no column '{given}' for the {what}; columns found: {', '.join(columns)}")
        return given
    for name in defaults:
        if name in columns:
            return name
    if required:
        raise DataError(f"{source}: cannot tell which column is the {what}; pass --{what}-field; "
                        f"columns found: {', '.join(columns)}")
    return None


def _is_empty(value: Any) -> bool:
    return (value is None or (isinstance(value, str) and not value.strip())
            or (isinstance(value, float) and math.isnan(value)))


def _answers(value: Any, location: str, column: str) -> list[str]:
    """The acceptable answers in a target cell as text: one, or each of a list's."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise DataError(f"{location}: no target: column '{column}' is an empty list")
    answers = []
    for one in values:
        if _is_empty(one):
            raise DataError(f"{location}: no target: column '{column}' is missing or empty")
        if isinstance(one, (dict, list)):
            raise DataError(f"{location}: target in column '{column}' must be text, a number or a list "
                            f"of these, not {one!r}")
        # 42.0 is how pandas writes an integer column with gaps; "42.0" would never match "42".
        if isinstance(one, float) and one.is_integer():
            one = int(one)
        answers.append(str(one))
    return answers


def file_task(source: str, *, input_field: str | None = None, target_field: str | None = None,
              params: dict[str, str] | None = None) -> Task:
    """Load a dataset file (or HF dataset) as a task, its prompts and scorer
    chosen by the format it recognises (``get_task`` applies the user's overrides)."""
    params = dict(params or {})
    path = Path(source)
    if source.startswith("hf:") or path.is_dir():
        rows = _hf_rows(source, params)
    elif path.is_file():
        rows = read_rows(path)
    else:
        raise DataError(f"dataset not found: {source}")

    rows = list(rows)
    if not rows:
        raise DataError(f"{source}: no rows")
    # Any row may be the first to have a column, so choose from all of them.
    columns = list(dict.fromkeys(key for _, row in rows for key in row))
    is_code = {"prompt", "test", "entry_point"} <= set(columns)
    input_col = _pick(columns, input_field, ("prompt",) if is_code else INPUT_FIELDS, "input", source, True)
    target_col = None if is_code else _pick(columns, target_field, TARGET_FIELDS, "target", source, False)
    id_col = next((c for c in ID_FIELDS if c in columns and c not in (input_col, target_col)), None)

    items: list[Item] = []
    first_seen: dict[str, str] = {}  # item id -> location of the row that has it
    is_gsm8k = False
    for location, row in rows:
        if _is_empty(row.get(input_col)):
            raise DataError(f"{location}: no input: column '{input_col}' is missing or empty")
        fields = {k: v for k, v in row.items() if k != target_col}
        fields["input"] = row[input_col]
        meta: dict[str, Any] = {"source": location, "index": len(items)}
        target = None
        if target_col is not None:
            answers = _answers(row.get(target_col), location, target_col)
            target = answers[0]
            if isinstance(row[target_col], list):
                meta["targets"] = answers  # any of them is right; the scorers take the best match
            elif "####" in target:
                is_gsm8k = True
                meta["solution"] = target
                target = target.split("####")[-1].strip()
                if not target:
                    raise DataError(f"{location}: no target: nothing after '####' in column '{target_col}'")
        for key in ("cluster", "difficulty"):
            if key in row and row[key] is not None:
                meta[key] = row[key]
        if id_col:
            if _is_empty(row.get(id_col)):
                raise DataError(f"{location}: no id: column '{id_col}' is missing or empty")
            item_id = str(row[id_col])
            if item_id in first_seen:
                raise DataError(f"{location}: duplicate id {item_id!r}, first at {first_seen[item_id]}")
        else:
            base = stable_hash({k: v for k, v in fields.items() if k != "input" or input_col == "input"})
            # Identical rows share a hash: number the repeats, skipping any id already taken.
            item_id, n = base, 1
            while item_id in first_seen:
                n += 1
                item_id = f"{base}-{n}"
        first_seen[item_id] = location
        items.append(Item(id=item_id, input=fields, target=target, meta=meta))

    task = Task(name=Path(source).name.split(".")[0] if not source.startswith("hf:") else source[3:],
                items=items, config={"task": source if source.startswith("hf:") else str(Path(source).resolve()),
                                     "input_field": input_col, "target_field": target_col,
                                     "params": params})
    if is_code:
        task.chat_template, task.completion_template = CODE_CHAT, "{{ prompt }}"
        task.scorers, task.fewshot, task.stop = ["code"], 0, CODE_STOP
    elif is_gsm8k:
        task.chat_template, task.scorers = GSM8K_CHAT, ["numeric"]
        task.stop = ("\n\n", "Question:")
    elif target_col is None:
        # Prompts without answers (open-ended questions): the outputs are
        # stored for judging; scoring them against nothing would report 0.
        task.scorers = []
    return task

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

CHOICE_METRICS = ("acc", "acc_norm", "acc_bytes", "p_correct", "logprob_correct", "brier")
DOCUMENT_METRICS = ("logprob", "tokens", "bytes", "words")

INPUT_FIELDS = ("input", "question", "prompt", "problem", "instruction", "text")
TARGET_FIELDS = ("target", "answer", "label", "output", "solution")
ID_FIELDS = ("id", "task_id", "idx", "item")

GSM8K_CHAT = "Solve this math problem. Finish with 'The answer is N'.\n\n{{ input }}"
CODE_CHAT = (
    "Complete this Python function. Reply with the whole function in one "
    "```python code block.\n\n```python\n{{ prompt }}```"
)
CODE_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")


def read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (location, row) with location like ``file.jsonl line 12`` for errors."""
    records, locations = read_records(path, what="dataset")
    for location, row in zip(locations, records):
        yield f"{path} {location}", row


class HubUnreachableError(DataError):
    """The hub could not give the dataset; a caller with a better hint (a standard task's local copy) may say so."""


def _from_hub(datasets: Any, source: str, params: dict[str, str]) -> Any:
    """A hub dataset's split; a hub that cannot be reached (or a name it does not
    have) is one line saying so and how to use a local copy instead."""
    name, config, split = source[3:], params.get("config"), params.get("split", "test")
    try:
        return datasets.load_dataset(name, config, split=split)
    except (ValueError, KeyError) as exc:
        if "split" in str(exc).lower():
            raise DataError(f"{source}: {_one_line(exc)} (choose one with --param split=NAME)") from None
        raise DataError(f"{source}: {_one_line(exc)}") from None
    except Exception as exc:  # no network, hub down, unknown name: the datasets package's many kinds
        offline = _one_line(exc)
        raise HubUnreachableError(
            f"{source}: the Hugging Face hub is unreachable or has no such dataset ({type(exc).__name__}: "
            f"{offline}). Where there is a network, save a copy with datasets.load_dataset({name!r}"
            f"{', ' + repr(config) if config else ''}, split={split!r}).to_json('{name.split('/')[-1]}.jsonl') "
            f"(or .save_to_disk(DIR)), then give that file or directory as the task: assay run "
            f"{name.split('/')[-1]}.jsonl ..."
        ) from None


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Can a connection to the hub be opened? Asked before the datasets package
    is imported: when it cannot, offline mode makes that package use its cache
    at once instead of retrying for half a minute."""
    import os
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection(
            (url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=timeout
        ).close()
        return True
    except OSError:
        return False


def _hf_rows(source: str, params: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    import os
    import sys

    if (
        source.startswith("hf:")
        and "datasets" not in sys.modules
        and not os.environ.get("HF_HUB_OFFLINE")
        and not _hub_reachable()
    ):
        os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError(
            f"{source}: reading Hugging Face datasets needs the 'datasets' package (pip install datasets)"
        ) from exc
    if source.startswith("hf:"):
        dataset = _from_hub(datasets, source, params)
    else:
        dataset = datasets.load_from_disk(source)
        if isinstance(dataset, datasets.DatasetDict):
            split = params.get("split", "test")
            if split not in dataset:
                raise DataError(f"{source}: no split '{split}'; splits: {', '.join(dataset)}")
            dataset = dataset[split]
    for index, row in enumerate(dataset):
        yield f"{source} row {index + 1}", dict(row)


def _pick(
    columns: list[str], given: str | None, defaults: tuple[str, ...], what: str, source: str, required: bool
) -> str | None:
    if given:
        if given not in columns:
            raise DataError(f"{source}: no column '{given}' for the {what}; columns found: {', '.join(columns)}")
        return given
    for name in defaults:
        if name in columns:
            return name
    if required:
        raise DataError(
            f"{source}: cannot tell which column is the {what}; pass --{what}-field; "
            f"columns found: {', '.join(columns)}"
        )
    return None


def _is_empty(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _check_text(value: Any, location: str, column: str, what: str) -> None:
    """An input or document must be text: a number, list or object would reach the
    model as Python's rendering of it ({'a': 1}), which no one meant to ask."""
    if isinstance(value, str):
        return
    kind = {bool: "a boolean", int: "a number", float: "a number", dict: "an object", list: "a list"}.get(
        type(value), f"a {type(value).__name__}"
    )
    shown = " ".join(repr(value).split())
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    hint = (
        "name a text column with --input-field (a structured column's parts can still go into the "
        "prompt through --template, e.g. {{ COLUMN.key }})"
        if isinstance(value, (dict, list))
        else "write it as text in the data (in quotes)"
    )
    raise DataError(f"{location}: the {what} in column '{column}' must be text, not {kind} ({shown}); {hint}")


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
            raise DataError(
                f"{location}: target in column '{column}' must be text, a number or a list of these, not {one!r}"
            )
        if isinstance(one, bool):
            # str(True) is "True": a model answering "true", "yes" or "1" would be scored wrong.
            raise DataError(
                f"{location}: target in column '{column}' is the boolean {str(one).lower()}; write the answer "
                f'as the text a right reply gives (e.g. "yes"/"no" or "true"/"false")'
            )
        # 42.0 is how pandas writes an integer column with gaps; "42.0" would never match "42".
        if isinstance(one, float) and one.is_integer():
            one = int(one)
        answers.append(str(one))
    return answers


def check_file_params(source: str, params: dict[str, str]) -> None:
    """The --param keys a dataset source reads: config and split for hf:NAME,
    split for a saved dataset directory, none for a file. Any other would be
    silently ignored, so it is refused."""
    if source.startswith("hf:"):
        valid, kind = ("config", "split"), "a hub dataset"
    elif Path(source).is_dir():
        valid, kind = ("split",), "a saved dataset directory"
    else:
        valid, kind = (), "a dataset file"
    unknown = sorted(set(params) - set(valid))
    if unknown:
        takes = f"it takes {', '.join(f'--param {v}=...' for v in valid)}" if valid else "it takes no --param"
        raise ConfigError(
            f"unknown --param {', '.join(unknown)} for {source}: {kind}; {takes}. Prompts, fields and "
            "scoring are options of their own (--template, --input-field, --scorer; see assay run --help)"
        )


def load_rows(source: str, params: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(location, row) of every row of a dataset file, directory or hf:NAME; a
    ``.txt`` file is one document per non-empty line, in a ``text`` field."""
    path = Path(source)
    if source.startswith("hf:") or path.is_dir():
        rows = list(_hf_rows(source, params))
    elif path.is_file() and path.suffix.lower() == ".txt":
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
        rows = [(f"{path} line {n}", {"text": line}) for n, line in enumerate(lines, 1) if line.strip()]
    elif path.is_file():
        rows = list(read_rows(path))
    else:
        raise DataError(f"dataset not found: {source}")
    if not rows:
        raise DataError(f"{source}: no rows")
    return rows


def _item_id(
    row: dict[str, Any], fields: dict[str, Any], id_col: str | None, location: str, first_seen: dict[str, str]
) -> str:
    if id_col:
        if _is_empty(row.get(id_col)):
            raise DataError(f"{location}: no id: column '{id_col}' is missing or empty")
        item_id = str(row[id_col])
        if item_id in first_seen:
            raise DataError(f"{location}: duplicate id {item_id!r}, first at {first_seen[item_id]}")
        return item_id
    base = stable_hash(fields)
    # Identical rows share a hash: number the repeats, skipping any id already taken.
    item_id, n = base, 1
    while item_id in first_seen:
        n += 1
        item_id = f"{base}-{n}"
    return item_id


def _task_name(source: str) -> str:
    return Path(source).name.split(".")[0] if not source.startswith("hf:") else source[3:]


def _task_config(source: str, params: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"task": source if source.startswith("hf:") else str(Path(source).resolve()), "params": params, **more}


def choice_task(
    source: str,
    rows: list[tuple[str, dict[str, Any]]],
    fmt: Any,
    *,
    params: dict[str, str] | None = None,
    name: str | None = None,
) -> Task:
    """Multiple-choice rows (see tasks.choices) as a task scored by log-likelihood."""
    params = dict(params or {})
    columns = set(key for _, row in rows for key in row)
    id_col = next((c for c in ("id", "ind", "task_id", "idx", "doc_id") if c in columns), None)
    items: list[Item] = []
    first_seen: dict[str, str] = {}
    for location, row in rows:
        doc = fmt.to_doc(row, location)
        fields = dict(doc.fields)
        fields.setdefault("input", doc.fields.get("question", ""))
        meta: dict[str, Any] = {"source": location, "index": len(items), "choices": doc.choices, "gold": doc.gold}
        if doc.partial_contexts is not None:
            meta.update(partial_contexts=doc.partial_contexts, partial_target=doc.partial_target)
        for key in ("cluster", "difficulty"):
            if row.get(key) is not None:
                meta[key] = row[key]
        if "cluster" not in meta and row.get("subject") is not None:
            meta["cluster"] = row["subject"]  # MMLU's questions cluster by subject
        item_id = _item_id(row, row, id_col, location, first_seen)
        first_seen[item_id] = location
        target = None if doc.gold is None else str(doc.choices[doc.gold])
        items.append(Item(id=item_id, input=fields, target=target, meta=meta))
    task = Task(
        name=name or _task_name(source),
        items=items,
        config=_task_config(source, params, format=fmt.name),
        mode="choices",
        choice_format=fmt,
        scorers=list(CHOICE_METRICS),
        fewshot=0,
    )
    task.chat_template = "{{ input }}"
    return task


def document_task(
    source: str,
    rows: list[tuple[str, dict[str, Any]]],
    *,
    text_field: str | None = None,
    params: dict[str, str] | None = None,
    name: str | None = None,
) -> Task:
    """Documents scored token by token (perplexity, bits per byte)."""
    params = dict(params or {})
    columns = list(dict.fromkeys(key for _, row in rows for key in row))
    field = _pick(columns, text_field, ("text", "document", "content", *INPUT_FIELDS), "input", source, True)
    id_col = next((c for c in ID_FIELDS if c in columns and c != field), None)
    items: list[Item] = []
    first_seen: dict[str, str] = {}
    for location, row in rows:
        text = row.get(field)
        if not _is_empty(text):
            _check_text(text, location, field, "document")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{location}: empty document: column '{field}' has no text")
        item_id = _item_id(row, {field: text}, id_col, location, first_seen)
        first_seen[item_id] = location
        items.append(
            Item(id=item_id, input={field: text, "input": text}, meta={"source": location, "index": len(items)})
        )
    return Task(
        name=name or _task_name(source),
        items=items,
        config=_task_config(source, params, text_field=field),
        mode="perplexity",
        scorers=list(DOCUMENT_METRICS),
        fewshot=0,
        document_field=field,
    )


def file_task(
    source: str,
    *,
    input_field: str | None = None,
    target_field: str | None = None,
    params: dict[str, str] | None = None,
    mode: str | None = None,
    choices_field: str | None = None,
) -> Task:
    """Load a dataset file (or HF dataset) as a task, its prompts and scorer
    chosen by the format it recognises (``get_task`` applies the user's overrides).

    ``mode`` None chooses: choices when the rows have a multiple-choice shape
    (or ``choices_field`` names their choices), generation otherwise."""
    from assay.tasks.choices import custom_format, detect_format

    params = dict(params or {})
    rows = load_rows(source, params)
    # Any row may be the first to have a column, so choose from all of them.
    columns = list(dict.fromkeys(key for _, row in rows for key in row))
    if mode == "perplexity":
        return document_task(source, rows, text_field=input_field, params=params)
    fmt = custom_format(choices_field, target_field) if choices_field else detect_format(set(columns))
    if mode == "choices" and fmt is None:
        raise DataError(
            f"{source}: --mode choices needs items with choices; none of the known shapes "
            f"(MMLU, ARC, HellaSwag, PIQA, WinoGrande, BoolQ, SciQ, TruthfulQA MC1, a 'choices' "
            f"list) matches the columns {', '.join(columns)}; name them with --choices-field"
        )
    if fmt is not None and mode != "generate":
        return choice_task(source, rows, fmt, params=params)
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
        _check_text(row[input_col], location, input_col, "input")
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
        item_id = _item_id(
            row, {k: v for k, v in fields.items() if k != "input" or input_col == "input"}, id_col, location, first_seen
        )
        first_seen[item_id] = location
        items.append(Item(id=item_id, input=fields, target=target, meta=meta))

    task = Task(
        name=_task_name(source),
        items=items,
        config=_task_config(source, params, input_field=input_col, target_field=target_col),
    )
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

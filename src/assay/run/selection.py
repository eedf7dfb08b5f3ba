"""Run only chosen items (``assay run --items-from FILE``).

The file is what ``assay irt select --json`` prints (an object with an
``items`` list of ids), a JSON list of ids, or plain text with one id a line
(blank lines and lines starting with ``#`` are skipped). The ids are the run's
item ids, the ones ``assay export`` and score files show.
"""

from __future__ import annotations

import json
from pathlib import Path

from assay.errors import DataError
from assay.records import Item


def read_item_ids(path: str | Path) -> list[str]:
    """The item ids listed in ``path``, in file order, each once."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"--items-from {path}: no such file; give the JSON of `assay irt select --json` "
            "or a text file with one item id a line"
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
        ids = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if ids and ids[0][:1] in "[{":
            raise DataError(
                f"--items-from {path}: not valid JSON (it starts like JSON); give an object with an "
                '"items" list, a JSON list of ids, or one id a line'
            ) from None
    if data is not None:
        if isinstance(data, dict):
            if not isinstance(data.get("items"), list):
                raise DataError(
                    f'--items-from {path}: a JSON object needs an "items" list of item ids '
                    f"(as `assay irt select --json` writes); keys found: {', '.join(data) or 'none'}"
                )
            data = data["items"]
        if not isinstance(data, list):
            data = [data]
        bad = next((value for value in data if not isinstance(value, (str, int)) or isinstance(value, bool)), None)
        if bad is not None:
            raise DataError(f"--items-from {path}: {bad!r} is not an item id; give ids as strings")
        ids = [str(value) for value in data]
    if not ids:
        raise DataError(f"--items-from {path}: lists no item ids")
    return list(dict.fromkeys(ids))


def select_items(items: list[Item], ids: list[str], *, source: str, task_name: str) -> list[Item]:
    """The task's items whose ids are listed, in the task's order; an unknown id is an error naming it."""
    known = {item.id for item in items}
    unknown = [i for i in ids if i not in known]
    if unknown:
        shown = ", ".join(repr(i) for i in unknown[:5])
        shown += f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise DataError(
            f"--items-from {source}: item id {shown} {'is' if len(unknown) == 1 else 'are'} not in "
            f"{task_name} ({len(unknown)} of {len(ids)} unknown; the task has {len(items)} items, "
            f"e.g. {next(iter(known), 'none')!r}); list ids of this task's items"
        )
    wanted = set(ids)
    return [item for item in items if item.id in wanted]

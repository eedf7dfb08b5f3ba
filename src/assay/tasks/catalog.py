"""The standard likelihood benchmarks by name, with lm-evaluation-harness's
prompt formats: ``assay run mmlu --data PATH``.

No benchmark data ships with assay (their licences and sizes vary); each
name knows its Hugging Face dataset and reads, in order: ``--data PATH`` (a
file or a saved ``datasets`` directory), the directory
``$ASSAY_DATA_DIR/NAME`` (default ``~/.cache/assay/data/NAME``), then the hub.
``--data sample`` runs the handful of items of each benchmark's shape that
ship with assay (written for tests and the demo, not the benchmark's own).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from assay.errors import DataError


@dataclass(frozen=True)
class CatalogTask:
    name: str
    format: str  # a tasks.choices format name
    hf: str  # Hugging Face dataset name
    hf_config: str | None
    split: str
    mode: str = "choices"
    description: str = ""


CATALOG = {
    t.name: t
    for t in [
        CatalogTask("mmlu", "mmlu", "cais/mmlu", "all", "test", description="57 subjects, 4 choices, lettered"),
        CatalogTask("arc_easy", "arc", "allenai/ai2_arc", "ARC-Easy", "test", description="grade-school science"),
        CatalogTask(
            "arc_challenge",
            "arc",
            "allenai/ai2_arc",
            "ARC-Challenge",
            "test",
            description="grade-school science, the hard set",
        ),
        CatalogTask(
            "hellaswag", "hellaswag", "Rowan/hellaswag", None, "validation", description="commonsense sentence endings"
        ),
        CatalogTask("piqa", "piqa", "ybisk/piqa", None, "validation", description="physical commonsense, 2 choices"),
        CatalogTask(
            "winogrande",
            "winogrande",
            "allenai/winogrande",
            "winogrande_xl",
            "validation",
            description="pronoun resolution, partial scoring",
        ),
        CatalogTask("boolq", "boolq", "google/boolq", None, "validation", description="yes/no reading comprehension"),
        CatalogTask(
            "lambada",
            "lambada",
            "EleutherAI/lambada_openai",
            "default",
            "test",
            description="last word of a passage (acc: greedy)",
        ),
        CatalogTask(
            "truthfulqa_mc1",
            "truthfulqa_mc1",
            "truthfulqa/truthful_qa",
            "multiple_choice",
            "validation",
            description="one true answer among false ones",
        ),
        CatalogTask("sciq", "sciq", "allenai/sciq", None, "test", description="science questions with support"),
    ]
}

SAMPLES = Path(__file__).parent / "data"


def data_dir() -> Path:
    return Path(os.environ.get("ASSAY_DATA_DIR", str(Path.home() / ".cache" / "assay" / "data")))


def resolve_source(entry: CatalogTask, data: str | None) -> str:
    """Where a catalog task's items come from (see the module's docstring)."""
    if data == "sample":
        return str(SAMPLES / f"{entry.name}.jsonl")
    if data is not None:
        if not Path(data).exists():
            raise DataError(
                f"--data {data}: no such file or directory (give a copy of {entry.hf} as a "
                "JSONL/Parquet/CSV file or a saved datasets directory, or 'sample')"
            )
        return data
    local = data_dir() / entry.name
    if local.exists():
        return str(local)
    for suffix in (".jsonl", ".parquet", ".json", ".csv"):
        if local.with_suffix(suffix).is_file():
            return str(local.with_suffix(suffix))
    return f"hf:{entry.hf}"


def load_catalog_task(name: str, data: str | None, params: dict[str, str]):
    from assay.tasks.choices import BY_NAME
    from assay.tasks.loaders import choice_task, load_rows

    entry = CATALOG[name]
    source = resolve_source(entry, data)
    params = dict(params)
    if source.startswith("hf:"):
        params.setdefault("split", entry.split)
        if entry.hf_config:
            params.setdefault("config", entry.hf_config)
        from assay.tasks.loaders import HubUnreachableError

        try:
            rows = load_rows(source, params)
        except Exception as exc:  # the hub is unreachable, or the datasets package is missing
            if isinstance(exc, DataError) and not isinstance(exc, HubUnreachableError):
                raise
            raise DataError(
                f"{name}: no local copy and the hub is unreachable ({type(exc).__name__}). Put the "
                f"{entry.split} split of {entry.hf}{f' ({entry.hf_config})' if entry.hf_config else ''} at "
                f"{data_dir() / entry.name} (a saved datasets directory) or {data_dir() / entry.name}.jsonl, "
                f"or pass --data PATH; --data sample runs the few items that ship with assay"
            ) from None
    else:
        rows = load_rows(source, params)
    return choice_task(source, rows, BY_NAME[entry.format], params=params, name=name)

"""Other tools' per-item logs in, runs out: ``assay import PATH... -o RUN_DIR``.

Each path is a file or directory of one of the formats below; its format is
detected, its records read by the format's module and written into the run
directory's store, where every analysis command reads them as it reads
assay's own runs.

- ``inspect``: Inspect AI logs (``.eval`` archives and ``.json``)
- ``lm-eval``: lm-evaluation-harness ``samples_<task>_<date>.jsonl`` (with its ``results_<date>.json``)
- ``helm``: a HELM run directory (``run_spec.json``, ``per_instance_stats.json``)
- ``alpacaeval``: AlpacaEval ``annotations.json``
- ``every-eval-ever``: an Every Eval Ever aggregate ``.json`` with its instance-level ``.jsonl``

>>> from assay.importers import import_paths
>>> result = import_paths(["logs/2026-12-02_arith.eval"], "runs/arith-inspect")
>>> result.files[0].checks[0].matches
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from assay.errors import DataError
from assay.importers.common import ImportedLog
from assay.importers.write import AggregateCheck, ImportedFile, ImportResult, write_logs

__all__ = ["FORMATS", "detect", "read_path", "import_paths", "ImportResult", "ImportedFile", "AggregateCheck"]


def _modules() -> dict[str, object]:
    from assay.importers import alpacaeval, every_eval_ever, helm, inspect, lm_eval

    return {
        "inspect": inspect,
        "lm-eval": lm_eval,
        "helm": helm,
        "alpacaeval": alpacaeval,
        "every-eval-ever": every_eval_ever,
    }


FORMATS = ("inspect", "lm-eval", "helm", "alpacaeval", "every-eval-ever")


def detect(path: str | Path) -> str:
    """The format of ``path``; DataError saying which formats were tried and why each did not fit."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    reasons = []
    for name, module in _modules().items():
        why = module.sniff(path)
        if why is None:
            return name
        reasons.append(f"{name}: {why}")
    raise DataError(f"{path}: not a format assay imports; tried " + "; ".join(reasons))


def read_path(path: str | Path, fmt: str | None = None) -> list[ImportedLog]:
    """The logs in one file or run directory (an lm-eval results file may name several)."""
    path = Path(path)
    fmt = fmt or detect(path)
    reader: Callable = _modules()[fmt].read  # type: ignore[attr-defined]
    logs = reader(path)
    return logs if isinstance(logs, list) else [logs]


def _walk(directory: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    helm = _modules()["helm"]
    for child in sorted(directory.iterdir()):
        if child.is_dir():
            is_run = helm.sniff(child) is None  # type: ignore[attr-defined]
            found.extend([(child, "helm")] if is_run else _walk(child))
            continue
        try:
            fmt = detect(child)
        except DataError:
            continue  # not a log: a directory of logs may hold other files
        if fmt == "lm-eval" and child.name.startswith("results_"):
            continue  # its samples files stand for it
        found.append((child, fmt))
    return found


def expand(paths: list[str | Path]) -> list[tuple[Path, str]]:
    """(path, format) for every path; a directory that is no HELM run stands for the logs inside it."""
    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and _modules()["helm"].sniff(path) is not None:  # type: ignore[attr-defined]
            inside = _walk(path)
            if not inside:
                raise DataError(
                    f"{path}: a directory with no log assay imports (Inspect .eval/.json, lm-eval "
                    "samples_*.jsonl, HELM run directories, AlpacaEval annotations.json, "
                    "Every Eval Ever aggregate .json)"
                )
            found.extend(inside)
        else:
            found.append((path, detect(path)))
    return found


def import_paths(
    paths: list[str | Path],
    out: str | Path,
    *,
    metric: str | None = None,
    key_field: str | None = None,
    progress: bool = False,
) -> ImportResult:
    """Import the logs at ``paths`` into run directory ``out``.

    ``metric`` becomes the run's score (default: the tool's primary metric);
    ``key_field`` names the field whose value pairs items across tools (default:
    the item's key in its source). Every file is read and checked before
    anything is written, so a bad file leaves the run as it was.
    """
    if not paths:
        raise DataError("give at least one file or directory to import")
    logs: list[ImportedLog] = []
    for path, fmt in expand(paths):
        if progress:
            import sys

            print(f"reading {path} ({fmt})", file=sys.stderr, flush=True)
        logs.extend(read_path(path, fmt))
    return write_logs(logs, out, metric=metric, key_field=key_field)

"""AlpacaEval ``annotations.json``: a judge's pairwise preferences against a baseline.

Each record has ``instruction``, ``output_1`` by ``generator_1`` (the
baseline), ``output_2`` by ``generator_2`` (the model), the ``annotator`` and
its ``preference``: 1 when the baseline's output is preferred, 2 when the
model's is, values between for a weighted preference, and 1.5 (or 0, in older
files) for a draw. A preference that is missing (the judge's reply could not
be parsed) is kept as an invalid verdict and scores nothing.

The import stores both outputs as samples, the model's with the score
``preference`` (``preference - 1``, the probability that it beats the
baseline, whose mean is AlpacaEval's win rate over 100), and each preference
as a pairwise verdict (``1``, ``2`` or ``tie``, numbered as in the file) so
``assay export --what verdicts`` and ``assay audit`` read them; it also writes
``annotations.csv`` in the run directory in the shape ``assay winrate`` reads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from assay.errors import DataError
from assay.importers.common import (
    ImportedLog,
    ImportedSample,
    ImportedVerdict,
    as_text,
    finite_number,
    read_json,
    require,
)
from assay.records import stable_hash

FORMAT = "alpacaeval"
METRIC = "preference"
REQUIRED = ("instruction", "output_1", "output_2", "generator_1", "generator_2", "preference")


def sniff(path: Path) -> str | None:
    if path.is_dir():
        return "a directory, not an annotations file"
    if path.suffix != ".json":
        return f"suffix {path.suffix or '(none)'} is not .json"
    with open(path, "rb") as handle:
        head = handle.read(8192).decode("utf-8", "replace")
    if head.lstrip().startswith("[") and all(f'"{name}"' in head for name in ("generator_2", "preference")):
        return None
    return "not a JSON list of records with generator_2 and preference"


def verdict_of(preference: float) -> str:
    return "tie" if preference == 1.5 else ("2" if preference > 1.5 else "1")


def read(path: Path) -> list[ImportedLog]:
    records = read_json(path, "AlpacaEval annotations")
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of annotations, found {type(records).__name__}")
    by_model: dict[str, dict[str, Any]] = {}
    for index, record in enumerate(records):
        where = f"{path} record {index + 1}"
        for name in REQUIRED:
            require(record, name, where, "AlpacaEval's annotation fields")
        raw = record["preference"]
        preference = finite_number(raw)
        if raw is not None and preference is None:
            raise DataError(f"{where}: preference {raw!r} is not a number; expected 1 to 2 (0 or 1.5: a draw)")
        if preference == 0:
            preference = 1.5  # the older files' draw
        if preference is not None and not 1 <= preference <= 2:
            raise DataError(
                f"{where}: preference {preference:g} is outside 1 to 2 (1: output_1 preferred, "
                "2: output_2 preferred, 1.5 or 0: a draw)"
            )
        model, baseline = str(record["generator_2"]), str(record["generator_1"])
        instruction = str(record["instruction"])
        key = stable_hash(instruction)
        judge = str(record.get("annotator") or "annotator")
        entry = by_model.setdefault(model, {"samples": {}, "baseline": {}, "verdicts": {}, "prefs": {}})
        if (key, judge) in entry["verdicts"]:
            raise DataError(
                f"{where}: {model} is judged twice by {judge} on instruction {instruction[:60]!r} "
                f"(also {entry['verdicts'][(key, judge)][1]})"
            )
        if key not in entry["samples"]:
            fields = {"instruction": instruction, "dataset": record.get("dataset")}
            entry["samples"][key] = ImportedSample(
                key=key,
                sample=0,
                input={"instruction": instruction},
                target=None,
                output=as_text(record["output_2"]),
                prompt=instruction,
                fields=fields,
                meta={"dataset": record.get("dataset"), "baseline": baseline},
                where=where,
            )
            entry["baseline"].setdefault(baseline, {})[key] = ImportedSample(
                key=key,
                sample=0,
                input={"instruction": instruction},
                target=None,
                output=as_text(record["output_1"]),
                prompt=instruction,
                fields=fields,
                where=where,
            )
        entry["verdicts"][(key, judge)] = (
            ImportedVerdict(
                key=key,
                model=model,
                baseline=baseline,
                judge=judge,
                verdict=verdict_of(preference) if preference is not None else None,
                score=preference - 1 if preference is not None else math.nan,
                raw=as_text(record.get("raw_completion")),
            ),
            where,
        )
        if preference is not None:
            entry["prefs"].setdefault(key, []).append(preference - 1)
    reported = _leaderboard(path)
    logs = []
    for model, entry in by_model.items():
        notes = []
        for key, sample in entry["samples"].items():
            prefs = entry["prefs"].get(key)
            if prefs:
                sample.scores[METRIC] = sum(prefs) / len(prefs)
        judges = {judge for _, judge in entry["verdicts"]}
        if len(judges) > 1:
            notes.append(
                f"{path}: {model} has preferences from {len(judges)} annotators; its score per "
                "instruction is their mean"
            )
        unjudged = sum(1 for s in entry["samples"].values() if METRIC not in s.scores)
        if unjudged:
            notes.append(
                f"{path}: {unjudged} of {model}'s instructions have no valid preference; "
                "stored unscored, with the invalid verdicts"
            )
        logs.append(
            ImportedLog(
                path=str(path),
                format=FORMAT,
                model=model,
                task="alpaca_eval",
                metrics=[METRIC],
                samples=list(entry["samples"].values()),
                aggregates={METRIC: reported[model] / 100} if model in reported else {},
                sources=[str(path.with_name("leaderboard.csv"))] if model in reported else [],
                provenance={
                    "tool": "alpaca_eval",
                    "annotators": sorted(judges),
                    "baselines": sorted(entry["baseline"]),
                },
                verdicts=[v for v, _ in entry["verdicts"].values()],
                extra_samples={name: list(samples.values()) for name, samples in entry["baseline"].items()},
                notes=notes,
            )
        )
    if not logs:
        raise DataError(f"{path}: no annotations in the file")
    return logs


def _leaderboard(path: Path) -> dict[str, float]:
    """AlpacaEval's own win rates (percent), from the ``leaderboard.csv`` it writes beside the
    annotations: the first column names the model, ``win_rate`` is 100 x the mean of preference - 1."""
    board = path.with_name("leaderboard.csv")
    if not board.is_file():
        return {}
    import csv

    with open(board, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or "win_rate" not in rows[0]:
        return {}
    column = rows[0].index("win_rate")
    found = {}
    for row in rows[1:]:
        try:
            found[row[0]] = float(row[column])
        except (ValueError, IndexError):
            continue
    return found


def write_annotations(run_dir: str | Path) -> list[Path]:
    """``annotations.csv`` (one per judge when there are several: ``annotations-<judge>.csv``)
    in the columns ``assay winrate`` reads, from the run's pairwise verdicts and outputs."""
    from assay.judge.protocols.pairwise import PAIRWISE
    from assay.run.export import verdicts_frame
    from assay.run.store import samples_frame

    run_dir = Path(run_dir)
    verdicts = verdicts_frame(run_dir)
    verdicts = verdicts[(verdicts["protocol"] == PAIRWISE.name) & ~verdicts["invalid"]]
    samples = samples_frame(run_dir)
    outputs = {(m, i): o for m, i, o in zip(samples["model"], samples["item"], samples["output"])}
    with_items = {i: p for i, p in zip(samples["item"], samples["prompt"])}
    written = []
    judges = sorted(set(verdicts["judge"]))
    for judge in judges:
        rows = verdicts[verdicts["judge"] == judge]
        import pandas as pd

        frame = pd.DataFrame(
            {
                "model": rows["model_b"].to_numpy(),
                "baseline": rows["model"].to_numpy(),
                "item": rows["item"].to_numpy(),
                "instruction": [with_items.get(i) for i in rows["item"]],
                "preference": rows["score"].to_numpy(),
                "output": [outputs.get((m, i)) for m, i in zip(rows["model_b"], rows["item"])],
                "baseline_output": [outputs.get((m, i)) for m, i in zip(rows["model"], rows["item"])],
                "judge": judge,
            }
        )
        name = "annotations.csv" if len(judges) == 1 else f"annotations-{stable_hash(judge, 8)}.csv"
        frame.to_csv(run_dir / name, index=False)
        written.append(run_dir / name)
    return written

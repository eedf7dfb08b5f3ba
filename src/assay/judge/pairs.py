"""Bring externally produced response pairs into a run directory, so that
``assay judge`` can judge them and ``assay audit`` can hold the verdicts
against the pairs' human labels.

Each pair becomes an item whose two outputs are stored as the samples of two
pseudo-models, ``output_1`` and ``output_2``; a pairwise verdict of "1" then
means the first output is better, which is how the labels are written too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay.errors import ConfigError
from assay.records import Item, Sample, stable_hash


@dataclass
class PairsImport:
    run_dir: str
    labels: str
    n_items: int

    def to_dict(self) -> dict:
        return {"run_dir": self.run_dir, "labels": self.labels, "n_items": self.n_items}

    def render(self) -> str:
        return (
            f"imported {self.n_items} labelled pairs into {self.run_dir}; human labels in {self.labels}\n"
            f"next: assay judge {self.run_dir} --judge MODEL --protocol pairwise, then "
            f"assay export {self.run_dir} --what verdicts -o verdicts.csv and "
            f"assay audit --verdicts verdicts.csv --labels {self.labels}"
        )


def import_pairs(path: str | Path, out: str | Path, *, limit: int | None = None) -> PairsImport:
    """Write the pairs of a human-labelled file (``input, output_1, output_2,
    label``) into run directory ``out``, with the labels beside them."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit}: give at least 1 (or leave it out for every pair)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: an existing file, not a directory; give a new or existing run directory")
    from assay.run.lock import acquire

    task = {"task": f"pairs:{Path(path).name}"}
    # The directory's writer lock (RUN_DIR/.lock, assay.run.lock) from reading its config to writing it.
    lock = acquire(out, key=stable_hash({**task, "limit": limit}), description=f"an import of pairs {Path(path).name}")
    try:
        return _import_pairs(path, out, task, limit)
    finally:
        lock.release()


def _import_pairs(path: str | Path, out: Path, task: dict, limit: int | None) -> PairsImport:
    from assay.judge.audit import human_pairs_to_labels
    from assay.run.store import RunStore, read_config, write_config

    previous = read_config(out, strict=True) if out.is_dir() else {}
    if previous and previous.get("task") != task:
        # Mixing the pairs into another run would judge both as one.
        raise ConfigError(f"{out} holds a run of {previous.get('task_name')!r}; import the pairs into a new directory")
    labels = human_pairs_to_labels(path)
    if limit is not None:
        labels = labels.head(limit)
    items = [
        Item(id=row.item, input={"input": row.input}, meta={"source": f"{path}", "label": row.label})
        for row in labels.itertuples()
    ]
    with RunStore(out, use_cache=False) as store:
        store.put_items(items)
        for row in labels.itertuples():
            # The prompt is stored as chat messages, so judges see the question itself.
            prompt = [{"role": "user", "content": row.input}]
            for model, text in (("output_1", row.output_1), ("output_2", row.output_2)):
                store.record(
                    stable_hash({"pair": row.item, "model": model}, length=32),
                    model,
                    row.item,
                    0,
                    prompt,
                    {},
                    Sample(text=text),
                    {},
                )
    config = {"task": task, "task_name": Path(path).stem, "scorers": [], "models": ["output_1", "output_2"]}
    write_config(out, config)
    labels_path = out / "labels.csv"
    labels[["item", "label"]].to_csv(labels_path, index=False)
    return PairsImport(str(out), str(labels_path), len(labels))

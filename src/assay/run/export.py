"""Export a run's per-item records to CSV, JSONL or Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay.errors import ConfigError, DataError
from assay.run.store import open_run, read_config, samples_frame

SAMPLE_COLUMNS = [
    "model",
    "item",
    "sample",
    "prompt",
    "output",
    "target",
    "score",
    "detail",
    "latency",
    "tokens",
    "tokens_in",
    "tokens_out",
    "finish_reason",
    "error",
]
VERDICT_COLUMNS = [
    "item",
    "model",
    "model_b",
    "judge",
    "protocol",
    "order",
    "verdict",
    "score",
    "explanation",
    "invalid",
    "template_hash",
    "raw",
    "tokens_in",
    "tokens_out",
    "latency",
    "error",
]


@dataclass
class ExportResult:
    path: str
    rows: int
    what: str

    def to_dict(self) -> dict:
        return {"path": self.path, "rows": self.rows, "what": self.what}

    def render(self) -> str:
        return f"wrote {self.rows} {self.what} rows to {self.path}"


def write_table(frame, out: Path) -> None:
    suffix = "".join(out.suffixes[-2:]) if out.name.endswith(".gz") else out.suffix
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix in (".jsonl", ".jsonl.gz"):
        frame.to_json(out, orient="records", lines=True, force_ascii=False)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        raise ConfigError(f"{out}: unsupported export format '{suffix}'; use .csv, .jsonl or .parquet")


def verdicts_frame(run_dir: str | Path):
    with open_run(run_dir) as store:
        frame = store.verdicts_frame(include_errors=True)
    if frame.empty:
        raise DataError(f"{run_dir}: no verdicts yet; run `assay judge {run_dir} --judge MODEL` first")
    frame["invalid"] = frame["invalid"].astype(bool)
    return frame


CHOICE_COLUMNS = ["item", "model", "choice", "text", "logprob", "tokens", "chars", "bytes", "is_correct", "greedy"]
DOCUMENT_COLUMNS = ["item", "model", "logprob", "tokens", "bytes"]


def likelihood_frame(run_dir: str | Path, what: str):
    """One row per choice (``choices``) or per document (``documents``) of a likelihood run."""
    import pandas as pd

    mode = read_config(run_dir).get("mode", "generate")
    wanted = {"choices": "choices", "documents": "perplexity"}[what]
    if mode != wanted:
        raise DataError(f"{run_dir}: --what {what} needs a run made with --mode {wanted}; this run's mode is {mode}")
    with open_run(run_dir) as store:
        items = store.items()
        scored = store.scored_texts()
    rows = []
    for model, item_id, _, logprobs in scored:
        item = items[item_id]
        if what == "documents":
            text = str(item.input.get("input", ""))
            rows.append(
                {
                    "item": item_id,
                    "model": model,
                    "logprob": logprobs[0].logprob,
                    "tokens": logprobs[0].tokens,
                    "bytes": len(text.encode("utf-8")),
                }
            )
            continue
        texts = item.meta.get("choices", [])
        gold = item.meta.get("gold")
        for index, lp in enumerate(logprobs):
            text = str(texts[index]) if index < len(texts) else ""
            rows.append(
                {
                    "item": item_id,
                    "model": model,
                    "choice": index,
                    "text": text,
                    "logprob": lp.logprob,
                    "tokens": lp.tokens,
                    "chars": len(text),
                    "bytes": len(text.encode("utf-8")),
                    "is_correct": None if gold is None else index == int(gold),
                    "greedy": lp.greedy,
                }
            )
    return pd.DataFrame(rows, columns=CHOICE_COLUMNS if what == "choices" else DOCUMENT_COLUMNS)


def export_run(run_dir: str | Path, out: str | Path, *, what: str = "samples") -> ExportResult:
    out = Path(out)
    if what == "samples":
        frame = samples_frame(run_dir)
        primary = (read_config(run_dir).get("scorers") or [None])[0]
        frame["score"] = frame.get(f"score_{primary}") if primary else None
        # What the scorer said of each output (the number or match it found, why it failed).
        frame["detail"] = frame.get(f"detail_{primary}") if primary else None
        frame = frame.drop(columns=["meta"])
        extra = [c for c in frame.columns if c.startswith(("score_", "detail_"))]
        frame = frame[SAMPLE_COLUMNS + extra]
    elif what == "verdicts":
        frame = verdicts_frame(run_dir)[VERDICT_COLUMNS]
    elif what in ("choices", "documents"):
        frame = likelihood_frame(run_dir, what)
    else:
        raise ConfigError(f"--what {what}: valid are samples, verdicts, choices, documents")
    write_table(frame, out)
    return ExportResult(str(out), len(frame), what)

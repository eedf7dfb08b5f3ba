"""Audit a judge against human labels: agreement, position bias, jury, model ranking.

``audit(verdicts, labels)`` joins a judge's verdicts with human labels and
reports, per judge, accuracy in each presentation order, position consistency,
percent agreement next to Cohen's kappa (percent agreement alone hides
disagreement that kappa reveals), leniency and score correlations, each with
a bootstrap interval over items; across judges, Fleiss' kappa, Krippendorff's
alpha and the majority-vote jury; and, when several evaluated models are
covered, how the judge ranks them against how the humans do.

See docs/judge-audit.md for the definitions.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.judge.agreement import (
    ALPHA_LEVELS,
    Estimate,
    bootstrap_over_items,
    cohens_kappa_from_table,
    fleiss_kappa,
    krippendorff_alpha,
)
from assay.tables import read_frame

KINDS = ("pairwise", "correctness", "score")
PAIRWISE_VALUES = ("1", "2", "tie")
CORRECTNESS_VALUES = ("0", "1")
ORDERS = ("original", "swapped")
MIN_LABELLED_ITEMS = 10
JURY_NAME = "jury (majority vote)"
INVALID = "invalid"
VOTE_TIE = "tie"
WHERE = "__where__"


# --------------------------------------------------------------------------- loading


def load_table(source: str | Path | pd.DataFrame, *, name: str = "table") -> pd.DataFrame:
    """Read a CSV/TSV, JSONL, JSON (array of objects) or Parquet file into a DataFrame.

    The result's ``attrs["source"]`` names the file and ``attrs["locations"]``
    gives, per row, where it came from ("line 7" for CSV and JSONL, counting
    the header as line 1; "record 3" for JSON; "row 3" for Parquet and
    DataFrames), so later errors can point at the row. CSV cells are read as
    text with empty cells as missing. A DataFrame is passed through with
    locations "row 1", "row 2", ...
    """
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True).copy()
        frame.attrs["source"] = f"{name} table"
        frame.attrs["locations"] = [f"row {i + 1}" for i in range(len(frame))]
        return frame
    frame = read_frame(source, what=name)
    if len(frame) == 0:
        raise DataError(f"{name} file {source} has no rows")
    return frame


def _located(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` with a column saying where each row came from."""
    out = frame.copy()
    source = frame.attrs.get("source", "table")
    locations = frame.attrs.get("locations") or [f"row {i + 1}" for i in range(len(frame))]
    out[WHERE] = [f"{source} {loc}" for loc in locations]
    return out


def _called(what: str, source: str) -> str:
    """How messages name a table: "labels FILE" for a file, "labels table" (not
    "labels labels table") for an in-memory one."""
    return source if source.startswith(what) else f"{what} {source}"


def _require_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = ", ".join(str(c) for c in frame.columns if c != WHERE) or "none"
        raise DataError(
            f"{_called(what, str(frame.attrs.get('source', 'table')))} lacks column(s) {', '.join(missing)}; "
            f"required: {', '.join(required)}; found: {found}"
        )


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _canonical(value: Any) -> str | None:
    """A verdict or label as text: integral numbers without decimals, words lower-case."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip().lower()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number) if math.isfinite(number) else text


def _as_number(text: str | None) -> float:
    if text is None:
        return float("nan")
    try:
        number = float(text)
    except ValueError:
        return float("nan")
    return number if math.isfinite(number) else float("nan")


def _flag(value: Any, where: str, column: str) -> bool:
    if _is_missing(value):
        return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "1.0"):
        return True
    if text in ("0", "false", "no", "0.0"):
        return False
    raise DataError(f"{where}, column {column}: {value!r} is not a true/false value (use true/false or 1/0)")


# --------------------------------------------------------------------------- labels


def human_pairs_to_labels(path: str | Path) -> pd.DataFrame:
    """Turn a human-labelled pairwise file (JSON array of ``input, output_1,
    output_2, label``) into an audit labels table.

    Label mapping: 1 (output_1 is better) -> "1", 2 (output_2 is better) -> "2",
    "tie" -> "tie"; anything else is an error. The item id is a stable hash of
    the three texts, so the same pair gets the same id wherever it appears.
    Columns: item, label, input, output_1, output_2, source (the file's stem).
    """
    from assay.records import stable_hash

    frame = _located(load_table(path, name="human labels"))
    _require_columns(frame, ["input", "output_1", "output_2", "label"], "human labels file")
    rows = []
    for record in frame.to_dict("records"):
        label = _canonical(record["label"])
        if label not in PAIRWISE_VALUES:
            raise DataError(
                f"{record[WHERE]}, column label: {record['label']!r} is not one of 1, 2, tie "
                "(1: output_1 is better, 2: output_2 is better)"
            )
        for column in ("input", "output_1", "output_2"):
            if record[column] is None or not isinstance(record[column], str):
                raise DataError(f"{record[WHERE]}, column {column}: expected text, got {record[column]!r}")
        texts = {k: record[k] for k in ("input", "output_1", "output_2")}
        rows.append({"item": stable_hash(texts), "label": label, **texts, "source": Path(path).stem})
    labels = pd.DataFrame(rows, columns=["item", "label", "input", "output_1", "output_2", "source"])
    duplicated = labels["item"].duplicated(keep=False)
    if duplicated.any():
        # The same pair twice: keep it only if the labels agree.
        conflicts = labels[duplicated].groupby("item")["label"].nunique()
        if (conflicts > 1).any():
            item = conflicts[conflicts > 1].index[0]
            raise DataError(f"human labels file {path}: the same pair (item {item}) has conflicting labels")
        labels = labels.drop_duplicates("item").reset_index(drop=True)
    return labels


# --------------------------------------------------------------------------- results


@dataclass
class JudgeAgreement:
    """How one judge (or the jury) agrees with the human labels.

    Rates are shares in [0, 1] except ``percent_agreement`` (percent). Fields
    that do not apply to the data (position metrics without swapped orders,
    leniency outside correctness, correlations without numbers) are None.
    """

    judge: str
    n: int
    n_verdicts: int
    n_invalid: int
    accuracy: Estimate
    accuracy_by_order: dict[str, Estimate]
    both_orders_correct: Estimate | None
    position_consistency: Estimate | None
    first_position_rate: Estimate | None
    percent_agreement: Estimate
    cohens_kappa: Estimate
    leniency: Estimate | None
    pearson: Estimate | None
    spearman: Estimate | None
    kendall: Estimate | None
    n_vote_ties: int | None = None
    # Position consistency is computed over the units with a valid verdict in
    # both orders (``n_consistency_pairs``); units judged in both orders where
    # either verdict is invalid are left out and counted here.
    n_consistency_pairs: int | None = None
    n_consistency_invalid: int | None = None

    _SCALARS = (
        "accuracy",
        "both_orders_correct",
        "position_consistency",
        "first_position_rate",
        "percent_agreement",
        "cohens_kappa",
        "leniency",
        "pearson",
        "spearman",
        "kendall",
    )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"judge": self.judge, "n": self.n, "n_verdicts": self.n_verdicts, "n_invalid": self.n_invalid}
        for name in self._SCALARS:
            value = getattr(self, name)
            d[name] = None if value is None else value.to_dict()
        d["accuracy_by_order"] = {k: v.to_dict() for k, v in self.accuracy_by_order.items()}
        if self.position_consistency is not None:
            d["n_consistency_pairs"] = self.n_consistency_pairs
            d["n_consistency_invalid"] = self.n_consistency_invalid
        if self.n_vote_ties is not None:
            d["n_vote_ties"] = self.n_vote_ties
        return jsonable(d)

    def render(self) -> str:
        lines = [f"{self.judge}: n={self.n} items, {self.n_verdicts} verdicts ({self.n_invalid} invalid)"]
        lines.append(f"  accuracy             {self.accuracy.render()}")
        for order, est in self.accuracy_by_order.items():
            lines.append(f"    {order:<18} {est.render()}")
        for name in self._SCALARS[1:]:
            value = getattr(self, name)
            if value is not None:
                digits = 1 if name == "percent_agreement" else 3
                line = f"  {name:<20} {value.render(digits)}"
                if name == "position_consistency":
                    line += f" ({self._consistency_basis()})"
                lines.append(line)
        if self.n_vote_ties is not None:
            lines.append(f"  vote ties            {self.n_vote_ties}")
        return "\n".join(lines)

    def _consistency_basis(self) -> str:
        pairs, invalid = self.n_consistency_pairs or 0, self.n_consistency_invalid or 0
        if pairs == 0:
            text = "no unit has a valid verdict in both orders"
        else:
            text = f"over {pairs} unit{'s' if pairs != 1 else ''} with a valid verdict in both orders"
        if invalid:
            text += f"; {invalid} with an invalid verdict left out"
        return text


@dataclass
class JuryAgreement:
    """Agreement among the judges, and the majority-vote jury against the humans."""

    judges: list[str]
    fleiss_kappa: Estimate
    n_fleiss_subjects: int
    krippendorff_alpha: Estimate
    alpha_level: str
    n_alpha_subjects: int
    majority: JudgeAgreement

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "judges": list(self.judges),
                "fleiss_kappa": self.fleiss_kappa.to_dict(),
                "n_fleiss_subjects": self.n_fleiss_subjects,
                "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
                "alpha_level": self.alpha_level,
                "n_alpha_subjects": self.n_alpha_subjects,
                "majority": self.majority.to_dict(),
            }
        )

    def render(self) -> str:
        return "\n".join(
            [
                f"Across {len(self.judges)} judges ({', '.join(self.judges)}):",
                f"  Fleiss' kappa        {self.fleiss_kappa.render()} on {self.n_fleiss_subjects} verdicts rated by all",
                f"  Krippendorff's alpha {self.krippendorff_alpha.render()} ({self.alpha_level}, "
                f"{self.n_alpha_subjects} verdicts)",
                self.majority.render(),
            ]
        )


@dataclass
class ModelRanking:
    """A judge's ranking of the evaluated models against the human ranking."""

    judge: str
    models: list[str]
    judge_scores: dict[str, float]
    human_scores: dict[str, float]
    spearman: Estimate
    kendall: Estimate
    score_meaning: str

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "judge": self.judge,
                "models": list(self.models),
                "judge_scores": dict(self.judge_scores),
                "human_scores": dict(self.human_scores),
                "spearman": self.spearman.to_dict(),
                "kendall": self.kendall.to_dict(),
                "score_meaning": self.score_meaning,
            }
        )

    def render(self) -> str:
        lines = [
            f"{self.judge}: ranking of {len(self.models)} models ({self.score_meaning})",
            f"  Spearman {self.spearman.render()}  Kendall {self.kendall.render()}",
        ]
        for model in sorted(self.models, key=lambda m: -self.human_scores[m]):
            lines.append(f"    {model:<30} judge {self.judge_scores[model]:.3f}  human {self.human_scores[model]:.3f}")
        return "\n".join(lines)


@dataclass
class Coverage:
    """How far the labels cover the verdicts; nothing is dropped unreported."""

    n_verdict_items: int
    n_labelled_items: int
    n_unlabelled_units: int
    n_unlabelled_verdicts: int
    unlabelled_examples: list[str]
    n_unused_labels: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dict(self.__dict__))

    def render(self) -> str:
        text = f"labels cover {self.n_labelled_items} of {self.n_verdict_items} items"
        if self.n_unlabelled_verdicts:
            text += (
                f"; {self.n_unlabelled_verdicts} verdicts on {self.n_unlabelled_units} unlabelled items left out "
                f"(e.g. {', '.join(self.unlabelled_examples)})"
            )
        if self.n_unused_labels:
            text += f"; {self.n_unused_labels} labels have no verdict"
        return text


@dataclass
class AuditResult:
    """Everything ``audit`` found. ``probes`` holds bias-probe results attached
    later (each with ``to_dict()`` and ``render()``, or a plain dict)."""

    kind: str
    verdicts_source: str
    labels_source: str
    coverage: Coverage
    judges: list[JudgeAgreement]
    jury: JuryAgreement | None
    rankings: list[ModelRanking]
    seed: int
    n_boot: int
    level: float
    probes: list[Any] = field(default_factory=list)

    def judge(self, name: str) -> JudgeAgreement:
        for result in self.judges:
            if result.judge == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "kind": self.kind,
                "verdicts": self.verdicts_source,
                "labels": self.labels_source,
                "coverage": self.coverage.to_dict(),
                "judges": [j.to_dict() for j in self.judges],
                "jury": None if self.jury is None else self.jury.to_dict(),
                "rankings": [r.to_dict() for r in self.rankings],
                "probes": [p.to_dict() if hasattr(p, "to_dict") else p for p in self.probes],
                "seed": self.seed,
                "n_boot": self.n_boot,
                "level": self.level,
            }
        )

    def render(self) -> str:
        parts = [
            f"Judge audit ({self.kind} verdicts; {self.verdicts_source} against {self.labels_source})",
            self.coverage.render(),
            f"Intervals: {round(100 * self.level)}% percentile bootstrap over items, {self.n_boot} resamples, seed {self.seed}",
            "",
        ]
        parts += [j.render() for j in self.judges]
        if self.jury is not None:
            parts += ["", self.jury.render()]
        if self.rankings:
            parts += ["", "Ranking of the evaluated models (separate from item-level agreement):"]
            parts += [r.render() for r in self.rankings]
        for probe in self.probes:
            parts += ["", probe.render() if hasattr(probe, "render") else json.dumps(jsonable(probe))]
        return "\n".join(parts)


# --------------------------------------------------------------------------- preparation


def _fits(kind: str, value: str) -> bool:
    if kind == "correctness":
        return value in CORRECTNESS_VALUES
    if kind == "pairwise":
        return value in PAIRWISE_VALUES
    return not math.isnan(_as_number(value))


def _kind_of_labels(label_values: set[str], verdict_values: set[str]) -> str | None:
    """The kind every label fits (the narrowest), or None."""
    if label_values <= set(CORRECTNESS_VALUES):
        # All-"1" labels are ambiguous; pairwise-only verdict values settle it.
        if "0" not in label_values and verdict_values & {"2", "tie"}:
            return "pairwise"
        return "correctness"
    if label_values <= set(PAIRWISE_VALUES):
        return "pairwise"
    if all(_fits("score", v) for v in label_values):
        return "score"
    return None


def _kind_of_verdicts(verdict_values: set[str]) -> str | None:
    """The categorical kind the valid verdicts settle on their own, if any."""
    if not verdict_values:
        return None
    if verdict_values <= set(CORRECTNESS_VALUES):
        return "correctness" if "0" in verdict_values else None  # all "1" fits either
    if verdict_values <= set(PAIRWISE_VALUES):
        return "pairwise"
    return None


def _misfits(lab: pd.DataFrame, kind: str) -> list[tuple[str, Any]]:
    return [(where, raw) for value, raw, where in zip(lab["_cat"], lab["label"], lab[WHERE]) if not _fits(kind, value)]


def _listed(misfits: list[tuple[str, Any]]) -> str:
    where, raw = misfits[0]
    text = f"{where}, column label: {raw!r}"
    if len(misfits) > 1:
        more = "; ".join(f"{w}: {r!r}" for w, r in misfits[1:4])
        text += f" (also {more}" + (f" and {len(misfits) - 4} more" if len(misfits) > 4 else "") + ")"
    return text


def _detect_kind(lab: pd.DataFrame, verdict_values: set[str]) -> str:
    """The kind of verdict (pairwise, correctness, score), read from the labels.

    When the verdicts are all of one categorical kind (0/1 correctness, or
    pairwise with a 2 or tie) and no more than a fifth of the labels fall
    outside it, those labels are taken to be mistakes and named, line by line,
    rather than read as a different kind (a single "2" among 0/1 labels would
    otherwise turn the audit into one of scores). When no kind fits every
    label, the labels that do not fit the kind most of them fit are named.
    """
    label_values = set(lab["_cat"])
    label_kind = _kind_of_labels(label_values, verdict_values)
    verdict_kind = _kind_of_verdicts(verdict_values)
    if verdict_kind is not None and label_kind != verdict_kind:
        misfits = _misfits(lab, verdict_kind)
        if misfits and 5 * len(misfits) <= len(lab):
            raise DataError(
                f"{_listed(misfits)} is not a {verdict_kind} label ({_describe_allowed(verdict_kind)}), but every "
                f"valid verdict is {verdict_kind} and {len(lab) - len(misfits)} of the {len(lab)} labels are; "
                f"correct the label{'s' if len(misfits) > 1 else ''} (or, in the library, pass kind= to audit "
                "the labels as another kind)"
            )
    if label_kind is not None:
        return label_kind
    best = max(KINDS, key=lambda kind: sum(_fits(kind, v) for v in lab["_cat"]))
    misfits = _misfits(lab, best)
    raise DataError(
        f"{_listed(misfits)} fits none of the verdict kinds: pairwise (1, 2, tie), correctness (0, 1) or "
        f"score (numbers); {len(lab) - len(misfits)} of the {len(lab)} labels are {best} "
        f"({_describe_allowed(best)})"
    )


def _check_values(frame: pd.DataFrame, column: str, kind: str, what: str, skip: pd.Series | None = None) -> None:
    allowed = {"pairwise": PAIRWISE_VALUES, "correctness": CORRECTNESS_VALUES}.get(kind)
    for value, raw, where, skipped in zip(
        frame["_cat"], frame[column], frame[WHERE], skip if skip is not None else [False] * len(frame)
    ):
        if skipped:
            continue
        if _is_missing(value):
            raise DataError(f"{where}, column {column}: {what} is empty; expected one of {_describe_allowed(kind)}")
        if allowed is not None and value not in allowed:
            raise DataError(f"{where}, column {column}: {raw!r} is not a {kind} {what}; expected {_describe_allowed(kind)}")
        if allowed is None and math.isnan(_as_number(value)):
            raise DataError(f"{where}, column {column}: {raw!r} is not a number (score {what}s are numbers)")


def _describe_allowed(kind: str) -> str:
    return {"pairwise": "1, 2 or tie", "correctness": "0 or 1", "score": "a number"}[kind]


def _check_duplicates(frame: pd.DataFrame, keys: list[str], what: str) -> None:
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        same = frame[duplicated & (frame[keys] == first[keys]).all(axis=1)]
        described = ", ".join(f"{k}={first[k]!r}" for k in keys)
        raise DataError(f"{what}: {described} appears more than once ({'; '.join(same[WHERE].tolist())})")


def _text_column(frame: pd.DataFrame, column: str) -> None:
    for value, where in zip(frame[column], frame[WHERE]):
        if _is_missing(value):
            raise DataError(f"{where}, column {column}: empty; every row needs a {column}")
    frame[column] = [str(v).strip() for v in frame[column]]


def _optional_text_column(frame: pd.DataFrame, column: str, what: str) -> pd.DataFrame:
    """An optional column (model, model_b): empty in every row means absent and
    is dropped (`assay export --what verdicts` writes an empty model_b for
    non-pairwise protocols); empty in some rows only is an error."""
    if column not in frame.columns:
        return frame
    empty = [_is_missing(value) for value in frame[column]]
    if all(empty):
        return frame.drop(columns=column)
    if any(empty):
        where = frame[WHERE].iloc[empty.index(True)]
        raise DataError(
            f"{where}, column {column}: empty, while {len(empty) - sum(empty)} other row(s) of "
            f"{_called(what, str(frame.attrs.get('source', 'table')))} have a {column}; {column} is optional, "
            "but give it in every row or in none"
        )
    frame[column] = [str(v).strip() for v in frame[column]]
    return frame


def _prepare(
    verdicts: str | Path | pd.DataFrame, labels: str | Path | pd.DataFrame, kind: str | None
) -> tuple[pd.DataFrame, str, Coverage, str, str]:
    """Validate both tables and join them; return (joined verdict rows, kind, coverage, sources)."""
    v = _located(load_table(verdicts, name="verdicts"))
    lab = _located(load_table(labels, name="labels"))
    v_source, l_source = v.attrs.get("source", "verdicts"), lab.attrs.get("source", "labels")
    _require_columns(v, ["item", "judge", "verdict"], "verdicts")
    _require_columns(lab, ["item", "label"], "labels")
    for column in ("item", "judge"):
        _text_column(v, column)
    _text_column(lab, "item")
    for column in ("model", "model_b"):
        v = _optional_text_column(v, column, "verdicts")
        lab = _optional_text_column(lab, column, "labels")
    unit_cols = ["item"] + [c for c in ("model", "model_b") if c in v.columns]
    label_keys = ["item"]
    for column in ("model", "model_b"):
        if column in lab.columns:
            if column not in v.columns:
                raise DataError(
                    f"{_called('labels', l_source)} have a {column} column but {_called('verdicts', v_source)} do not "
                    f"(or leave it empty); add {column} to the verdicts or drop it from the labels"
                )
            label_keys.append(column)

    if kind is not None and kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    v["invalid"] = [_flag(x, w, "invalid") for x, w in zip(v.get("invalid", [None] * len(v)), v[WHERE])]
    # Object columns, so that a missing value stays None (a text column would make it NaN).
    v["_cat"] = pd.Series([_canonical(x) for x in v["verdict"]], index=v.index, dtype=object)
    lab["_cat"] = pd.Series([_canonical(x) for x in lab["label"]], index=lab.index, dtype=object)
    for value, where in zip(lab["_cat"], lab[WHERE]):
        if value is None:
            raise DataError(f"{where}, column label: empty; every row needs a label")
    if kind is None:
        valid_verdicts = {c for c, invalid in zip(v["_cat"], v["invalid"]) if c is not None and not invalid}
        kind = _detect_kind(lab, valid_verdicts)
    _check_values(lab, "label", kind, "label")
    _check_values(v, "verdict", kind, "verdict", skip=v["invalid"])
    v.loc[v["invalid"], "_cat"] = INVALID

    if "order" in v.columns:
        orders = []
        for raw, where in zip(v["order"], v[WHERE]):
            order = "original" if _is_missing(raw) else str(raw).strip().lower()
            if order not in ORDERS:
                raise DataError(f"{where}, column order: {raw!r} is not one of original, swapped")
            orders.append(order)
        v["order"] = orders
    else:
        v["order"] = "original"

    # The judge's number for correlations: the score column when present.
    if "score" in v.columns:
        numbers = []
        for raw, where, invalid in zip(v["score"], v[WHERE], v["invalid"]):
            number = _as_number(_canonical(raw))
            if math.isnan(number) and not invalid and not _is_missing(raw):
                raise DataError(f"{where}, column score: {raw!r} is not a number")
            numbers.append(number)
        v["_num"] = numbers
    elif kind == "score":
        v["_num"] = [_as_number(c) for c in v["_cat"]]
    else:
        v["_num"] = np.nan

    _check_duplicates(lab, label_keys, _called("labels", l_source))
    _check_duplicates(v, unit_cols + ["judge", "order"], _called("verdicts", v_source))

    merged = v.merge(
        lab[label_keys + ["_cat"]].rename(columns={"_cat": "_label"}), on=label_keys, how="left", indicator=True
    )
    labelled = merged["_merge"] == "both"
    n_verdict_items = v["item"].nunique()
    n_labelled_items = merged.loc[labelled, "item"].nunique()
    unlabelled = merged[~labelled]
    unit_labelled = set(map(tuple, merged.loc[labelled, label_keys].to_numpy()))
    n_unused = sum(1 for key in map(tuple, lab[label_keys].to_numpy()) if key not in unit_labelled)
    coverage = Coverage(
        n_verdict_items=int(n_verdict_items),
        n_labelled_items=int(n_labelled_items),
        n_unlabelled_units=int(unlabelled.drop_duplicates(unit_cols).shape[0]),
        n_unlabelled_verdicts=int(len(unlabelled)),
        unlabelled_examples=list(dict.fromkeys(unlabelled["item"]))[:5],
        n_unused_labels=int(n_unused),
    )
    if n_labelled_items < MIN_LABELLED_ITEMS:
        examples = ", ".join(coverage.unlabelled_examples) or "none"
        raise DataError(
            f"{_called('labels', l_source)} cover {n_labelled_items} of the {n_verdict_items} items in "
            f"{_called('verdicts', v_source)} "
            f"(unlabelled e.g.: {examples}); an audit needs at least {MIN_LABELLED_ITEMS} labelled items. "
            f"Check that both files use the same item ids"
            + (f" and {', '.join(label_keys[1:])}" if len(label_keys) > 1 else "")
        )
    joined = merged[labelled].drop(columns="_merge").reset_index(drop=True)
    joined["_label_num"] = [_as_number(c) for c in joined["_label"]]
    for column in ("model", "model_b"):
        # "" means "no such model", so grouping never drops a key.
        joined[column] = joined[column].fillna("") if column in joined.columns else ""
    return joined, kind, coverage, str(v_source), str(l_source)


# --------------------------------------------------------------------------- per-judge statistics


@dataclass
class _UnitTable:
    """One row per judged unit (item[, model, model_b]); verdicts by order in columns."""

    item: np.ndarray
    verdict: np.ndarray  # (units, 2) category codes, -1 where that order is missing
    number: np.ndarray  # (units, 2) judge numbers, NaN where missing
    label: np.ndarray
    label_number: np.ndarray
    model: np.ndarray
    model_b: np.ndarray


def _unit_table(rows: pd.DataFrame, codes: dict[str, int], unit_cols: list[str]) -> _UnitTable:
    rows = rows.assign(_code=rows["_cat"].map(codes), _order_idx=rows["order"].map(ORDERS.index))
    units = rows.drop_duplicates(unit_cols)[unit_cols + ["_label", "_label_num"]].reset_index(drop=True)
    unit_index = pd.MultiIndex.from_frame(units[unit_cols])
    position = unit_index.get_indexer(pd.MultiIndex.from_frame(rows[unit_cols]))
    verdict = np.full((len(units), 2), -1, dtype=int)
    number = np.full((len(units), 2), np.nan)
    verdict[position, rows["_order_idx"].to_numpy()] = rows["_code"].to_numpy()
    number[position, rows["_order_idx"].to_numpy()] = rows["_num"].to_numpy(dtype=float)
    return _UnitTable(
        item=units["item"].to_numpy(dtype=object),
        verdict=verdict,
        number=number,
        label=units["_label"].map(codes).to_numpy(dtype=int),
        label_number=units["_label_num"].to_numpy(dtype=float),
        model=units["model"].to_numpy(dtype=object),
        model_b=units["model_b"].to_numpy(dtype=object),
    )


def _safe_correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from scipy import stats

    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "kendall": float("nan")}
    return {
        "pearson": float(np.corrcoef(x, y)[0, 1]),
        "spearman": float(stats.spearmanr(x, y).statistic),
        "kendall": float(stats.kendalltau(x, y).statistic),
    }


def _judge_statistics(
    table: _UnitTable, codes: dict[str, int], kind: str, with_orders: bool, with_numbers: bool
) -> Any:
    n_codes = len(codes)
    first, second = codes.get("1", -9), codes.get("2", -9)
    wrong, right = codes.get("0", -9), codes.get("1", -9)
    invalid = codes[INVALID]

    def statistic(rows: np.ndarray) -> dict[str, float]:
        verdict, label = table.verdict[rows], table.label[rows]
        present = verdict >= 0
        valid = present & (verdict != invalid)
        correct = (verdict == label[:, None]) & present
        out: dict[str, float] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            out["accuracy"] = float(np.mean(correct.sum(axis=1) / present.sum(axis=1)))
            for k, order in enumerate(ORDERS):
                out[f"accuracy_{order}"] = float(correct[present[:, k], k].mean()) if present[:, k].any() else np.nan
            if with_orders:
                both = present.all(axis=1)
                out["both_orders_correct"] = float(correct[both].all(axis=1).mean()) if both.any() else np.nan
                # Two invalid verdicts are not a consistent judgement: only units
                # with a valid verdict in both orders count.
                both_valid = valid.all(axis=1)
                out["position_consistency"] = (
                    float(np.mean(verdict[both_valid, 0] == verdict[both_valid, 1])) if both_valid.any() else np.nan
                )
            if kind == "pairwise":
                # The output shown first is output 1 in the original order and
                # output 2 in the swapped one (verdicts are mapped back).
                decisive = np.isin(verdict, [first, second])
                first_wins = (verdict[:, 0] == first) & decisive[:, 0], (verdict[:, 1] == second) & decisive[:, 1]
                n_decisive = decisive.sum()
                out["first_position_rate"] = (
                    float((first_wins[0].sum() + first_wins[1].sum()) / n_decisive) if n_decisive else np.nan
                )
            pooled_verdict = verdict[present]
            pooled_label = np.broadcast_to(label[:, None], verdict.shape)[present]
            out["percent_agreement"] = (
                float(100.0 * np.mean(pooled_verdict == pooled_label)) if pooled_verdict.size else np.nan
            )
            contingency = np.bincount(pooled_verdict * n_codes + pooled_label, minlength=n_codes * n_codes)
            out["cohens_kappa"] = cohens_kappa_from_table(contingency.reshape(n_codes, n_codes))
            if kind == "correctness":
                humans_wrong = pooled_label == wrong
                out["leniency"] = float(np.mean(pooled_verdict[humans_wrong] == right)) if humans_wrong.any() else np.nan
            if with_numbers:
                numbers = table.number[rows]
                label_numbers = np.broadcast_to(table.label_number[rows][:, None], numbers.shape)
                out.update(_safe_correlations(numbers[present], label_numbers[present]))
        return out

    return statistic


def _agreement_for(
    name: str,
    rows: pd.DataFrame,
    codes: dict[str, int],
    kind: str,
    unit_cols: list[str],
    *,
    seed: int,
    n_boot: int,
    level: float,
) -> tuple[JudgeAgreement, _UnitTable]:
    table = _unit_table(rows, codes, unit_cols)
    with_orders = bool((table.verdict[:, 1] >= 0).any())
    with_numbers = bool(np.isfinite(table.number).any()) and kind in ("score", "correctness")
    statistic = _judge_statistics(table, codes, kind, with_orders, with_numbers)
    est = bootstrap_over_items(table.item, statistic, n_boot=n_boot, seed=seed, level=level)
    by_order = {o: est[f"accuracy_{o}"] for o in ORDERS if (rows["order"] == o).any()}
    n_pairs = n_pairs_invalid = None
    if with_orders:
        both = (table.verdict >= 0).all(axis=1)
        both_valid = both & (table.verdict != codes[INVALID]).all(axis=1)
        n_pairs, n_pairs_invalid = int(both_valid.sum()), int((both & ~both_valid).sum())
        # Its n_items: the items behind the pairs it is computed over.
        est["position_consistency"].n_items = len(set(table.item[both_valid].tolist()))
    result = JudgeAgreement(
        judge=name,
        n=len(table.item),
        n_verdicts=len(rows),
        n_invalid=int((rows["_cat"] == INVALID).sum()),
        accuracy=est["accuracy"],
        accuracy_by_order=by_order,
        both_orders_correct=est.get("both_orders_correct"),
        position_consistency=est.get("position_consistency"),
        first_position_rate=est.get("first_position_rate"),
        percent_agreement=est["percent_agreement"],
        cohens_kappa=est["cohens_kappa"],
        leniency=est.get("leniency"),
        pearson=est.get("pearson"),
        spearman=est.get("spearman"),
        kendall=est.get("kendall"),
        n_consistency_pairs=n_pairs,
        n_consistency_invalid=n_pairs_invalid,
    )
    return result, table


# --------------------------------------------------------------------------- jury


def _majority_rows(joined: pd.DataFrame, unit_cols: list[str]) -> tuple[pd.DataFrame, int]:
    """Majority verdict over judges per (unit, order); a tied vote becomes "tie"."""
    voting = joined[joined["_cat"] != INVALID]
    keys = unit_cols + ["order"]
    counts = voting.groupby(keys + ["_cat"], dropna=False).size().rename("votes").reset_index()
    top = counts.groupby(keys, dropna=False)["votes"].transform("max")
    leaders = counts[counts["votes"] == top]
    n_leaders = leaders.groupby(keys, dropna=False)["_cat"].transform("size")
    leaders = leaders.assign(_tied=n_leaders > 1)
    winners = leaders.drop_duplicates(keys).copy()
    winners.loc[winners["_tied"], "_cat"] = VOTE_TIE
    numbers = voting.groupby(keys, dropna=False)["_num"].mean().rename("_num").reset_index()
    base = joined.drop_duplicates(keys)[keys + ["_label", "_label_num"]]
    rows = base.merge(winners[keys + ["_cat", "_tied"]], on=keys, how="left").merge(numbers, on=keys, how="left")
    # A (unit, order) where every judge's verdict was invalid stays invalid.
    rows["_cat"] = rows["_cat"].fillna(INVALID)
    n_vote_ties = int(rows["_tied"].fillna(False).astype(bool).sum())
    rows["judge"] = JURY_NAME
    return rows.drop(columns="_tied"), n_vote_ties


def _alpha_level(kind: str, joined: pd.DataFrame) -> str:
    if kind != "score":
        return "nominal"
    values = joined.loc[joined["_cat"] != INVALID, "_cat"].map(_as_number)
    values = values[np.isfinite(values)]
    integral = bool(np.all(np.equal(np.mod(values, 1), 0)))
    # Integer ratings on a short scale (Likert-like) are ordinal; anything
    # finer is treated as interval data.
    return "ordinal" if integral and values.nunique() <= 10 else "interval"


def _jury(
    joined: pd.DataFrame,
    judges: list[str],
    codes: dict[str, int],
    kind: str,
    unit_cols: list[str],
    alpha_level: str,
    *,
    seed: int,
    n_boot: int,
    level: float,
) -> JuryAgreement:
    keys = unit_cols + ["order"]
    valid = joined[joined["_cat"] != INVALID]
    subjects = valid.pivot_table(index=keys, columns="judge", values="_cat", aggfunc="first", dropna=False)
    subjects = subjects.reindex(columns=judges).dropna(how="all")
    subject_items = subjects.index.get_level_values("item").to_numpy(dtype=object)
    category_matrix = subjects.to_numpy(dtype=object)
    if alpha_level == "nominal":
        coded = np.array([[np.nan if c is None or c != c else codes[c] for c in row] for row in category_matrix], dtype=float)
    else:
        coded = np.array([[_as_number(c) if isinstance(c, str) else np.nan for c in row] for row in category_matrix])
    complete = np.isfinite(coded).all(axis=1)

    def statistic(rows: np.ndarray) -> dict[str, float]:
        full = rows[complete[rows]]
        return {
            "fleiss_kappa": fleiss_kappa(coded[full]) if full.size else float("nan"),
            "krippendorff_alpha": krippendorff_alpha(coded[rows].T, level=alpha_level),
        }

    est = bootstrap_over_items(subject_items, statistic, n_boot=n_boot, seed=seed, level=level)
    majority_rows, n_vote_ties = _majority_rows(joined, unit_cols)
    majority, _ = _agreement_for(JURY_NAME, majority_rows, codes, kind, unit_cols, seed=seed, n_boot=n_boot, level=level)
    majority.n_vote_ties = n_vote_ties
    return JuryAgreement(
        judges=judges,
        fleiss_kappa=est["fleiss_kappa"],
        n_fleiss_subjects=int(complete.sum()),
        krippendorff_alpha=est["krippendorff_alpha"],
        alpha_level=alpha_level,
        n_alpha_subjects=int((np.isfinite(coded).sum(axis=1) >= 2).sum()),
        majority=majority,
    )


# --------------------------------------------------------------------------- ranking


def _ranking(
    name: str, table: _UnitTable, kind: str, codes: dict[str, int], *, seed: int, n_boot: int, level: float
) -> ModelRanking | None:
    """Per-model scores from the judge and from the humans, and their rank correlation."""
    from scipy import stats

    if kind == "pairwise":
        # Value of output 1: a win 1, a tie 0.5, a loss 0.
        value_of = np.full(len(codes), np.nan)
        value_of[codes["1"]], value_of[codes["2"]], value_of[codes["tie"]] = 1.0, 0.0, 0.5
        judge_value = np.where(table.verdict >= 0, value_of[np.maximum(table.verdict, 0)], np.nan)
        human_value = value_of[table.label]
        meaning = "win rate, ties counting half"
    elif kind == "correctness":
        judged = (table.verdict >= 0) & (table.verdict != codes[INVALID])
        judge_value = np.where(judged, (table.verdict == codes["1"]).astype(float), np.nan)
        human_value = table.label_number
        meaning = "share judged correct"
    else:
        judge_value = table.number
        human_value = table.label_number
        meaning = "mean score"
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a unit whose every verdict is invalid: NaN
        unit_judge = np.nanmean(np.where(np.isfinite(judge_value), judge_value, np.nan), axis=1)
    # Each unit credits its model; in a pairwise comparison with model_b, the
    # second output's model gets the complement.
    credit_items, credit_models, credit_judge, credit_human = [], [], [], []
    for side in ("model", "model_b"):
        models = getattr(table, side)
        has = models != ""
        if not has.any():
            continue
        flip = side == "model_b"
        credit_items.append(table.item[has])
        credit_models.append(models[has])
        credit_judge.append(1.0 - unit_judge[has] if flip else unit_judge[has])
        credit_human.append(1.0 - human_value[has] if flip else human_value[has])
    if not credit_models:
        return None
    items = np.concatenate(credit_items)
    model_names, model_codes = np.unique(np.concatenate(credit_models).astype(str), return_inverse=True)
    if model_names.size < 2:
        return None
    judge_credit, human_credit = np.concatenate(credit_judge), np.concatenate(credit_human)

    def per_model(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        keep = rows[np.isfinite(values[rows])]
        sums = np.bincount(model_codes[keep], weights=values[keep], minlength=model_names.size)
        counts = np.bincount(model_codes[keep], minlength=model_names.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums / counts

    def statistic(rows: np.ndarray) -> dict[str, float]:
        j, h = per_model(rows, judge_credit), per_model(rows, human_credit)
        keep = np.isfinite(j) & np.isfinite(h)
        if keep.sum() < 2 or np.ptp(j[keep]) == 0 or np.ptp(h[keep]) == 0:
            return {"spearman": float("nan"), "kendall": float("nan")}
        return {
            "spearman": float(stats.spearmanr(j[keep], h[keep]).statistic),
            "kendall": float(stats.kendalltau(j[keep], h[keep]).statistic),
        }

    est = bootstrap_over_items(items, statistic, n_boot=n_boot, seed=seed, level=level)
    every_row = np.arange(items.size)
    judge_scores = dict(zip(model_names.tolist(), per_model(every_row, judge_credit).tolist()))
    human_scores = dict(zip(model_names.tolist(), per_model(every_row, human_credit).tolist()))
    return ModelRanking(
        judge=name,
        models=model_names.tolist(),
        judge_scores=judge_scores,
        human_scores=human_scores,
        spearman=est["spearman"],
        kendall=est["kendall"],
        score_meaning=meaning,
    )


# --------------------------------------------------------------------------- entry point


def audit(
    verdicts: str | Path | pd.DataFrame,
    labels: str | Path | pd.DataFrame,
    *,
    seed: int = 0,
    n_boot: int = 1000,
    level: float = 0.95,
    kind: str | None = None,
    alpha_level: str | None = None,
) -> AuditResult:
    """Audit judges' verdicts against human labels.

    ``verdicts`` has columns ``item, judge, verdict`` and optionally ``order``
    (original/swapped; swapped verdicts already mapped back), ``model``,
    ``model_b``, ``score`` and ``invalid``; ``labels`` has ``item, label`` and
    optionally ``model``/``model_b``. Either may be a path or a DataFrame.
    ``kind`` (pairwise, correctness, score) is inferred from the labels unless
    given; ``alpha_level`` (nominal, ordinal, interval) from the kind and values.
    """
    if n_boot < 0:
        raise ConfigError(f"n_boot must be 0 or more, not {n_boot}")
    if not 0 < level < 1:
        raise ConfigError(f"level must be between 0 and 1, not {level}")
    if alpha_level is not None and alpha_level not in ALPHA_LEVELS:
        raise ConfigError(f"alpha_level must be one of {', '.join(ALPHA_LEVELS)}, not {alpha_level!r}")
    joined, kind, coverage, v_source, l_source = _prepare(verdicts, labels, kind)
    unit_cols = ["item", "model", "model_b"]
    categories = sorted(set(joined["_cat"]) | set(joined["_label"]) | {INVALID, VOTE_TIE})
    if kind == "pairwise":
        categories = sorted(set(categories) | set(PAIRWISE_VALUES))
    codes = {c: i for i, c in enumerate(categories)}
    opts = {"seed": seed, "n_boot": n_boot, "level": level}

    judges = list(dict.fromkeys(joined["judge"]))
    judge_results, rankings = [], []
    for name in judges:
        result, table = _agreement_for(name, joined[joined["judge"] == name], codes, kind, unit_cols, **opts)
        judge_results.append(result)
        ranking = _ranking(name, table, kind, codes, **opts)
        if ranking is not None:
            rankings.append(ranking)
    jury = None
    if len(judges) >= 2:
        jury = _jury(joined, judges, codes, kind, unit_cols, alpha_level or _alpha_level(kind, joined), **opts)
        if rankings:
            majority_rows, _ = _majority_rows(joined, unit_cols)
            table = _unit_table(majority_rows, codes, unit_cols)
            ranking = _ranking(JURY_NAME, table, kind, codes, **opts)
            if ranking is not None:
                rankings.append(ranking)
    return AuditResult(
        kind=kind,
        verdicts_source=v_source,
        labels_source=l_source,
        coverage=coverage,
        judges=judge_results,
        jury=jury,
        rankings=rankings,
        seed=seed,
        n_boot=n_boot,
        level=level,
    )

"""Reading an audit's two tables: checking the verdicts and the human labels, and joining them.

The kind of verdict (pairwise, correctness or score: a ``VerdictKind``) is
read from the labels unless given; every value is checked against it, and a
bad cell is named with its file and line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable
from assay.judge.protocols import KINDS, VerdictKind, verdict_kind
from assay.judge.protocols.base import CORRECTNESS_KIND, PAIRWISE_KIND, SCORE_KIND
from assay.judge.tables import (
    WHERE,
    as_number,
    called,
    canonical,
    flag,
    is_missing,
    load_table,
    located,
    require_columns,
)

ORDERS = ("original", "swapped")
MIN_LABELLED_ITEMS = 10
INVALID = "invalid"


def human_pairs_to_labels(path: str | Path) -> pd.DataFrame:
    """Turn a human-labelled pairwise file (JSON array of ``input, output_1,
    output_2, label``) into an audit labels table.

    Label mapping: 1 (output_1 is better) -> "1", 2 (output_2 is better) -> "2",
    "tie" -> "tie"; anything else is an error. The item id is a stable hash of
    the three texts, so the same pair gets the same id wherever it appears.
    Columns: item, label, input, output_1, output_2, source (the file's stem).
    """
    from assay.records import stable_hash

    frame = located(load_table(path, name="human labels"))
    require_columns(frame, ["input", "output_1", "output_2", "label"], "human labels file")
    rows = []
    for record in frame.to_dict("records"):
        label = canonical(record["label"])
        if label not in PAIRWISE_KIND.values:
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


# --------------------------------------------------------------------------- preparation


def _kind_of_labels(label_values: set[str], verdict_values: set[str]) -> VerdictKind | None:
    """The kind every label fits (the narrowest), or None."""
    if label_values <= set(CORRECTNESS_KIND.values or ()):
        # All-"1" labels are ambiguous; pairwise-only verdict values settle it.
        pairwise_only = set(PAIRWISE_KIND.values or ()) - set(CORRECTNESS_KIND.values or ())
        if "0" not in label_values and verdict_values & pairwise_only:
            return PAIRWISE_KIND
        return CORRECTNESS_KIND
    if label_values <= set(PAIRWISE_KIND.values or ()):
        return PAIRWISE_KIND
    if all(SCORE_KIND.fits(v) for v in label_values):
        return SCORE_KIND
    return None


def _kind_of_verdicts(verdict_values: set[str]) -> VerdictKind | None:
    """The categorical kind the valid verdicts settle on their own, if any."""
    if not verdict_values:
        return None
    if verdict_values <= set(CORRECTNESS_KIND.values or ()):
        return CORRECTNESS_KIND if "0" in verdict_values else None  # all "1" fits either
    if verdict_values <= set(PAIRWISE_KIND.values or ()):
        return PAIRWISE_KIND
    return None


def _misfits(lab: pd.DataFrame, kind: VerdictKind) -> list[tuple[str, Any]]:
    return [(where, raw) for value, raw, where in zip(lab["_cat"], lab["label"], lab[WHERE]) if not kind.fits(value)]


def _listed(misfits: list[tuple[str, Any]]) -> str:
    where, raw = misfits[0]
    text = f"{where}, column label: {raw!r}"
    if len(misfits) > 1:
        more = "; ".join(f"{w}: {r!r}" for w, r in misfits[1:4])
        text += f" (also {more}" + (f" and {len(misfits) - 4} more" if len(misfits) > 4 else "") + ")"
    return text


def _detect_kind(lab: pd.DataFrame, verdict_values: set[str]) -> VerdictKind:
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
    verdicts_kind = _kind_of_verdicts(verdict_values)
    if verdicts_kind is not None and label_kind is not verdicts_kind:
        misfits = _misfits(lab, verdicts_kind)
        if misfits and 5 * len(misfits) <= len(lab):
            name = verdicts_kind.name
            raise DataError(
                f"{_listed(misfits)} is not a {name} label ({verdicts_kind.allowed}), but every "
                f"valid verdict is {name} and {len(lab) - len(misfits)} of the {len(lab)} labels are; "
                f"correct the label{'s' if len(misfits) > 1 else ''} (or, in the library, pass kind= to audit "
                "the labels as another kind)"
            )
    if label_kind is not None:
        return label_kind
    best = max(KINDS, key=lambda kind: sum(kind.fits(v) for v in lab["_cat"]))
    misfits = _misfits(lab, best)
    raise DataError(
        f"{_listed(misfits)} fits none of the verdict kinds: pairwise (1, 2, tie), correctness (0, 1) or "
        f"score (numbers); {len(lab) - len(misfits)} of the {len(lab)} labels are {best.name} ({best.allowed})"
    )


def _check_values(
    frame: pd.DataFrame, column: str, kind: VerdictKind, what: str, skip: pd.Series | None = None
) -> None:
    for value, raw, where, skipped in zip(
        frame["_cat"], frame[column], frame[WHERE], skip if skip is not None else [False] * len(frame)
    ):
        if skipped:
            continue
        if is_missing(value):
            raise DataError(f"{where}, column {column}: {what} is empty; expected one of {kind.allowed}")
        if kind.values is not None and value not in kind.values:
            raise DataError(f"{where}, column {column}: {raw!r} is not a {kind.name} {what}; expected {kind.allowed}")
        if kind.values is None and math.isnan(as_number(value)):
            raise DataError(f"{where}, column {column}: {raw!r} is not a number (score {what}s are numbers)")


def _check_duplicates(frame: pd.DataFrame, keys: list[str], what: str) -> None:
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        same = frame[duplicated & (frame[keys] == first[keys]).all(axis=1)]
        described = ", ".join(f"{k}={first[k]!r}" for k in keys)
        raise DataError(f"{what}: {described} appears more than once ({'; '.join(same[WHERE].tolist())})")


def _text_column(frame: pd.DataFrame, column: str) -> None:
    for value, where in zip(frame[column], frame[WHERE]):
        if is_missing(value):
            raise DataError(f"{where}, column {column}: empty; every row needs a {column}")
    frame[column] = [str(v).strip() for v in frame[column]]


def _optional_text_column(frame: pd.DataFrame, column: str, what: str) -> pd.DataFrame:
    """An optional column (model, model_b): empty in every row means absent and
    is dropped (`assay export --what verdicts` writes an empty model_b for
    non-pairwise protocols); empty in some rows only is an error."""
    if column not in frame.columns:
        return frame
    empty = [is_missing(value) for value in frame[column]]
    if all(empty):
        return frame.drop(columns=column)
    if any(empty):
        where = frame[WHERE].iloc[empty.index(True)]
        raise DataError(
            f"{where}, column {column}: empty, while {len(empty) - sum(empty)} other row(s) of "
            f"{called(what, str(frame.attrs.get('source', 'table')))} have a {column}; {column} is optional, "
            "but give it in every row or in none"
        )
    frame[column] = [str(v).strip() for v in frame[column]]
    return frame


def prepare(
    verdicts: str | Path | pd.DataFrame, labels: str | Path | pd.DataFrame, kind: str | None
) -> tuple[pd.DataFrame, VerdictKind, Coverage, str, str]:
    """Validate both tables and join them; return (joined verdict rows, kind, coverage, sources)."""
    v = located(load_table(verdicts, name="verdicts"))
    lab = located(load_table(labels, name="labels"))
    v_source, l_source = v.attrs.get("source", "verdicts"), lab.attrs.get("source", "labels")
    require_columns(v, ["item", "judge", "verdict"], "verdicts")
    require_columns(lab, ["item", "label"], "labels")
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
                    f"{called('labels', l_source)} have a {column} column but {called('verdicts', v_source)} do not "
                    f"(or leave it empty); add {column} to the verdicts or drop it from the labels"
                )
            label_keys.append(column)

    spec = None
    if kind is not None:
        try:
            spec = verdict_kind(kind)
        except KeyError:
            raise ConfigError(f"kind must be one of {', '.join(k.name for k in KINDS)}, not {kind!r}") from None
    v["invalid"] = [flag(x, w, "invalid") for x, w in zip(v.get("invalid", [None] * len(v)), v[WHERE])]
    # Object columns, so that a missing value stays None (a text column would make it NaN).
    v["_cat"] = pd.Series([canonical(x) for x in v["verdict"]], index=v.index, dtype=object)
    lab["_cat"] = pd.Series([canonical(x) for x in lab["label"]], index=lab.index, dtype=object)
    for value, where in zip(lab["_cat"], lab[WHERE]):
        if value is None:
            raise DataError(f"{where}, column label: empty; every row needs a label")
    if spec is None:
        valid_verdicts = {c for c, invalid in zip(v["_cat"], v["invalid"]) if c is not None and not invalid}
        spec = _detect_kind(lab, valid_verdicts)
    _check_values(lab, "label", spec, "label")
    _check_values(v, "verdict", spec, "verdict", skip=v["invalid"])
    v.loc[v["invalid"], "_cat"] = INVALID

    if "order" in v.columns:
        orders = []
        for raw, where in zip(v["order"], v[WHERE]):
            order = "original" if is_missing(raw) else str(raw).strip().lower()
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
            number = as_number(canonical(raw))
            if math.isnan(number) and not invalid and not is_missing(raw):
                raise DataError(f"{where}, column score: {raw!r} is not a number")
            numbers.append(number)
        v["_num"] = numbers
    elif spec.numeric:
        v["_num"] = [as_number(c) for c in v["_cat"]]
    else:
        v["_num"] = np.nan

    _check_duplicates(lab, label_keys, called("labels", l_source))
    _check_duplicates(v, unit_cols + ["judge", "order"], called("verdicts", v_source))

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
            f"{called('labels', l_source)} cover {n_labelled_items} of the {n_verdict_items} items in "
            f"{called('verdicts', v_source)} "
            f"(unlabelled e.g.: {examples}); an audit needs at least {MIN_LABELLED_ITEMS} labelled items. "
            f"Check that both files use the same item ids"
            + (f" and {', '.join(label_keys[1:])}" if len(label_keys) > 1 else "")
        )
    joined = merged[labelled].drop(columns="_merge").reset_index(drop=True)
    joined["_label_num"] = [as_number(c) for c in joined["_label"]]
    for column in ("model", "model_b"):
        # "" means "no such model", so grouping never drops a key.
        joined[column] = joined[column].fillna("") if column in joined.columns else ""
    return joined, spec, coverage, str(v_source), str(l_source)

"""What judging costs: the mean cost (or tokens, or seconds) per verdict, with its interval.

The report's judges section shows these beside accuracy; they are computed here
so that the report only lays out numbers ``judge/`` and ``stats/`` produce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from assay.stats.binary import MeanCI

# The first of these columns with a value is the one shown.
COST_COLUMNS = (("cost", "cost per verdict"), ("tokens", "tokens per verdict"), ("latency", "seconds per verdict"))


def verdict_costs(
    verdicts: pd.DataFrame | None, judges: list[str], jury_name: str, confidence: float
) -> tuple[dict[str, MeanCI] | None, str | None]:
    """Mean cost per verdict for each judge and for the jury, with Student's t intervals.

    The jury's cost on a unit is the sum of its members' verdicts there, counted
    only where every member gave one. Returns (costs by name, what the cost
    measures), or (None, None) when the verdicts carry no cost column.
    """
    from assay.stats.intervals import mean_ci

    if verdicts is None:
        return None, None
    for column, meaning in COST_COLUMNS:  # noqa: B007 (the column found and its meaning are kept)
        if column in verdicts.columns and verdicts[column].notna().any():
            break
    else:
        return None, None
    costs = {}
    frame = verdicts[verdicts[column].notna()]
    for name in judges:
        values = frame.loc[frame["judge"] == name, column].to_numpy(float)
        if len(values) >= 2:
            # Costs are not 0/1 and their n is often small: the t interval, whatever the n.
            costs[name] = mean_ci(values, method="t", confidence=confidence)
    members = frame[frame["judge"].isin(judges)]
    per_unit = members.groupby(["unit", "order"])[column].agg(["sum", "size"])
    per_unit = per_unit[per_unit["size"] == len(judges)]["sum"].to_numpy(float)
    if len(judges) >= 2 and len(per_unit) >= 2:
        costs[jury_name] = mean_ci(per_unit, method="t", confidence=confidence)
    return costs, meaning

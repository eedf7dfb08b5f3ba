"""Which PassUntil rule (sample until K passes or B samples) a run can be read under."""

from __future__ import annotations

from typing import Any, Mapping

from assay.errors import ConfigError


def resolve_pass_until(
    recorded: Mapping[str, Any],
    pass_until: int | None,
    budget: int | None,
    *,
    source: str = "the run's config.json",
) -> tuple[int | None, int | None]:
    """The PassUntil rule (K, B) to report for a run, or (None, None) for plain pass@k.

    ``recorded`` is the run's configuration (``config.json``); ``pass_until``
    and ``budget`` what the user asked for (None when not given). A run sampled
    until K passes or B samples can only be read with that same rule: its items
    stopped at K passes, so a larger K has no data behind it and a different K
    or B would not be the rule the samples were drawn under. Asking for another
    K or B is a ``ConfigError`` naming both values. A run drawn with a fixed
    number of samples can be read under any rule given in full (K and B).
    """
    recorded_k, recorded_b = recorded.get("pass_until"), recorded.get("budget")
    if recorded_k:
        recorded_k, recorded_b = int(recorded_k), int(recorded_b) if recorded_b else None
        rule = f"--pass-until {recorded_k} --budget {recorded_b}"
        if pass_until is not None and int(pass_until) != recorded_k:
            raise ConfigError(
                f"--pass-until {pass_until} does not match the run: {source} records pass_until={recorded_k} "
                f"(budget {recorded_b}); its items stopped at {recorded_k} passes, so it can only be read with "
                f"{rule} (or drop both options)"
            )
        if budget is not None and recorded_b is not None and int(budget) != recorded_b:
            raise ConfigError(
                f"--budget {budget} does not match the run: {source} records budget={recorded_b} "
                f"(pass_until {recorded_k}); it can only be read with {rule} (or drop both options)"
            )
        return recorded_k, recorded_b if recorded_b is not None else budget
    if pass_until is None:
        if budget is not None:
            raise ConfigError(f"--budget {budget} needs --pass-until K (the run was not sampled that way)")
        return None, None
    if budget is None:
        raise ConfigError("--pass-until K needs --budget B (the run was not sampled that way)")
    return int(pass_until), int(budget)

"""``assay demo``: the main job on the two embedded models, in a few minutes on 2 cores.

1. Run SmolLM2-135M (chat) and Gemma 3 270M (base) on generated arithmetic at
   three difficulty levels, and compare them with honest intervals.
2. Sample SmolLM2 several times per item and report pass@k.
3. Judge the outputs with a two-judge jury of the same two models.
4. Write the HTML report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DemoResult:
    run_dir: str
    steps: list[tuple[str, Any]] = field(default_factory=list)
    report: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "report": self.report,
            **{name: result.to_dict() for name, result in self.steps},
        }

    def render(self):
        from rich.console import Group
        from rich.rule import Rule
        from rich.text import Text

        parts: list[Any] = []
        for name, result in self.steps:
            parts += [Rule(name), result.render()]
        parts.append(Text(f"\nresults stored in {self.run_dir}"))
        if self.report:
            parts.append(Text(f"report: {self.report}"))
        return Group(*parts)


def audit_against_gold(run_dir: Path):
    """Audit the reference judges of a run against what the task's scorer says
    (the gold answer is the label): how far a model judge can be trusted where
    the truth is known."""
    from assay.judge.audit import audit
    from assay.judge.protocols.reference import REFERENCE
    from assay.run.export import verdicts_frame
    from assay.run.store import scores_frame

    verdicts = verdicts_frame(run_dir)
    verdicts = verdicts[verdicts["protocol"] == REFERENCE.name]
    scores = scores_frame(run_dir)
    labels = scores[scores["item"].isin(set(verdicts["item"])) & (scores["sample"] == 0)]
    labels = labels[["model", "item"]].assign(label=scores.loc[labels.index, "score"].astype(int))
    return audit(verdicts[["item", "model", "judge", "verdict", "order", "invalid"]], labels, n_boot=500)


def run_demo(
    out: str | Path = "runs/demo", *, items_per_level: int = 10, judge_items: int = 10, progress: bool = True
) -> DemoResult:
    from assay.api import compare, passk, run

    out = Path(out)
    result = DemoResult(run_dir=str(out / "arithmetic"))
    main = run(
        "arithmetic",
        ["smollm2", "gemma3-270m"],
        params={"digits": "1,2,3", "n": str(items_per_level)},
        max_tokens=16,
        out=out / "arithmetic",
        progress=progress,
    )
    result.steps.append(("1. both embedded models on arithmetic, three difficulty levels", main))
    result.steps.append(("   compared: intervals, tied groups, paired difference", compare(out / "arithmetic")))

    sampled = run(
        "arithmetic",
        ["smollm2"],
        params={"digits": "1", "n": str(items_per_level)},
        samples=8,
        temperature=0.8,
        max_tokens=12,
        out=out / "sampled",
        progress=progress,
    )
    result.steps.append(("2. SmolLM2 sampled 8 times per item", sampled))
    passk_result = passk(out / "sampled", [1, 2, 4, 8])
    result.steps.append(("   pass@k with bootstrap intervals", passk_result))

    from assay.judge.judging import judge_run

    # A real two-judge jury from two model families; both are tiny, so the
    # point is the machinery (both orders, invalid verdicts counted, cost),
    # set beside the zero-cost lexical judge.
    jury = judge_run(
        out / "arithmetic",
        ["smollm2", "gemma3-270m"],
        protocol="reference",
        pool="majority",
        limit=judge_items,
        progress=progress,
    )
    result.steps.append((f"3. a jury of SmolLM2 and Gemma judges {judge_items} items against the gold answer", jury))
    lexical = judge_run(out / "arithmetic", [], protocol="contains", progress=progress)
    result.steps.append(("   the zero-cost lexical judge on the same outputs", lexical))
    audit_result = audit_against_gold(out / "arithmetic")
    result.steps.append(("   the judges audited against the gold answers", audit_result))

    from assay.report import write_report

    report = write_report(
        [out / "arithmetic"],
        passk=passk_result,
        audit=audit_result,
        judge=out / "arithmetic",
        out=out / "report.html",
        title="assay demo: SmolLM2-135M and Gemma 3 270M",
    )
    result.report = str(report.path)
    return result

"""assay.judge: LLM judges and juries, their audit, win rates and bias probes.

Names are exported lazily so that ``import assay.judge`` stays light.
"""

from __future__ import annotations

from assay.lazy import lazy_exports

_EXPORTS = {
    "judge_run": "assay.judge.judging",
    "JudgeResult": "assay.judge.judging",
    "JudgeSummary": "assay.judge.judging",
    "winrate_annotations": "assay.judge.judging",
    "parse_price": "assay.judge.judging",
    "Protocol": "assay.judge.protocols",
    "get_protocol": "assay.judge.protocols",
    "parse_reply": "assay.judge.parse",
    "verdict_schema": "assay.judge.parse",
    "pool_votes": "assay.judge.pool",
    "load_weights": "assay.judge.pool",
    "load_template": "assay.judge.prompts",
    "run_probes": "assay.judge.probes",
    "ProbeResult": "assay.judge.probes",
    "audit": "assay.judge.audit",
    "human_pairs_to_labels": "assay.judge.audit",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

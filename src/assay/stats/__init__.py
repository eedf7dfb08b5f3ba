"""assay.stats: intervals, paired tests, multiplicity, power, model comparison, sequential tests, IRT.

Names are re-exported lazily so that ``import assay.stats`` stays cheap; scipy,
statsmodels and pandas load with the submodule that needs them.
"""

from __future__ import annotations

from assay.lazy import lazy_exports

_EXPORTS = {
    "mean_ci": "assay.stats.intervals",
    "MeanCI": "assay.stats.intervals",
    "proportion_ci": "assay.stats.binary",
    "paired_diff": "assay.stats.paired",
    "PairedDiff": "assay.stats.paired",
    "adjust_pvalues": "assay.stats.multiplicity",
    "variance_components": "assay.stats.variance",
    "VarianceComponents": "assay.stats.variance",
    "required_items": "assay.stats.power",
    "minimum_detectable_effect": "assay.stats.power",
    "plan": "assay.stats.power",
    "mcnemar_exact_power": "assay.stats.power",
    "PlanResult": "assay.stats.power",
    "compare": "assay.stats.compare",
    "load_scores": "assay.stats.scores",
    "ScoreSource": "assay.stats.scores",
    "CompareResult": "assay.stats.compare",
    "across": "assay.stats.across",
    "AcrossResult": "assay.stats.across",
    "pass_at_k": "assay.stats.passk",
    "passk_report": "assay.stats.passk",
    "pass_until_report": "assay.stats.passuntil",
    "sequential_test": "assay.stats.sequential",
    "SequentialTest": "assay.stats.sequential",
    "betting_bounds": "assay.stats.sequential",
    "fit_irt": "assay.stats.irt",
    "IrtFit": "assay.stats.irt",
    "select_items": "assay.stats.irt",
    "estimate_scores": "assay.stats.irt",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

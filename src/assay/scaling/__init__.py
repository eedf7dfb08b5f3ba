"""assay.scaling: fit scaling laws, forecast with intervals, backtest, diagnose shapes.

Submodules import numpy, scipy and pandas; names are resolved lazily so that
importing ``assay.scaling`` stays cheap.
"""

from __future__ import annotations

from assay.lazy import lazy_exports

_EXPORTS = {
    "fit_law": "assay.scaling.fit",
    "load_fit": "assay.scaling.fit",
    "parse_at": "assay.scaling.fit",
    "ScalingFit": "assay.scaling.fit",
    "Prediction": "assay.scaling.fit",
    "backtest": "assay.scaling.backtesting",
    "BacktestResult": "assay.scaling.backtesting",
    "diagnose_shape": "assay.scaling.diagnostics",
    "diagnose_table": "assay.scaling.diagnostics",
    "ShapeDiagnosis": "assay.scaling.diagnostics",
    "forecast": "assay.scaling.forecast",
    "ForecastResult": "assay.scaling.forecast",
    "load_table": "assay.scaling.table",
    "LAWS": "assay.scaling.laws",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

"""assay.report: one self-contained HTML report with a picture, an interval and a method for every result.

>>> from assay.report import write_report
>>> write_report(["runs/arithmetic-1"], scaling=["fit.json"], audit="audit.json", out="report.html")

Names are resolved lazily so that importing ``assay.report`` stays cheap.
"""

from __future__ import annotations

from assay.lazy import lazy_exports

_EXPORTS = {
    "write_report": "assay.report.report",
    "ReportResult": "assay.report.report",
    "write_samples": "assay.report.samples",
    "check_in_browser": "assay.report.browser",
    "screenshot": "assay.report.browser",
    "find_chromium": "assay.report.browser",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

"""The sequential section's screenshot for the docs: ``python -m tests.report.screenshots_sequential docs/img``.

Its data (three models on 300 simulated binary items, ``compare --sequential``
with seed 4, looks every 10 items, margin 0.15) is the test's, not the main
report's, so the other screenshots stay as they are.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    from assay.api import compare
    from assay.report import write_report
    from tests.report.screenshots import section_screenshots
    from tests.report.test_report_sequential import scores_csv

    out_dir = Path(argv[0]) if argv else Path("docs/img")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        source = str(scores_csv(tmp / "scores.csv"))
        result = compare([source], sequential=True, seed=4, batch=10, margin=0.15)
        report = write_report([source], sequential=result, out=tmp / "report.html", title="assay report")
        report.sections = [s for s in report.sections if s.id == "sequential"]
        for path in section_screenshots(report, out_dir, tmp):
            print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Screenshots of each report section, for the docs: ``python -m tests.report.screenshots docs/img``.

Builds the same real inputs as the tests, writes the report, renders each
section alone in headless Chromium and saves ``report-<section>.png``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HEADER = 110  # page title and subtitle above a lone section
WIDTH = 960


def build_report(tmp: Path):
    from assay.report import write_report
    from tests.report import data

    run = data.make_run(tmp / "run")
    audit = data.make_audit(tmp)
    scaling = data.make_scaling(tmp)
    return write_report([run], scaling=scaling, audit=audit, out=tmp / "report.html", title="assay report")


def section_screenshots(result, out_dir: Path, tmp: Path) -> list[Path]:
    """One PNG per section of ``result``, each rendered alone at its own height."""
    from assay.report.browser import screenshot

    paths = []
    for section in result.sections:
        page = tmp / f"section-{section.id}.html"
        page.write_text(result.section_page(section.id), encoding="utf-8")
        paths.append(
            screenshot(page, out_dir / f"report-{section.id}.png", width=WIDTH, height=HEADER + section.height)
        )
    return paths


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else Path("docs/img")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        result = build_report(tmp)
        for path in section_screenshots(result, out_dir, tmp):
            print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

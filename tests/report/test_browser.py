"""End to end: the report in headless Chromium draws every plot without a script error; one screenshot per section."""

from __future__ import annotations

import pytest

from assay.report.browser import check_in_browser
from tests.report.screenshots import WIDTH, section_screenshots

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_draws_in_chromium(report, chromium):
    check = check_in_browser(report.path)
    assert check.page_errors == 0 and check.console_errors == [] and check.error_banner == ""
    assert len(check.figures) == report.n_figures == 9
    for figure in check.figures:
        assert figure.svg_count > 0 and figure.drawn_marks > 0, figure
    assert check.plots_drawn == 9 and check.ok


def test_the_check_sees_a_broken_page(tmp_path, chromium):
    """The same check on a page whose figure script fails must report it (so a pass above means something)."""
    from assay.report.page import Figure, Section, page

    broken = Section(
        "broken", "Broken", "", [Figure("fig1", '{"data": [{"type": "scatter", "x": [1], "y": [2]}]}', 200)]
    )
    text = page("t", "", [broken], plotly_js="window.Plotly = undefined;")
    path = tmp_path / "broken.html"
    path.write_text(text)
    check = check_in_browser(path)
    assert not check.ok
    assert check.page_errors and check.page_errors > 0
    assert "Plotly" in check.error_banner or check.console_errors
    assert check.figures and not check.figures[0].ok


def test_one_screenshot_per_section(report, chromium, tmp_path):
    shots = section_screenshots(report, tmp_path / "img", tmp_path)
    assert [p.name for p in shots] == [f"report-{s.id}.png" for s in report.sections]
    for shot in shots:
        head = shot.read_bytes()[:24]
        assert head[:8] == PNG
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert width == WIDTH and height > 300
        assert 10_000 < shot.stat().st_size < 250_000, shot  # a drawn page, not a blank one


@pytest.mark.parametrize("width", [960, 1400])
def test_nothing_overflows_the_window(report, chromium, width):
    check = check_in_browser(report.path, width=width)
    assert check.ok, check.to_dict()
    assert check.overflow == [], check.overflow


def test_the_overflow_check_sees_a_table_too_wide_for_the_window(tmp_path, chromium):
    """A page whose figure is wider than the window must be reported (so an empty list above means something)."""
    from assay.report.page import Section, page

    wide = Section("wide", "Wide", "", ['<div id="too-wide" style="width:2000px;height:20px"></div>'])
    path = tmp_path / "wide.html"
    path.write_text(page("t", "", [wide], plotly_js=""))
    check = check_in_browser(path, width=960)
    assert "too-wide" in check.overflow and "page" in check.overflow

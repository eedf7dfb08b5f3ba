from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.report import data


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    """Real inputs: a run made by the runner, an audit on human labels, scaling fits on Pythia evals."""
    if not data.SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {data.SHARED_DATA}")
    tmp = tmp_path_factory.mktemp("report-inputs")
    return {
        "tmp": tmp,
        "run": data.make_run(tmp / "run"),
        "audit": data.make_audit(tmp),
        "scaling": data.make_scaling(tmp),
    }


@pytest.fixture(scope="session")
def report(inputs, tmp_path_factory):
    from assay.report import write_report

    out = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(
        [inputs["run"]], scaling=inputs["scaling"], audit=inputs["audit"], out=out, title="assay test report"
    )


@pytest.fixture(scope="session")
def chromium():
    """The chromium binary, installed with scripts/ensure_chromium.sh when missing."""
    from assay.report.browser import find_chromium

    found = find_chromium()
    if found is None:
        script = Path(__file__).resolve().parents[2] / "scripts" / "ensure_chromium.sh"
        subprocess.run(["sh", str(script)], check=False, timeout=900)
        found = find_chromium()
    if found is None:
        pytest.skip(
            "chromium is not installed and scripts/ensure_chromium.sh could not install it "
            "(needs root and apt-get with network access)"
        )
    return found

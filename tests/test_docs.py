"""The documentation, run: every command block in README.md and docs/*.md.

Each fenced block is one of:

* **commands** (``assay ...`` lines, a shell block): run in order, in one
  working directory per page, as a user would paste them. A page's inputs
  (``evals.csv``, ``mt-bench.json``, ``items.jsonl``, ...) are put there first,
  made from the shared data or by a fake model; placeholders a reader fills in
  (``runs/arithmetic-...``, ``RUN_DIR``) become the runs made by the blocks
  before. Inputs are kept small: every ``assay run`` without ``--limit`` gets
  ``--limit 2`` (and ``--max-tokens 16`` without one), judges ``--limit 10
  --max-tokens 24``, bootstraps 20 draws;
  the local ``llama_cpp.server`` stands in for an OpenAI-compatible endpoint.
  Each command must exit 0 without a traceback, and some must print what
  the text around them says they print.
* **python**: run the same way (``python -c``).
* **synopsis** (an ``assay`` line with ``[--option ...]`` notation): every
  option it names must be one the command's ``--help`` lists.
* **benchmark** commands (minutes to hours each): every script they name must
  exist and answer ``--help``; their figures are measured by hand.
* **exempt**: listed in ``EXEMPT`` with the reason.

A block that is none of these fails the test, so a new block is either run
or exempted on purpose.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BIN = Path(sys.executable).parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
SYNOPSIS = re.compile(r"\[-|\[[A-Z]")
BENCHMARK = re.compile(r"^(?:PYTHONPATH=src python3|\.venv/bin/python) (benchmarks/\S+\.py)")

# Blocks not run, by page and the start of their first line, with why.
EXEMPT = {
    ("README.md", "make demo"): "make demo and make test are what CI and a fresh clone run; a test cannot run them",
    ("benchmarks.md", "assay run arithmetic --param digits=1,2 --param n=100"): (
        "a benchmark: 200 items on two embedded models, several minutes; its scripts' siblings are checked"
    ),
}

# What a command must print (a regular expression on stdout), by page and a piece of the command.
EXPECT = {
    ("README.md", "assay run arithmetic"): r"95% CI",
    ("README.md", "assay compare runs/arithmetic"): r"tied|group",
    ("README.md", "assay plan"): r"items",
    ("README.md", "assay scale predict"): r"at params=7e\+10: [\d.]+ \[[\d.]+, [\d.]+\]",
    ("README.md", "assay scale backtest"): r"coverage",
    ("statistics.md", "assay compare runs/gsm8k runs/humaneval --json"): r'"suite"',
    ("likelihood.md", "assay run arc_easy"): r"acc_norm",
    ("running.md", "--across variant"): r"variant",
}


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.page.name}:{self.line}"

    def lines(self) -> list[str]:
        """Logical lines: continuations joined, blank lines and comment-only lines dropped."""
        joined = re.sub(r"\\\n\s*", " ", self.text)
        return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]

    @property
    def kind(self) -> str:
        for (page, start), _ in EXEMPT.items():
            if self.page.name == page and self.lines() and self.lines()[0].startswith(start):
                return "exempt"
        if self.lang == "python":
            return "python"
        lines = self.lines()
        if any(BENCHMARK.match(line) for line in lines) or any(line.startswith("git worktree") for line in lines):
            return "benchmark"
        if not any(line.startswith("assay ") for line in lines):
            return "text"
        if any(SYNOPSIS.search(line) for line in lines if line.startswith("assay ")):
            return "synopsis"
        return "commands"


def blocks(page: Path) -> list[Block]:
    found, current, start, lang = [], None, 0, ""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if match and current is None:
            current, start, lang = [], number, match.group(1)
        elif line.strip() == "```" and current is not None:
            found.append(Block(page, start, lang, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    return found


ALL = [b for page in PAGES for b in blocks(page) if b.kind != "text"]


# ---- the inputs each page's commands name -----------------------------------------------------------


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(source)


def _fake_run(out: Path, n: int = 4) -> None:
    from assay.run.runner import run_eval
    from assay.tasks.arithmetic import arithmetic_task
    from tests.run.fakes import ArithmeticFake

    task = arithmetic_task({"n": str(n)})
    run_eval(task, [ArithmeticFake("fake-a"), ArithmeticFake("fake-b", wrong_every=2)], out=out, progress=False)


def _prepare(page: str, ws: Path) -> None:
    evals = SHARED / "pythia_opt_bloom_evals.csv"
    if page in ("README.md", "scaling.md"):
        _link(evals, ws / "evals.csv")
        _link(evals, ws / "pythia_opt_bloom_evals.csv")
    if page == "README.md":
        # The ten shortest pairs: an audit needs ten labelled items, and short ones keep the server quick.
        pairs = json.loads((SHARED / "judge_human_labels" / "mt-bench.json").read_text())
        (ws / "mt-bench.json").write_text(json.dumps(sorted(pairs, key=lambda p: len(json.dumps(p)))[:10]))
    if page == "likelihood.md":
        rows = [
            {"question": "Which is a fruit?", "options": ["stone", "apple", "chair"], "right": 1},
            {"question": "Which is a colour?", "options": ["blue", "dog", "seven"], "right": "blue"},
            {"question": "Which can fly?", "options": ["fish", "rock", "bird"], "right": 2},
        ]
        (ws / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (ws / "corpus.txt").write_text("The cat sat on the mat.\nRivers run to the sea.\nSix times seven is 42.\n")
    if page == "running.md":
        rows = [{"input": f"{a} + {b}", "target": str(a + b)} for a, b in ((2, 3), (4, 4), (7, 1))]
        (ws / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (ws / "plain.j2").write_text("{{ input }} =")
        (ws / "qa.j2").write_text("Question: what is {{ input }}?\nAnswer:")
    if page == "importing.md":
        real = REPO / "tests" / "importers" / "fixtures" / "real"
        (ws / "logs").mkdir(exist_ok=True)
        shutil.copy(real / "inspect" / "arith_max1.eval", ws / "logs" / "arith.eval")
        shutil.copytree(real / "lm-eval", ws / "lm_eval_out", dirs_exist_ok=True)
    if page == "judges.md":
        _fake_run(ws / "runs" / "qa")
    if page == "report.md":
        from assay.scaling import backtest, fit_law
        from tests.report.data import PIQA, make_audit

        _fake_run(ws / "runs" / "arithmetic-1")
        _fake_run(ws / "runs" / "gsm8k")
        fit_law(evals, "sigmoid", "params", "value", where=PIQA, bootstrap=20, chance=0.5).save(ws / "fit.json")
        import pandas as pd

        table = pd.read_csv(evals)
        lambada = table.query("family == 'pythia' and shots == 0 and task == 'lambada_openai' and metric == 'ppl'")
        test = backtest(lambada.rename(columns={"value": "ppl"}), "power", "params", "ppl", bootstrap=20)
        (ws / "backtest.json").write_text(json.dumps(test.to_dict(), default=str))
        make_audit(ws, n_boot=50)
    if page == "statistics.md":
        from assay.run.runner import run_eval
        from assay.tasks.registry import get_task
        from tests.run.test_likelihood_runner import LengthScorer

        # Two scorers of text on the shipped MMLU items under two prompt variants: the multiverse's run.
        mmlu = get_task("mmlu", data="sample", prompt_variants=2)
        run_eval(
            mmlu, [LengthScorer("short"), LengthScorer("long", rate=-1.0)], out=ws / "runs" / "mmlu", progress=False
        )
        lines = (SHARED / "gsm8k" / "test.jsonl").read_text().splitlines()[:3]
        (ws / "gsm8k_test.jsonl").write_text("\n".join(lines) + "\n")
        with gzip.open(SHARED / "humaneval" / "HumanEval.jsonl.gz", "rt") as handle:
            problems = [next(handle) for _ in range(3)]
        (ws / "humaneval.jsonl").write_text("".join(problems))


# What a page's Python blocks take as given (a reader's own data), defined before them.
PRELUDE = {
    "statistics.md": (
        "import numpy as _np, pandas as _pd\n"
        "_rng = _np.random.default_rng(0)\n"
        "scores = _pd.DataFrame([{'model': m, 'item': f'q{i}', 'variant': f'v{v}', 'score': int(_rng.random() < p)}"
        " for m, p in (('a', 0.7), ('b', 0.5)) for i in range(30) for v in range(3)])\n"
    ),
}
_PYTHON_RUN: dict[str, list[str]] = {}  # the Python blocks of each page run so far


def _adapt(command: str, page: str, server: str | None) -> str:
    """A documented command on this test's small inputs (see the module's docstring)."""
    command = command.replace("runs/arithmetic-...", "runs/arithmetic-*").replace("RUN_DIR", "runs/arithmetic-*")
    command = command.replace("--data ~/data/mmlu_test.parquet", "--data sample")
    command = re.sub(r"(--)?bootstrap[ =]200", lambda m: m.group(0).replace("200", "20"), command)
    command = command.replace("limit=20", "limit=3")
    if page == "likelihood.md":
        command = re.sub(r"\bRUN\b", "runs/arc_easy-*", command)
    if server is not None:
        command = command.replace("http://127.0.0.1:8000/v1", server)
    if command.startswith("assay run ") and "--limit" not in command:
        command += " --limit 2"
    if command.startswith("assay run ") and "--max-tokens" not in command:
        command += " --max-tokens 16"
    if command.startswith("assay judge ") and "--limit" not in command:
        command += " --limit 10 --max-tokens 24"
    if command.startswith("assay import-pairs ") and "--limit" not in command:
        command += " --limit 10"
    if command.startswith("assay audit ") and "--probe-judge" in command:
        command += " --probe-n 1 --n-boot 50"
    return command


def _needs_server(block: Block) -> bool:
    return any("openai:" in line and line.startswith("assay ") for line in block.lines())


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    made: dict[str, Path] = {}

    def workspace(page: str) -> Path:
        if page not in made:
            made[page] = tmp_path_factory.mktemp(page.replace(".", "_"))
            _prepare(page, made[page])
        return made[page]

    return workspace


def _env(ws: Path, server: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ASSAY_CACHE_DIR": str(ws / ".cache"),
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    if server is not None:
        env.update(OPENAI_BASE_URL=server, OPENAI_API_KEY="not-needed-locally")
    return env


def _run(script: list[str], ws: Path, env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    done = subprocess.run(script, cwd=ws, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{what}\nexit {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, f"{what}\n{done.stderr[-3000:]}"
    return done


def test_every_block_is_run_or_exempted_on_purpose():
    kinds = {b.id: b.kind for b in ALL}
    assert set(kinds.values()) <= {"commands", "python", "synopsis", "benchmark", "exempt"}
    for (page, start), _ in EXEMPT.items():
        assert any(b.page.name == page and b.lines()[0].startswith(start) for b in ALL), f"stale exemption {start}"


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in ALL if b.kind in ("commands", "python")], ids=lambda b: b.id)
def test_documented_commands_run(block, workspaces, smollm2_server):
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    page = block.page.name
    ws = workspaces(page)
    url = smollm2_server() if _needs_server(block) or (page == "README.md" and "--base-url" in block.text) else None
    env = _env(ws, url)
    if block.kind == "python":
        # A page's Python blocks are one session, as a reader runs them: each sees what the ones before defined.
        code = PRELUDE.get(page, "") + "".join(_PYTHON_RUN.get(page, [])) + _adapt(block.text, page, url)
        _run([sys.executable, "-c", code], ws, env, f"{block.id} (python)")
        _PYTHON_RUN.setdefault(page, []).append(_adapt(block.text, page, url))
        return
    for line in block.lines():
        command = _adapt(line, page, url)
        done = _run(["bash", "-o", "pipefail", "-c", command], ws, env, f"{block.id}: {command}")
        for (where, piece), pattern in EXPECT.items():
            if where == page and piece in line:
                assert re.search(pattern, done.stdout), f"{block.id}: {command}: no {pattern!r} in\n{done.stdout}"


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "synopsis"], ids=lambda b: b.id)
def test_synopses_name_real_options(block):
    for line in block.lines():
        if not line.startswith("assay "):
            continue
        words = line.split()
        command = [w for w in words[1:3] if re.fullmatch(r"[a-z-]+", w)]
        if command and command[0] in ("scale",):
            command = command[:2]
        else:
            command = command[:1]
        shown = subprocess.run(
            [sys.executable, "-m", "assay.cli", *command, "--help"],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line):
            assert option in shown.stdout, f"{block.id}: assay {' '.join(command)} has no {option}"


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "benchmark"], ids=lambda b: b.id)
def test_benchmark_scripts_exist_and_answer_help(block):
    for line in block.lines():
        match = BENCHMARK.match(line)
        if not match:
            continue
        script = REPO / match.group(1)
        assert script.is_file(), f"{block.id}: {script} does not exist"
        shown = subprocess.run(
            [sys.executable, str(script), "--help"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
            timeout=120,
        )
        assert shown.returncode == 0 and "usage" in shown.stdout.lower(), f"{block.id}: {shown.stderr[-800:]}"
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line):
            assert option in shown.stdout, f"{block.id}: {script.name} has no {option}"

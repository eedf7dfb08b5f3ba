"""Real inputs for the report: a run made by the runner, a judge audit on human labels, scaling fits on Pythia.

Used by the tests and by ``python -m tests.report.screenshots`` (which makes the
screenshots in docs/img).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from assay.models.base import GenParams
from assay.records import Sample

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
LABEL_SETS = ("mt-bench.json",)


class SkilledFake:
    """Answers arithmetic with a chance of being right that falls with the operands' digits.

    P(right) = skill ** digits, decided by a hash of (name, expression, sample
    seed), so the run is reproducible and harder levels score lower.
    """

    chat, family = True, "fake"

    def __init__(self, name: str, skill: float):
        self.name, self.skill = name, skill

    @property
    def identity(self):
        return {"backend": "skilled-fake", "name": self.name, "skill": self.skill}

    async def generate(self, prompt, params: GenParams, sample_index: int) -> Sample:
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        expression = re.findall(r"(-?\d+(?: [-+*] \d+)+)", text)[-1]
        digits = max(len(n) for n in re.findall(r"\d+", expression))
        seed = f"{self.name}|{expression}|{params.seed}|{sample_index if params.temperature > 0 else 0}"
        u = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) / 2**32
        answer = eval(expression)  # noqa: S307 - digits and + - * only
        if u >= self.skill**digits:
            answer += 1 + int(u * 7)
        return Sample(text=str(answer), tokens_in=len(text) // 4, tokens_out=3, latency=0.001, finish_reason="stop")

    def close(self):
        pass


def make_run(out: Path, *, samples: int = 6, n: int = 24) -> Path:
    """Three models of different skill on arithmetic with three difficulty levels."""
    from assay.run.runner import run_eval
    from assay.tasks.arithmetic import arithmetic_task

    task = arithmetic_task({"digits": "1,2,3", "ops": "1", "n": str(n)})
    models = [SkilledFake("large", 0.93), SkilledFake("medium", 0.85), SkilledFake("small", 0.72)]
    run_eval(task, models, samples=samples, temperature=0.8, out=out, progress=False, use_cache=False)
    return out


def make_scores_csv(out: Path, *, n: int = 80, seed: int = 3) -> Path:
    """Per-item scores of two more models (a score file source), with a difficulty column."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, p in (("baseline-a", 0.55), ("baseline-b", 0.5)):
        for i in range(n):
            level = ("easy", "hard")[i % 2]
            rows.append(
                {
                    "model": model,
                    "item": f"q{i}",
                    "score": int(rng.random() < p + (0.15 if level == "easy" else -0.15)),
                    "difficulty": level,
                }
            )
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


def human_labels() -> pd.DataFrame:
    from assay.judge.audit import human_pairs_to_labels

    return pd.concat(
        [human_pairs_to_labels(SHARED_DATA / "judge_human_labels" / name) for name in LABEL_SETS], ignore_index=True
    )


def make_verdicts(labels: pd.DataFrame, out: Path, *, seed: int = 0) -> Path:
    """Three judges of different quality and position bias, in both orders, with token counts."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, q, tokens in (("judge-large", 0.8, 900), ("judge-mid", 0.65, 450), ("judge-small", 0.5, 200)):
        for item, label in zip(labels["item"], labels["label"]):
            for order, first_shown in (("original", "1"), ("swapped", "2")):
                verdict = label if rng.random() < q else first_shown
                rows.append(
                    {
                        "item": item,
                        "judge": name,
                        "verdict": verdict,
                        "order": order,
                        "tokens_in": int(tokens + rng.integers(0, 200)),
                        "tokens_out": int(rng.integers(20, 120)),
                    }
                )
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


def make_audit(tmp: Path, *, n_boot: int = 200) -> Path:
    from assay.judge.audit import audit

    labels = human_labels()
    verdicts = make_verdicts(labels, tmp / "verdicts.csv")
    result = audit(verdicts, labels, n_boot=n_boot, seed=1)
    path = tmp / "audit.json"
    path.write_text(json.dumps(result.to_dict()))
    return path


PIQA = "family == 'pythia' and step == 143000 and shots == 0 and metric == 'acc' and task == 'piqa'"


def make_scaling(tmp: Path, *, bootstrap: int = 60) -> list:
    """A sigmoid fit saved as JSON (data read back from the CSV it names) and a backtest with held-out models."""
    from assay.scaling import backtest, fit_law

    evals = SHARED_DATA / "pythia_opt_bloom_evals.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_law(evals, "sigmoid", "params", "value", where=PIQA, bootstrap=bootstrap, chance=0.5, seed=0)
        path = fit.save(tmp / "piqa_fit.json")
        table = pd.read_csv(evals)
        lambada = table.query("family == 'pythia' and shots == 0 and task == 'lambada_openai' and metric == 'ppl'")
        lambada = lambada.rename(columns={"value": "ppl"})
        test = backtest(lambada, "kaplan", "params,tokens", "ppl", holdout_largest=2, bootstrap=bootstrap // 2, seed=0)
    return [path, (test, lambada)]

"""The robustness section's screenshot for the docs: ``python -m tests.report.screenshots_robustness docs/img``.

Three fake models on 60 arithmetic items under three prompt variants; each is
right with a fixed chance decided by a hash of the whole prompt, so a variant
moves every model's score as a real prompt change would. Model ``steady``'s
requests for five items fail. Pre-registered: variant v0, failures excluded,
the automatic interval.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
from pathlib import Path

from assay.models.base import GenParams
from assay.records import Sample

SPEC = {"variant": "v0", "errors": "excluded", "interval": "auto"}


class PromptSensitiveFake:
    """Right with chance ``skill``, drawn from a hash of the model's name and the whole prompt."""

    chat, family = False, "fake"

    def __init__(self, name: str, skill: float, fail=()):
        self.name, self.skill, self.fail = name, skill, set(fail)

    @property
    def identity(self):
        return {"backend": "prompt-sensitive-fake", "name": self.name, "skill": self.skill}

    async def generate(self, prompt, params: GenParams, sample_index: int) -> Sample:
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        expression = re.findall(r"(-?\d+(?: [-+*] \d+)+)", text)[-1]
        if expression in self.fail:
            return Sample(text=None, error="HTTP 503 from fake")
        u = int(hashlib.sha256(f"{self.name}|{text}".encode()).hexdigest()[:8], 16) / 2**32
        answer = eval(expression) + (0 if u < self.skill else 1)  # noqa: S307 - digits and + - * only
        return Sample(text=str(answer), tokens_in=len(text) // 4, tokens_out=3, latency=0.001, finish_reason="stop")

    def close(self):
        pass


def make_run(out: Path) -> Path:
    from assay.run.runner import run_eval
    from assay.tasks.registry import get_task

    task = get_task("arithmetic", params={"n": "60"}, template="Question: {{ input }}\nAnswer:", prompt_variants=3)
    failing = [it.input["input"] for it in task.items[:5]]
    models = [
        PromptSensitiveFake("steady", 0.78, fail=failing),
        PromptSensitiveFake("middle", 0.64),
        PromptSensitiveFake("close", 0.6),
    ]
    run_eval(task, models, out=out, progress=False, use_cache=False)
    return out


def main(argv: list[str]) -> int:
    from assay.report import write_report
    from tests.report.screenshots import section_screenshots

    out_dir = Path(argv[0]) if argv else Path("docs/img")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        run = make_run(tmp / "run")
        report = write_report([run], out=tmp / "report.html", title="assay report", spec=SPEC)
        report.sections = [s for s in report.sections if s.id == "robustness"]
        for path in section_screenshots(report, out_dir, tmp):
            print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

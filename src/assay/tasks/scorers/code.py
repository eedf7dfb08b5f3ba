"""The ``code`` scorer: run HumanEval-format unit tests on a completion in the sandbox.

An item's input holds ``prompt`` (imports, signature and docstring),
``test`` (defining ``check(candidate)``) and ``entry_point`` (the function
name). A completion may take either of two forms:

* a **continuation** of the prompt, the function body as HumanEval was
  designed for: the program is prompt + completion. Top-level lines that
  start running code instead of defining it (``if __name__``, ``print(``,
  ``assert``) and anything after them are cut, as models often add a demo
  after the function;
* a **full definition**, usually in a fenced block (```python ... ```): when
  the code defines ``entry_point`` at top level, the program is the prompt
  (whose imports and helper functions it may rely on; the prompt's own
  definition has only a docstring, which is valid Python) followed by the
  code, which redefines the function.

Only the first fenced block that defines the entry point is used (or the first
fenced block if none does).

The program (prompt + completion) runs in the sandbox; the item's tests run
in a trusted checker that calls the candidate's functions across a plain-data
channel (``tasks.sandbox``), so the candidate cannot forge its verdict. The
tests are either HumanEval's ``def check(candidate)``, called with the entry
point, or MBPP-style statements (``assert f(x) == y``) run as they are, the
names they call bound to the candidate's functions. The score is 1 when the
tests run without raising, else 0 with the reason in ``detail``. Where
bubblewrap cannot run, every detail ends with ``; sandbox: weak``.

What cannot cross the channel cannot be tested this way: a candidate that must
return an instance of its own class, a generator or a function, or tests that
inspect how the candidate mutated an argument, fail.
"""

from __future__ import annotations

import re
from typing import Iterable

from assay.errors import DataError
from assay.records import Item, Score
from assay.tasks.sandbox import SandboxLimits, SandboxResult, check_in_sandbox, run_parallel

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_RUNS_CODE = re.compile(r"^(?:if __name__|print\(|assert\b|```)", re.MULTILINE)

DEFAULT_LIMITS = SandboxLimits(timeout=10.0)


def _fields(item: Item) -> tuple[str, str, str]:
    missing = [k for k in ("prompt", "test", "entry_point") if not isinstance(item.input.get(k), str)]
    if missing:
        raise DataError(
            f"item {item.id!r} lacks text field(s) {missing} needed by the code scorer "
            "(HumanEval format: prompt, test, entry_point)"
        )
    return item.input["prompt"], item.input["test"], item.input["entry_point"]


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def extract_code(output: str, entry_point: str) -> tuple[str, bool]:
    """The code in a completion and whether it is a full definition of ``entry_point``."""
    blocks = _FENCE.findall(output)
    if blocks:
        chosen = next((b for b in blocks if _defines(b, entry_point)), blocks[0])
        return chosen, _defines(chosen, entry_point)
    if _defines(output, entry_point):
        return output, True
    cut = _RUNS_CODE.search(output)
    return (output[: cut.start()] if cut else output), False


def build_program(output: str, item: Item) -> str:
    """The program the sandbox runs: the prompt and the completion (the tests stay outside)."""
    prompt, _, entry_point = _fields(item)
    code, full = extract_code(output, entry_point)
    return prompt + "\n" + code if full else prompt + code


WEAK_LABEL = "sandbox: weak"


def _to_score(result: SandboxResult) -> Score:
    score = Score(1.0, "passed") if result.passed else Score(0.0, result.reason or result.status)
    if result.isolation != "bwrap":
        score = Score(score.value, f"{score.detail}; {WEAK_LABEL}")
    return score


def _check(output: str, item: Item, limits: SandboxLimits) -> SandboxResult:
    prompt, test, entry_point = _fields(item)
    return check_in_sandbox(
        build_program(output, item), prompt=prompt, test=test, entry_point=entry_point, limits=limits
    )


def code(output: str, item: Item) -> Score:
    """Score one completion: 1 if the item's tests pass against it, else 0 with the reason."""
    return _to_score(_check(output, item, DEFAULT_LIMITS))


def score_code_batch(
    outputs_and_items: Iterable[tuple[str, Item]],
    workers: int = 2,
    *,
    limits: SandboxLimits | None = None,
) -> list[Score]:
    """Score many completions in parallel sandboxes (at most ``workers`` at once), in input order."""
    pairs = list(outputs_and_items)
    for _, item in pairs:
        _fields(item)
    results = run_parallel(lambda pair: _check(pair[0], pair[1], limits or DEFAULT_LIMITS), pairs, workers)
    return [_to_score(r) for r in results]

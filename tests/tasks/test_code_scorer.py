import gzip
import json
from pathlib import Path

import pytest

from assay.errors import DataError
from assay.records import Item, Score
from assay.tasks import sandbox
from assay.tasks.sandbox import SandboxLimits
from assay.tasks.scorers.code import build_program, code, extract_code, score_code_batch

HUMANEVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"

ADD = Item(
    id="add",
    input={
        "prompt": 'import math\n\n\ndef add(a: int, b: int) -> int:\n    """Add two numbers."""\n',
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
        "entry_point": "add",
    },
)


@pytest.fixture(scope="module")
def humaneval():
    if not HUMANEVAL.exists():
        pytest.skip(f"HumanEval data not found at {HUMANEVAL}")
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [Item(id=r["task_id"], input=r) for r in rows]


# A wrong answer of the right type: the canonical result, changed.
PERTURB = """
def _perturb(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, (list, tuple)):
        return type(value)(list(value) + [0])
    return 0 if value is None else None
"""

# The canonical result, wrapped in an object that claims to equal anything.
ALWAYS_EQUAL = """
class _Anything:
    def __init__(self, value):
        self.value = value
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = None

def _perturb(value):
    return _Anything(value)
"""


def wrapped(item: Item, wrapper: str) -> str:
    """A full definition of the entry point that returns ``_perturb(canonical result)``."""
    entry = item.input["entry_point"]
    return (
        "```python\n"
        + item.input["prompt"]
        + item.input["canonical_solution"]
        + f"\n\n_correct = {entry}\n\n\ndef {entry}(*args, **kwargs):\n"
        + "    return _perturb(_correct(*args, **kwargs))\n"
        + wrapper
        + "```\n"
    )


def test_extract_code_handles_both_completion_forms():
    body = "    return a + b\n"
    assert extract_code(body, "add") == (body, False)
    fenced = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nDone."
    assert extract_code(fenced, "add") == ("def add(a, b):\n    return a + b\n", True)
    fenced_body = "```\n    return a + b\n```"
    assert extract_code(fenced_body, "add") == ("    return a + b\n", False)
    two_blocks = "```python\nprint(1)\n```\n```python\ndef add(a, b):\n    return b + a\n```"
    assert extract_code(two_blocks, "add")[0] == "def add(a, b):\n    return b + a\n"
    demo = "    return a + b\n\n\nif __name__ == '__main__':\n    print(add(1, 2))\n"
    assert extract_code(demo, "add") == ("    return a + b\n\n\n", False)
    assert extract_code("def add(a, b):\n    return a + b\n", "add")[1] is True


def test_program_keeps_prompt_imports_for_full_definitions_and_leaves_the_tests_out():
    program = build_program("```python\ndef add(a, b):\n    return int(math.fsum([a, b]))\n```", ADD)
    assert program.startswith(ADD.input["prompt"]) and program.rstrip().endswith("return int(math.fsum([a, b]))")
    assert "check" not in program and "assert" not in program


def test_scores_on_a_toy_item():
    outputs = [
        "    return a + b\n",
        "```python\ndef add(a, b):\n    return int(math.fsum([a, b]))\n```",
        "    return a - b\n",
        "    return a +\n",
        "    while True:\n        pass\n",
    ]
    scores = score_code_batch([(o, ADD) for o in outputs], workers=2, limits=SandboxLimits(timeout=3))
    assert [s.value for s in scores] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert scores[0] == Score(1.0, "passed")
    assert scores[2].detail.startswith("AssertionError")
    assert scores[3].detail.startswith("SyntaxError")
    assert scores[4].detail.startswith("timeout")
    assert code("    return a + b\n", ADD).value == 1.0


def test_missing_fields_are_a_data_error():
    with pytest.raises(DataError, match="entry_point"):
        code("    return 1\n", Item(id="x", input={"prompt": "def f():\n", "test": ""}))


def test_humaneval_canonical_solutions_pass_and_wrong_solutions_fail(humaneval):
    canonical = score_code_batch([(it.input["canonical_solution"], it) for it in humaneval], workers=2)
    assert [s.value for s in canonical] == [1.0] * len(humaneval), [s.detail for s in canonical if s.value < 1]
    assert len(humaneval) == 164
    wrong = score_code_batch([(wrapped(it, PERTURB), it) for it in humaneval], workers=2)
    passed = [it.id for it, s in zip(humaneval, wrong) if s.value != 0.0]
    assert passed == [] and all(s.detail for s in wrong)
    # The same solution written out in full inside a fence also passes.
    first = humaneval[1]
    full = "```python\n" + first.input["prompt"] + first.input["canonical_solution"] + "```\n"
    assert code(full, first).value == 1.0


def test_an_object_equal_to_everything_cannot_pass(humaneval):
    sample = humaneval[::8]
    forged = score_code_batch([(wrapped(it, ALWAYS_EQUAL), it) for it in sample], workers=2)
    assert [s.value for s in forged] == [0.0] * len(sample)
    assert all("cannot cross the sandbox boundary" in s.detail for s in forged), [s.detail for s in forged]


def test_mbpp_style_assert_statements():
    item = Item(
        id="mbpp",
        input={
            "prompt": "Write a function to find the shared elements from the given two lists.\n",
            "test": "assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))\n"
            "assert set(similar_elements((1, 2, 3, 4), (5, 4, 3, 7))) == set((3, 4))\n",
            "entry_point": "similar_elements",
        },
    )
    item.input["prompt"] = '"""' + item.input["prompt"] + '"""\n'
    right = "```python\ndef similar_elements(a, b):\n    return tuple(set(a) & set(b))\n```"
    wrong = "```python\ndef similar_elements(a, b):\n    return tuple(set(a) | set(b))\n```"
    forged = (
        "```python\nclass S(set):\n    def __eq__(self, other):\n        return True\n"
        "def similar_elements(a, b):\n    return S()\n```"
    )
    scores = score_code_batch([(right, item), (wrong, item), (forged, item)], workers=2)
    assert [s.value for s in scores] == [1.0, 0.0, 0.0]
    assert scores[1].detail == "AssertionError"


def test_tests_use_the_prompts_helpers_not_the_candidates():
    """HumanEval's tests call helpers from the prompt; a candidate redefining them changes nothing outside."""
    item = Item(
        id="decode",
        input={
            "prompt": 'def encode(s):\n    return s[::-1]\n\n\ndef decode(s):\n    """Undo encode."""\n',
            "test": "def check(candidate):\n    assert candidate(encode('abc')) == 'abc'\n",
            "entry_point": "decode",
        },
    )
    right = "    return s[::-1]\n"
    # Makes encode the identity inside the sandbox, so decode = identity would pass if encode were its.
    cheat = "```python\ndef encode(s):\n    return s\n\n\ndef decode(s):\n    return s\n```"
    assert [s.value for s in score_code_batch([(right, item), (cheat, item)], workers=2)] == [1.0, 0.0]


def test_a_candidate_cannot_shadow_builtins_the_tests_use():
    item = Item(
        id="sort",
        input={
            "prompt": 'def sort_list(xs):\n    """Sort."""\n',
            "test": "assert sort_list([3, 1, 2]) == sorted([3, 1, 2])\n",
            "entry_point": "sort_list",
        },
    )
    cheat = "```python\ndef sorted(xs):\n    return xs\n\n\ndef sort_list(xs):\n    return xs\n```"
    assert code(cheat, item).value == 0.0


def test_weak_isolation_labels_every_score(monkeypatch):
    monkeypatch.setattr(sandbox, "isolation", lambda python=None: sandbox.Isolation("weak", "test"))
    scores = score_code_batch([("    return a + b\n", ADD), ("    return a - b\n", ADD)], workers=2)
    assert scores[0] == Score(1.0, "passed; sandbox: weak")
    assert scores[1].value == 0.0 and scores[1].detail.endswith("; sandbox: weak")

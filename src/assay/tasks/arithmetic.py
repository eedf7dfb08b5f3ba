"""The built-in generated task: integer arithmetic with a difficulty knob.

``digits`` sets the size of each operand and ``ops`` the number of operators
(+, -, *; usual precedence). Items are deterministic per seed, so difficulty
curves exist without any download and small models score between 0 and 1.
"""

from __future__ import annotations

import random

from assay.errors import ConfigError
from assay.records import Item, stable_hash
from assay.tasks.task import Task

CHAT_TEMPLATE = "What is {{ input }}? Reply with only the number."


def _levels(value: str | int, name: str) -> list[int]:
    try:
        levels = [int(part) for part in str(value).split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"--param {name}={value}: expected integers such as 2 or 1,2,3") from exc
    if not levels or min(levels) < 1 or max(levels) > 12:
        raise ConfigError(f"--param {name}={value}: each level must be between 1 and 12")
    return levels


def make_problem(rng: random.Random, digits: int, ops: int) -> tuple[str, int]:
    low = 0 if digits == 1 else 10 ** (digits - 1)
    numbers = [rng.randint(low, 10**digits - 1) for _ in range(ops + 1)]
    operators = [rng.choice("+-*") for _ in range(ops)]
    expression = str(numbers[0])
    for op, number in zip(operators, numbers[1:]):
        expression += f" {op} {number}"
    # The expression is built here from digits and three operators only.
    return expression, eval(expression)  # noqa: S307


def generate_items(n: int, digits: int, ops: int, seed: int, start_index: int = 0) -> list[Item]:
    items = []
    for i in range(n):
        rng = random.Random(f"arithmetic-{seed}-{digits}-{ops}-{i}")
        expression, answer = make_problem(rng, digits, ops)
        items.append(
            Item(
                id=stable_hash({"expression": expression, "digits": digits, "ops": ops, "i": i}),
                input={"input": expression},
                target=str(answer),
                meta={
                    "digits": digits,
                    "ops": ops,
                    "difficulty": f"digits={digits},ops={ops}",
                    "index": start_index + len(items),
                },
            )
        )
    return items


def arithmetic_task(params: dict[str, str], seed: int = 0) -> Task:
    allowed = {"digits", "ops", "n", "seed"}
    unknown = set(params) - allowed
    if unknown:
        raise ConfigError(
            f"unknown --param for arithmetic: {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}"
        )
    digit_levels = _levels(params.get("digits", "2"), "digits")
    op_levels = _levels(params.get("ops", "1"), "ops")
    try:
        n = int(params.get("n", "50"))
        task_seed = int(params.get("seed", seed))
    except ValueError as exc:
        raise ConfigError(f"--param n and seed take integers: {exc}") from exc
    if n < 1:
        raise ConfigError(f"--param n={params['n']}: give at least 1 item per difficulty level")
    items: list[Item] = []
    for digits in digit_levels:
        for ops in op_levels:
            items += generate_items(n, digits, ops, task_seed, start_index=len(items))
    # Few-shot examples come from a different seed so they never repeat an item.
    examples = generate_items(3, min(digit_levels), min(op_levels), task_seed + 10_007)
    return Task(
        name="arithmetic",
        items=items,
        chat_template=CHAT_TEMPLATE,
        scorers=["numeric"],
        fewshot_items=examples,
        config={"task": "arithmetic", "params": {**params, "seed": task_seed}},
    )

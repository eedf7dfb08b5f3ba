"""The benchmark's task for Inspect AI: the items of a JSONL file (fields
``input`` and ``target``), one generation each, scored by exact match.

    LOCAL_BASE_URL=http://127.0.0.1:8642/v1 LOCAL_API_KEY=none \
    inspect eval benchmarks/peers/inspect_task.py -T items=ITEMS.jsonl \
        --model openai-api/local/stub --max-connections 8 --max-tokens 16
"""

from inspect_ai import Task, task
from inspect_ai.dataset import FieldSpec, json_dataset
from inspect_ai.scorer import exact
from inspect_ai.solver import generate


@task
def answer42(items: str = "items.jsonl") -> Task:
    return Task(
        dataset=json_dataset(items, FieldSpec(input="input", target="target")), solver=generate(), scorer=exact()
    )

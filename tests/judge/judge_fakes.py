"""Fake judges and a small run built without models, for unit tests of the
logic around judges (real judges are tested in test_judge_real.py)."""

from __future__ import annotations

import json

from assay.errors import ModelError
from assay.records import Item, Sample
from assay.run.store import RunStore


class ScriptedJudge:
    """Replies with ``reply(prompt_text)``; raises ModelError after ``unreachable_after`` calls."""

    def __init__(self, name, reply, *, chat=True, family="fake", unreachable_after=None, tokens=(100, 20)):
        self.name, self.chat, self.family = name, chat, family
        self.reply = reply
        self.unreachable_after = unreachable_after
        self.tokens = tokens
        self.calls = 0

    @property
    def identity(self):
        return {"backend": "scripted", "name": self.name}

    async def generate(self, prompt, params, sample_index):
        if self.unreachable_after is not None and self.calls >= self.unreachable_after:
            raise ModelError("cannot reach http://127.0.0.1:9/v1 for model 'scripted': connection refused")
        self.calls += 1
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        return Sample(
            text=self.reply(text),
            tokens_in=self.tokens[0],
            tokens_out=self.tokens[1],
            latency=0.01,
            finish_reason="stop",
        )

    def close(self):
        pass


def make_run(path, outputs: dict[str, dict[str, str]], targets: dict[str, str | None]):
    """A run directory holding ``outputs[model][item]`` for items with ``targets``."""
    with RunStore(path, use_cache=False) as store:
        store.put_items([Item(i, {"input": f"question {i}"}, t, {}) for i, t in targets.items()])
        for model, by_item in outputs.items():
            for item, text in by_item.items():
                prompt = [{"role": "user", "content": f"Question {item}?"}]
                store.record(f"{model}-{item}", model, item, 0, prompt, {}, Sample(text=text), {})
    (path / "config.json").write_text(json.dumps({"models": sorted(outputs)}))
    return path

"""A fake model for unit tests of the logic around models (the real ones are
tested in test_embedded.py and test_openai_server.py)."""

from __future__ import annotations

import re

from assay.errors import ModelError
from assay.models.base import GenParams, sample_seed
from assay.records import Sample


class ArithmeticFake:
    """Answers arithmetic prompts: right when (seed of the sample) % wrong_every != 0."""

    def __init__(self, name="fake", chat=True, wrong_every=3, fail_items=(), unreachable_after=None, identity=None):
        self.name, self.chat, self.family = name, chat, "fake"
        self.wrong_every = wrong_every
        self.fail_items = set(fail_items)
        self.unreachable_after = unreachable_after
        self.calls = 0
        self._identity = identity

    @property
    def identity(self):
        return self._identity or {"backend": "fake", "name": self.name, "wrong_every": self.wrong_every}

    async def generate(self, prompt, params: GenParams, sample_index: int) -> Sample:
        text = prompt if isinstance(prompt, str) else prompt[0]["content"]
        expression = re.findall(r"(-?\d+(?: [-+*] \d+)+)", text)[-1]
        if self.unreachable_after is not None and self.calls >= self.unreachable_after:
            raise ModelError("cannot reach http://127.0.0.1:9/v1 for model 'fake': connection refused")
        self.calls += 1
        if expression in self.fail_items:
            return Sample(text=None, error="HTTP 500 from fake")
        answer = eval(expression)
        seed = sample_seed(params.seed, sample_index) + sum(map(ord, expression))
        if (
            params.temperature > 0
            and seed % self.wrong_every == 0
            or params.temperature == 0
            and len(expression) % self.wrong_every == 0
        ):
            answer += 1
        return Sample(text=f"{answer}", tokens_in=10, tokens_out=2, latency=0.001, finish_reason="stop")

    def close(self):
        pass

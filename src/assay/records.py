"""The records that flow through assay: items in, samples out, scores on samples.

Plain dataclasses; the store (``assay.run.store``) persists them in SQLite.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# How a failed request's error starts when the reply was empty (``--empty-as-error``):
# the summary counts these beside the empty replies taken as answers.
EMPTY_REPLY = "empty reply"


def stable_hash(value: Any, length: int = 16) -> str:
    """Hex digest of a JSON-serialisable value, independent of dict order."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class Item:
    """One task item.

    ``id`` is stable across runs: the dataset's own id when it has one,
    otherwise a hash of the input fields. ``meta`` holds difficulty, cluster
    and the source line, among others.
    """

    id: str
    input: dict[str, Any]
    target: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def cluster(self) -> str | None:
        value = self.meta.get("cluster")
        return None if value is None else str(value)


@dataclass(frozen=True)
class Score:
    """A scorer's judgement of one output: ``value`` in [0, 1] for most scorers.

    ``detail`` says why (the extracted answer, the sandbox's failure reason).
    """

    value: float
    detail: str | None = None


@dataclass(frozen=True)
class Logprob:
    """The log-probability (natural log, summed over tokens) a model gives one
    continuation, or one document, and what it was summed over.

    ``greedy``: every scored token was the model's most probable one (lm-eval's
    ``is_greedy``); None where the backend cannot tell.
    """

    logprob: float
    tokens: int
    greedy: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"logprob": self.logprob, "tokens": self.tokens, "greedy": self.greedy}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Logprob":
        return cls(float(data["logprob"]), int(data["tokens"]), data.get("greedy"))


@dataclass
class Sample:
    """The response to one request. ``error`` is set when the request failed:
    such a sample is never scored (an error is not a wrong answer).

    A likelihood request's response has ``logprobs`` (one per continuation,
    or one for the document) and no ``text``.
    """

    text: str | None
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    finish_reason: str | None = None
    error: str | None = None
    logprobs: list[Logprob] | None = None


@dataclass
class Verdict:
    """One judge's verdict on one unit (an output, or a pair in one order), as stored.

    ``model`` is output 1 and ``model_b`` output 2 of a pair (None for a single
    output); ``order`` is the presentation order. ``invalid`` verdicts keep
    their raw reply and are counted, never scored; ``error`` is a failed request.
    """

    key: str
    item: str
    model: str
    model_b: str | None
    judge: str
    protocol: str
    order: str
    verdict: str | None
    score: float | None
    explanation: str | None
    invalid: bool
    raw: str | None
    template_hash: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    error: str | None = None
    created: float = 0.0

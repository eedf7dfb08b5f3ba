"""What every model backend provides.

A backend turns one request (a rendered prompt plus generation parameters) into
a ``Sample``. Chat models take a list of messages; base (pretrained) models
take plain text to continue. The task renders the prompt for the kind of model
it is given, so a base model gets a completion prompt, never a chat one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Union

from assay.records import Sample, stable_hash

Messages = list[dict[str, str]]
Prompt = Union[str, Messages]


@dataclass(frozen=True)
class GenParams:
    """Generation parameters; part of every cache key."""

    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0
    stop: tuple[str, ...] = ()
    # Constrained output: a JSON schema the backend should enforce when it can.
    json_schema: dict[str, Any] | None = None

    def key(self) -> dict[str, Any]:
        # Cast, so that temperature 0 and 0.0 make the same key.
        return {
            "temperature": float(self.temperature),
            "max_tokens": int(self.max_tokens),
            "seed": int(self.seed),
            "stop": list(self.stop),
            "json_schema": self.json_schema,
        }


GENERATE = "generate"
CHOICES = "choices"
ROLLING = "rolling"
REQUEST_KINDS = (GENERATE, CHOICES, ROLLING)


@dataclass(frozen=True)
class Request:
    """One thing a model is asked, of any kind; its ``key`` is the cache key.

    - ``generate``: ``prompt`` (text or chat messages) under ``params``, sample ``sample_index``.
    - ``choices``: the log-probability of each of ``continuations`` after the text ``prompt``.
    - ``rolling``: the log-probability of every token of the text ``prompt`` (a document),
      scored in windows of the context size that advance by ``stride`` tokens (0: no overlap).
    """

    kind: str
    prompt: Prompt
    params: GenParams | None = None
    sample_index: int = 0
    continuations: tuple[str, ...] = ()
    stride: int = 0
    # choices: the context is a chat-formatted prompt whose special tokens
    # (<|im_start|> and the like) are to be read as such.
    chat_formatted: bool = False

    def key(self, model: "Model") -> str:
        if self.kind == GENERATE:
            # Unchanged since generation was the only kind, so existing caches stay valid.
            assert self.params is not None
            return stable_hash(
                {
                    "model": model.identity,
                    "params": self.params.key(),
                    "prompt": self.prompt,
                    "sample": self.sample_index,
                },
                length=32,
            )
        key = {
            "model": model.identity,
            "mode": self.kind,
            "context": self.prompt,
            "continuations": list(self.continuations),
            "stride": self.stride,
        }
        if self.chat_formatted:
            key["chat_formatted"] = True
        return stable_hash(key, length=32)


def sample_seed(base_seed: int, sample_index: int) -> int:
    """A distinct, reproducible seed for each sample of an item."""
    return (base_seed * 1_000_003 + sample_index) % (2**31 - 1)


class Model(Protocol):
    """A model backend. ``identity`` names the exact weights or endpoint model
    (it goes into the cache key); ``chat`` says which prompt kind it takes."""

    name: str
    chat: bool
    family: str

    @property
    def identity(self) -> dict[str, Any]: ...

    async def generate(self, prompt: Prompt, params: GenParams, sample_index: int) -> Sample: ...

    # Backends that can score text also provide (see ``assay.run.executor.call``):
    #   async def loglikelihood(self, context: str, continuations: Sequence[str]) -> Sample
    #   async def loglikelihood_rolling(self, text: str, stride: int) -> Sample
    # each returning a Sample whose ``logprobs`` holds one ``Logprob`` per
    # continuation (or one for the whole document).

    def close(self) -> None: ...


@dataclass
class ModelInfo:
    """One entry of ``assay models``."""

    name: str
    backend: str
    kind: str
    family: str
    available: bool
    detail: str = ""

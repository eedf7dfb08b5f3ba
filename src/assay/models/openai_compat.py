"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama, hosted APIs).

Several base URLs for one model are load-balanced: each request goes to the
endpoint with the fewest requests in flight. Retries with exponential backoff
on timeouts, 429 and 5xx are the official client's (``max_retries``); what
still fails becomes an error sample, and an endpoint that cannot be reached at
all stops the run with its URL named.

Constrained output (``response_format`` of type ``json_schema``, which judges
ask for) is probed once per model: the first such request is sent without
retries, and if the endpoint refuses it (llama_cpp.server answers HTTP 500,
others 400 or 422) while the same request without it succeeds, every later
request is sent as plain text and the judge's parser reads the reply.
``constrained_note`` says why, for the screen.
"""

from __future__ import annotations

import os
import time
from typing import Any

from assay.errors import ModelError
from assay.models.base import GenParams, Prompt, sample_seed
from assay.records import Logprob, Sample

ECHO_TIMEOUT = 600.0  # seconds for one prompt-scoring request


class OpenAICompatModel:
    def __init__(
        self,
        name: str,
        model_id: str,
        *,
        base_urls: list[str] | None = None,
        api_key: str | None = None,
        chat: bool = True,
        family: str = "unknown",
        max_retries: int = 4,
        timeout: float = 120.0,
    ):
        urls = list(base_urls or [])
        if not urls and os.environ.get("OPENAI_BASE_URL"):
            urls = [os.environ["OPENAI_BASE_URL"]]
        if not urls:
            urls = ["https://api.openai.com/v1"]
        self.name = name
        self.model_id = model_id
        self.chat = chat
        self.family = family
        self.base_urls = urls
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "sk-no-key"
        self._max_retries = max_retries
        self._timeout = timeout
        self._clients: list[Any] | None = None
        self._loop: Any = None
        self._in_flight = [0] * len(urls)
        self._down: set[int] = set()  # replicas found unreachable
        # None: not probed yet; True/False: the endpoint takes json_schema or not.
        self._schema_supported: bool | None = None
        self._schema_lock: Any = None
        self.constrained_note: str | None = None
        self._aligned: bool | None = None  # prompt log-probabilities checked (see _check_alignment)
        self._misaligned = ""

    @property
    def identity(self) -> dict[str, Any]:
        # The endpoint URL is not part of the identity: replicas of one model
        # behind several URLs share a cache.
        return {"backend": "openai", "model": self.model_id, "chat": self.chat}

    def _client(self) -> tuple[int, Any]:
        import asyncio

        # An async client's connections belong to the event loop that opened
        # them; each asyncio.run (a judge probe, a second run) needs its own.
        loop = asyncio.get_running_loop()
        if self._clients is not None and self._loop is not loop:
            self._clients = None
        if self._loop is not loop:
            self._schema_lock = asyncio.Lock()
        self._loop = loop
        if self._clients is None:
            from openai import AsyncOpenAI

            self._clients = [
                AsyncOpenAI(base_url=url, api_key=self._api_key, max_retries=self._max_retries, timeout=self._timeout)
                for url in self.base_urls
            ]
        live = [i for i in range(len(self._clients)) if i not in self._down]
        index = min(live, key=self._in_flight.__getitem__)
        return index, self._clients[index]

    async def generate(self, prompt: Prompt, params: GenParams, sample_index: int) -> Sample:
        import openai

        while True:
            index, client = self._client()
            self._in_flight[index] += 1
            started = time.perf_counter()
            try:
                return await self._request(client, prompt, params, sample_index, started)
            except openai.APITimeoutError as exc:
                return Sample(
                    text=None,
                    error=f"timeout after retries at {self.base_urls[index]}: {exc}",
                    latency=time.perf_counter() - started,
                )
            except openai.APIConnectionError as exc:
                # An unreachable replica is left out for the rest of the run;
                # the others take this request and the ones after it.
                self._down.add(index)
                if len(self._down) < len(self.base_urls):
                    continue
                where = self.base_urls[0] if len(self.base_urls) == 1 else "any of " + ", ".join(self.base_urls)
                raise ModelError(f"cannot reach {where} for model '{self.model_id}': {exc.__cause__ or exc}") from exc
            except openai.APIStatusError as exc:
                return Sample(
                    text=None,
                    error=f"HTTP {exc.status_code} from {self.base_urls[index]}: {exc.message}",
                    latency=time.perf_counter() - started,
                )
            finally:
                self._in_flight[index] -= 1

    async def _request(
        self, client: Any, prompt: Prompt, params: GenParams, sample_index: int, started: float
    ) -> Sample:

        kwargs: dict[str, Any] = {
            "model": self.model_id,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "seed": sample_seed(params.seed, sample_index),
        }
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.json_schema is not None and self._schema_supported is not False:
            response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": params.json_schema}}
            if self._schema_supported is None:
                # One request at a time probes; the others wait for its answer.
                async with self._schema_lock:
                    if self._schema_supported is None:
                        out = await self._probe_schema(client, prompt, kwargs, response_format)
                        return self._sample(out, prompt, started)
            if self._schema_supported:
                kwargs["extra_body"] = {"response_format": response_format}
        return self._sample(await self._create(client, prompt, kwargs), prompt, started)

    @staticmethod
    async def _create(client: Any, prompt: Prompt, kwargs: dict[str, Any]) -> Any:
        if isinstance(prompt, str):
            return await client.completions.create(prompt=prompt, **kwargs)
        return await client.chat.completions.create(messages=prompt, **kwargs)

    async def _probe_schema(
        self, client: Any, prompt: Prompt, kwargs: dict[str, Any], response_format: dict[str, Any]
    ) -> Any:
        """The first constrained request decides whether the endpoint takes
        json_schema. It goes without retries (a refusal is not transient); on a
        refusal the same request goes again without it, and only if that
        succeeds is the endpoint marked as not taking it (a request that fails
        both ways is an ordinary failure and the next request probes again)."""
        import openai

        try:
            out = await self._create(
                client.with_options(max_retries=0),
                prompt,
                {**kwargs, "extra_body": {"response_format": response_format}},
            )
        except openai.RateLimitError:
            out = await self._create(client, prompt, {**kwargs, "extra_body": {"response_format": response_format}})
        except openai.APIStatusError as exc:
            out = await self._create(client, prompt, kwargs)
            self._schema_supported = False
            self.constrained_note = (
                f"'{self.model_id}' at {self.base_urls[0]} refuses constrained output (response_format json_schema: "
                f"HTTP {exc.status_code}: {_first_line(exc.message)}); judged from plain replies read by the parser"
            )
            return out
        self._schema_supported = True
        return out

    def _sample(self, out: Any, prompt: Prompt, started: float) -> Sample:
        # A reply without a choice or without text is the server's failure, not
        # an answer: stored as an error (never scored, never cached), so a re-run retries it.
        if not out.choices:
            return Sample(text=None, error="the server's reply had no choices", latency=time.perf_counter() - started)
        choice = out.choices[0]
        text = choice.text if isinstance(prompt, str) else choice.message.content
        if text is None:
            return Sample(
                text=None,
                error=f"the server's reply had no text (finish_reason={choice.finish_reason!r})",
                latency=time.perf_counter() - started,
                finish_reason=choice.finish_reason,
            )
        usage = out.usage
        return Sample(
            text=text,
            tokens_in=getattr(usage, "prompt_tokens", 0) or 0,
            tokens_out=getattr(usage, "completion_tokens", 0) or 0,
            latency=time.perf_counter() - started,
            finish_reason=choice.finish_reason,
        )

    # -- log-likelihoods ---------------------------------------------------
    # /v1/completions with echo=true returns the prompt's tokens with their
    # log-probabilities (vLLM, SGLang, llama_cpp.server). A continuation's
    # log-probability is the sum over the tokens that end after the context.

    async def _echo(self, prompt: str) -> tuple[list[str], list[int], list[float | None], list[Any]]:
        import openai

        while True:
            index, client = self._client()
            self._in_flight[index] += 1
            try:
                # Scoring a prompt takes a server longer than answering it (llama_cpp.server sorts
                # the vocabulary for every prompt token): a longer timeout than generation's.
                out = await client.completions.create(
                    model=self.model_id,
                    prompt=prompt,
                    echo=True,
                    logprobs=1,
                    max_tokens=1,
                    temperature=0.0,
                    timeout=max(self._timeout, ECHO_TIMEOUT),
                )
                break
            except openai.APIConnectionError as exc:
                self._down.add(index)
                if len(self._down) < len(self.base_urls):
                    continue
                raise ModelError(
                    f"cannot reach {self.base_urls[0]} for model '{self.model_id}': {exc.__cause__ or exc}"
                ) from exc
            finally:
                self._in_flight[index] -= 1
        choice = out.choices[0] if out.choices else None
        logprobs = getattr(choice, "logprobs", None)
        if logprobs is None or not getattr(logprobs, "token_logprobs", None) or not logprobs.text_offset:
            raise ModelError(
                f"{self.base_urls[0]} returns no prompt log-probabilities for model '{self.model_id}' "
                "(echo=true with logprobs); likelihood modes need a server that does (vLLM, SGLang, "
                "llama_cpp.server) or an embedded GGUF model"
            )
        return (
            list(logprobs.tokens),
            list(logprobs.text_offset),
            list(logprobs.token_logprobs),
            list(logprobs.top_logprobs or [None] * len(logprobs.tokens)),
        )

    async def _check_alignment(self) -> None:
        """Once per model: are the echoed log-probabilities those of the prompt's
        own tokens? llama_cpp.server (0.3.x) pairs each token with the row that
        predicts the next one for models without a BOS token; their values are
        then meaningless and the run must stop rather than report them.

        The probe is a counting sequence, whose later tokens any language model
        predicts with near certainty: aligned, their mean log-probability is
        near 0; misaligned, each value is the chance of repeating the token
        just seen, far below it."""
        if self._aligned is not None:
            if not self._aligned:
                raise ModelError(self._misaligned)
            return
        import openai

        probe = ", ".join(str(n) for n in range(1, 16))
        try:
            tokens, offsets, values, _ = await self._echo(probe)
        except openai.APIStatusError as exc:
            raise ModelError(
                f"{self.base_urls[0]}: /v1/completions with echo=true and logprobs failed for "
                f"'{self.model_id}' (HTTP {exc.status_code}: {exc.message}); likelihood modes need "
                "prompt log-probabilities (vLLM, SGLang, llama_cpp.server) or an embedded GGUF model"
            ) from None
        later = [v for o, v in zip(offsets, values) if v is not None and len(probe) // 2 <= o < len(probe)]
        mean = sum(later) / len(later) if later else float("-inf")
        self._aligned = mean > -2.0
        self._misaligned = (
            f"{self.base_urls[0]}: the prompt log-probabilities it returns for '{self.model_id}' are not those of "
            f"the prompt's tokens (mean {mean:.2f} nats on a counting sequence a model predicts almost surely; "
            "llama_cpp.server misaligns them for models without a BOS token): use the embedded model "
            "(gguf:PATH) or a server such as vLLM"
        )
        if not self._aligned:
            raise ModelError(self._misaligned)

    async def loglikelihood(self, context: str, continuations: list[str]) -> Sample:
        await self._check_alignment()
        started = time.perf_counter()
        results, tokens_in = [], 0
        for continuation in continuations:
            prompt = context + continuation
            try:
                tokens, offsets, values, tops = await self._echo(prompt)
            except ModelError:
                raise  # unreachable, or no prompt log-probabilities: the model stops
            except Exception as exc:  # an HTTP error after retries, or a malformed reply: this request failed
                return Sample(text=None, error=f"{type(exc).__name__}: {exc}", latency=time.perf_counter() - started)
            # The echoed tokens must rebuild the prompt, or the offsets cannot be trusted.
            echoed = "".join(t for t, o in zip(tokens, offsets) if o < len(prompt))
            if not echoed.startswith(prompt[: len(echoed)]) or len(echoed) < len(prompt):
                return Sample(
                    text=None,
                    error="the server's echoed tokens do not rebuild the prompt; its "
                    "log-probabilities cannot be placed",
                    latency=time.perf_counter() - started,
                )
            total, count, greedy = 0.0, 0, True
            for token, offset, value, top in zip(tokens, offsets, values, tops):
                if offset >= len(prompt):
                    break  # the one generated token
                if offset + len(token) <= len(context):
                    continue  # a token of the context
                if value is None:
                    return Sample(
                        text=None,
                        error="the server gave no log-probability for the first token; "
                        "a continuation cannot start the prompt",
                    )
                total += value
                count += 1
                if top:
                    greedy = greedy and value >= max(top.values()) - 1e-9
            tokens_in += len(tokens)
            results.append(Logprob(total, count, greedy))
        return Sample(
            text=None,
            tokens_in=tokens_in,
            logprobs=results,
            latency=time.perf_counter() - started,
            finish_reason="scored",
        )

    async def loglikelihood_rolling(self, text: str, stride: int = 0) -> Sample:
        raise ModelError(
            f"model '{self.name}': perplexity needs every token scored from the first, which "
            "OpenAI-compatible servers do not give (the first token has no log-probability); "
            "run the GGUF embedded (gguf:PATH)"
        )

    def close(self) -> None:
        self._clients = None
        self._loop = None


def _first_line(message: str, limit: int = 200) -> str:
    """A server's error message shortened to its first line (llama_cpp.server appends a traceback)."""
    line = " ".join(message.split("\n", 2)[:2]).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"

"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama, hosted APIs).

Several base URLs for one model are load-balanced: each request goes to the
endpoint with the fewest requests in flight. Retries with exponential backoff
on timeouts, 429, 5xx and dropped connections are the official client's
(``max_retries``). A reply the client cannot read (malformed JSON, an HTML
page) or that carries no usable answer (no choices, ``content`` null or not a
string, and an empty ``content`` when ``empty_as_error``) is retried here, as
many times with the same backoff; what still fails becomes an error sample,
never an answer.

An endpoint whose connections fail is taken out of the rotation only after
``down_after`` different requests in a row failed on it (one dropped
connection is one failed request, which another endpoint takes when there is
one), or at once when it refuses the first connection of the run (nothing
listens there: a wrong URL should not take three rounds of retries to name).
It is tried again after ``cooldown`` seconds. When every endpoint is out, the
model stops with a ``ModelError`` naming them; the run keeps what it has.

Endpoints are named by ``redact_url`` everywhere (errors, notes): a user and
password inside a base URL, and the API key, are registered as secrets and
never written or printed.

Constrained output (``response_format`` of type ``json_schema``, which judges
ask for) is probed once per model: the first such request is sent without
retries, and if the endpoint refuses it (llama_cpp.server answers HTTP 500,
others 400 or 422) while the same request without it succeeds, every later
request is sent as plain text and the judge's parser reads the reply.
``constrained_note`` says why, for the screen.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from assay.errors import ModelError
from assay.models.base import GenParams, Prompt, sample_seed
from assay.records import EMPTY_REPLY, Logprob, Sample
from assay.redact import redact, redact_url, register_secret, register_url

DEFAULT_TIMEOUT = 120.0  # seconds for one generation request, unless --timeout says otherwise
ECHO_TIMEOUT = 600.0  # seconds for one prompt-scoring request, unless --timeout says otherwise
DOWN_AFTER = 3  # requests in a row whose connection failed before an endpoint is taken out
COOLDOWN = 30.0  # seconds before an endpoint taken out is tried again


@dataclass
class _Endpoint:
    url: str
    shown: str  # the URL without credentials, for every message
    in_flight: int = 0
    failures: int = 0  # requests in a row whose connection failed
    answered: bool = False  # has answered a request in this process
    down_until: float = 0.0  # time.monotonic() until which it is out of the rotation
    last_error: str = ""


class _Failed(Exception):
    """A request that failed after the client's retries; the message names the endpoint.
    ``retry``: a reply that could not be read, worth asking again."""

    def __init__(self, message: str, *, retry: bool = False, status: int | None = None):
        super().__init__(message)
        self.retry = retry
        self.status = status


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
        timeout: float | None = None,
        empty_as_error: bool | None = None,
        down_after: int = DOWN_AFTER,
        cooldown: float = COOLDOWN,
        retry_wait: float = 0.5,
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
        register_secret(self._api_key)
        for url in urls:
            register_url(url)
        self._max_retries = max_retries
        # None: DEFAULT_TIMEOUT for generation, ECHO_TIMEOUT for prompt scoring; a number: both.
        self._timeout = timeout
        # An empty reply from a chat model is a server's failure far more often than
        # the model's answer (a filter, an overloaded server, a reasoning model out of
        # tokens); a base model may well continue a prompt with nothing.
        self.empty_as_error = chat if empty_as_error is None else empty_as_error
        self._down_after = max(1, down_after)
        self._cooldown = cooldown
        self._retry_wait = retry_wait
        self._endpoints = [_Endpoint(url, redact_url(url)) for url in urls]
        self._clients: list[Any] | None = None
        self._loop: Any = None
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

    def _client_list(self) -> list[Any]:
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
                AsyncOpenAI(
                    base_url=e.url,
                    api_key=self._api_key,
                    max_retries=self._max_retries,
                    timeout=DEFAULT_TIMEOUT if self._timeout is None else self._timeout,
                )
                for e in self._endpoints
            ]
        return self._clients

    # -- endpoints ---------------------------------------------------------

    def _pick(self, tried: set[int]) -> int | None:
        """The live endpoint with the fewest requests in flight that this request has not tried."""
        now = time.monotonic()
        live = [i for i, e in enumerate(self._endpoints) if i not in tried and e.down_until <= now]
        return min(live, key=lambda i: self._endpoints[i].in_flight) if live else None

    def _connection_failed(self, endpoint: _Endpoint, exc: Exception) -> None:
        endpoint.failures += 1
        endpoint.last_error = _cause(exc)
        if endpoint.failures >= self._down_after or (_not_connected(exc) and not endpoint.answered):
            endpoint.down_until = time.monotonic() + self._cooldown

    def _unreachable(self) -> ModelError:
        shown = self._endpoints
        where = shown[0].shown if len(shown) == 1 else "any of " + ", ".join(e.shown for e in shown)
        reasons = "; ".join(
            (f"{e.shown}: " if len(shown) > 1 else "")
            + e.last_error
            + (f" ({e.failures} requests in a row)" if e.answered and e.failures > 1 else "")
            for e in shown
        )
        return ModelError(redact(f"cannot reach {where} for model '{self.model_id}': {reasons}"))

    async def _send(self, make: Callable[[Any], Awaitable[Any]], timeout: float) -> tuple[Any, _Endpoint]:
        """Send one request (``make(client)``) to the live endpoints in turn until one answers.

        Returns the reply and the endpoint that gave it. A failed request raises
        ``_Failed``; ``ModelError`` when every endpoint is out of the rotation."""
        import openai

        clients = self._client_list()
        tried: set[int] = set()
        endpoint = self._endpoints[0]
        while True:
            index = self._pick(tried)
            if index is None:
                if all(e.down_until > time.monotonic() for e in self._endpoints):
                    raise self._unreachable()
                # Each endpoint still in the rotation failed this request: it fails, the run goes on.
                raise _Failed(redact(f"connection to {endpoint.shown} failed: {endpoint.last_error}"))
            endpoint = self._endpoints[index]
            endpoint.in_flight += 1
            try:
                out = await make(clients[index])
            except openai.APITimeoutError as exc:
                if _not_connected(exc):
                    self._connection_failed(endpoint, exc)
                    tried.add(index)
                    continue
                # It took the connection: up, but slower than the timeout allows.
                raise _Failed(f"no reply from {endpoint.shown} within {timeout:g} s (--timeout)") from None
            except openai.APIConnectionError as exc:
                # Refused, reset or closed without a reply: another endpoint takes
                # this request; this one counts a failure.
                self._connection_failed(endpoint, exc)
                tried.add(index)
                continue
            except openai.APIStatusError as exc:
                endpoint.failures, endpoint.answered = 0, True
                raise _Failed(
                    redact(f"HTTP {exc.status_code} from {endpoint.shown}: {server_message(exc)}"),
                    status=exc.status_code,
                ) from None
            except (ValueError, openai.APIResponseValidationError) as exc:
                # It answered, with something the client cannot read (malformed JSON).
                endpoint.failures, endpoint.answered = 0, True
                raise _Failed(
                    redact(f"unreadable reply from {endpoint.shown}: {type(exc).__name__}: {_short(str(exc))}"),
                    retry=True,
                ) from None
            finally:
                endpoint.in_flight -= 1
            endpoint.failures, endpoint.answered, endpoint.down_until = 0, True, 0.0
            return out, endpoint

    def _wait(self, attempt: int) -> float:
        """The client's backoff: 0.5 s doubling up to 8 s, less up to a quarter at random."""
        return min(self._retry_wait * 2 ** (attempt - 1), 8.0) * (1 - 0.25 * random.random())

    # -- generation --------------------------------------------------------

    async def generate(self, prompt: Prompt, params: GenParams, sample_index: int) -> Sample:
        """One completion. Replies that cannot be read or carry no answer are asked
        again (``max_retries`` times, with backoff); what still fails is an error sample."""
        started = time.perf_counter()
        attempts = self._max_retries + 1
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self._wait(attempt))
            sample, again = await self._generate_once(prompt, params, sample_index, started)
            if not again:
                return sample
        if attempts > 1:
            sample.error = f"{sample.error} ({attempts} attempts)"
        return sample

    async def _generate_once(
        self, prompt: Prompt, params: GenParams, sample_index: int, started: float
    ) -> tuple[Sample, bool]:
        """A sample, and whether a failure is worth asking again."""
        timeout = DEFAULT_TIMEOUT if self._timeout is None else self._timeout
        try:
            out, endpoint = await self._send(
                lambda client: self._request(client, prompt, params, sample_index), timeout
            )
        except _Failed as exc:
            return Sample(text=None, error=str(exc), latency=time.perf_counter() - started), exc.retry
        return self._sample(out, prompt, started, endpoint)

    async def _request(self, client: Any, prompt: Prompt, params: GenParams, sample_index: int) -> Any:
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
                        return await self._probe_schema(client, prompt, kwargs, response_format)
            if self._schema_supported:
                kwargs["extra_body"] = {"response_format": response_format}
        return await self._create(client, prompt, kwargs)

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
            self.constrained_note = redact(
                f"'{self.model_id}' at {self._endpoints[0].shown} refuses constrained output (response_format "
                f"json_schema: HTTP {exc.status_code}: {server_message(exc)}); judged from plain replies read by "
                "the parser"
            )
            return out
        self._schema_supported = True
        return out

    def _sample(self, out: Any, prompt: Prompt, started: float, endpoint: _Endpoint) -> tuple[Sample, bool]:
        """The reply as a sample, and whether a failure is worth asking again.

        A reply without an answer is the server's failure, not an answer: stored
        as an error (never scored, never cached), so a re-run asks again. So is an
        empty one when ``empty_as_error``; otherwise it is an answer, counted apart."""
        latency = time.perf_counter() - started
        problem, text, choice = _reply_text(out, chat=not isinstance(prompt, str))
        finish = getattr(choice, "finish_reason", None)
        finish = finish if isinstance(finish, str) else None
        if problem is not None:
            return Sample(
                text=None, error=f"{problem} from {endpoint.shown}", latency=latency, finish_reason=finish
            ), True
        if text == "" and self.empty_as_error:
            return (
                Sample(
                    text=None,
                    error=f'{EMPTY_REPLY} (content "", finish_reason={finish!r}) from {endpoint.shown}',
                    latency=latency,
                    finish_reason=finish,
                ),
                True,
            )
        usage = getattr(out, "usage", None)
        return (
            Sample(
                text=text,
                tokens_in=_count(getattr(usage, "prompt_tokens", 0)),
                tokens_out=_count(getattr(usage, "completion_tokens", 0)),
                latency=latency,
                finish_reason=finish,
            ),
            False,
        )

    # -- log-likelihoods ---------------------------------------------------
    # /v1/completions with echo=true returns the prompt's tokens with their
    # log-probabilities (vLLM, SGLang, llama_cpp.server). A continuation's
    # log-probability is the sum over the tokens that end after the context.

    async def _echo(self, prompt: str) -> tuple[list[str], list[int], list[float | None], list[Any]]:
        # Scoring a prompt takes a server longer than answering it (llama_cpp.server sorts
        # the vocabulary for every prompt token): a longer timeout than generation's by default.
        timeout = ECHO_TIMEOUT if self._timeout is None else self._timeout
        out, endpoint = await self._send(
            lambda client: client.completions.create(
                model=self.model_id,
                prompt=prompt,
                echo=True,
                logprobs=1,
                max_tokens=1,
                temperature=0.0,
                timeout=timeout,
            ),
            timeout,
        )
        if isinstance(out, str) or not isinstance(getattr(out, "choices", None), list):
            raise _Failed(f"{_describe(out)} from {endpoint.shown}", retry=True)
        choice = out.choices[0] if out.choices else None
        logprobs = getattr(choice, "logprobs", None)
        if logprobs is None or not getattr(logprobs, "token_logprobs", None) or not logprobs.text_offset:
            raise ModelError(
                f"{endpoint.shown} returns no prompt log-probabilities for model '{self.model_id}' "
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
        just seen, far below it. A probe that fails for another reason (a
        timeout, an unreadable reply) fails its request and the next one probes again."""
        if self._aligned is not None:
            if not self._aligned:
                raise ModelError(self._misaligned)
            return
        probe = ", ".join(str(n) for n in range(1, 16))
        try:
            tokens, offsets, values, _ = await self._echo(probe)
        except _Failed as exc:
            if exc.status is None:
                raise
            raise ModelError(
                f"/v1/completions with echo=true and logprobs failed for '{self.model_id}' ({exc}); "
                "likelihood modes need prompt log-probabilities (vLLM, SGLang, llama_cpp.server) or an "
                "embedded GGUF model"
            ) from None
        later = [v for o, v in zip(offsets, values) if v is not None and len(probe) // 2 <= o < len(probe)]
        mean = sum(later) / len(later) if later else float("-inf")
        self._aligned = mean > -2.0
        self._misaligned = (
            f"{self._endpoints[0].shown}: the prompt log-probabilities it returns for '{self.model_id}' are not those of "
            f"the prompt's tokens (mean {mean:.2f} nats on a counting sequence a model predicts almost surely; "
            "llama_cpp.server misaligns them for models without a BOS token): use the embedded model "
            "(gguf:PATH) or a server such as vLLM"
        )
        if not self._aligned:
            raise ModelError(self._misaligned)

    async def loglikelihood(self, context: str, continuations: list[str]) -> Sample:
        started = time.perf_counter()
        try:
            await self._check_alignment()
        except _Failed as exc:
            return Sample(text=None, error=str(exc), latency=time.perf_counter() - started)
        results, tokens_in = [], 0
        for continuation in continuations:
            prompt = context + continuation
            try:
                tokens, offsets, values, tops = await self._echo(prompt)
            except ModelError:
                raise  # unreachable, or no prompt log-probabilities: the model stops
            except _Failed as exc:  # an HTTP error after retries, or a malformed reply: this request failed
                return Sample(text=None, error=str(exc), latency=time.perf_counter() - started)
            except (AttributeError, TypeError, ValueError) as exc:  # echoed fields of the wrong shape
                return Sample(
                    text=None,
                    error=redact(f"malformed log-probabilities in the reply: {type(exc).__name__}: {_short(str(exc))}"),
                    latency=time.perf_counter() - started,
                )
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


def _not_connected(exc: Exception) -> bool:
    """Did the request fail before a connection was made (refused, unknown host, connect
    timeout)? By class name: the client runs on httpx or httpx2, whose classes differ."""
    cause = exc.__cause__
    return cause is not None and any(k.__name__ in ("ConnectError", "ConnectTimeout") for k in type(cause).__mro__)


def _cause(exc: Exception) -> str:
    """What went wrong with a connection, in the words of the layer that saw it."""
    cause = exc.__cause__ or exc
    text = str(cause).strip() or type(cause).__name__
    return redact(_short(text))  # type: ignore[return-value]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _describe(out: Any) -> str:
    """What a reply that is not a completion looked like."""
    if isinstance(out, str):
        if _looks_like_html(out):
            title = _html_text(out)
            return "an HTML page, not JSON" + (f" ({title})" if title else "")
        return f"a reply that is not JSON ({_short(out, 120)!r})"
    return f"a reply without choices ({type(out).__name__})"


def _reply_text(out: Any, *, chat: bool) -> tuple[str | None, str | None, Any]:
    """(problem, text, choice) of a completion reply: problem None and the text
    when it carries a string answer; otherwise what is wrong with it."""
    choices = getattr(out, "choices", None)
    if isinstance(out, str) or not isinstance(choices, list):
        return _describe(out), None, None
    if not choices:
        return "a reply with no choices", None, None
    choice = choices[0]
    if chat:
        message = getattr(choice, "message", None)
        if isinstance(message, dict):  # a field the client could not type
            content = message.get("content")
        else:
            content = getattr(message, "content", None)
    else:
        content = getattr(choice, "text", None)
    finish = getattr(choice, "finish_reason", None)
    if content is None:
        return f"a reply with no text (finish_reason={finish!r})", None, choice
    if isinstance(content, list):
        # Content parts ([{"type": "text", "text": ...}]), as some servers answer: the text
        # parts joined; "thinking" and other parts are not the answer.
        texts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type", "text") == "text"]
        if texts and all(isinstance(t, str) for t in texts):
            return None, "".join(texts), choice
    if not isinstance(content, str):
        shown = _short(repr(content), 80)
        return f"a reply whose content is not text ({type(content).__name__}: {shown})", None, choice
    return None, content, choice


def server_message(exc: Any) -> str:
    """A server's error message, short: the ``error.message`` of a JSON body, the
    title or text of an HTML page, the first line of anything else."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message.strip():
            return _first_line(message)
    text = body if isinstance(body, str) else str(getattr(exc, "message", exc))
    if _looks_like_html(text):
        return "an HTML page" + (f" ({_html_text(text)})" if _html_text(text) else "")
    return _first_line(text)


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in head


def _html_text(page: str) -> str:
    """An HTML page's title, or its first words."""
    title = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    text = title.group(1) if title else re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", page, flags=re.S)
    return _short(" ".join(text.split()), 120)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(message: str, limit: int = 200) -> str:
    """A server's error message shortened to its first line (llama_cpp.server appends a traceback)."""
    line = " ".join(message.split("\n", 2)[:2]).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"

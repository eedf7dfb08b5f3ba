"""The one way a model is called: concurrency, the response cache, failures,
progress and accounting, for every kind of request and whoever asks.

Runs, judges and bias probes all come here. ``fetch`` turns one ``Request``
into a response: from the shared cache when it is there, from the model
otherwise (and then into the cache). Retries with backoff on 429, 5xx and
timeouts are the backend's (``--max-retries`` reaches it through
``get_model``); what still fails comes back as an error sample, counted and
never cached. A model that cannot be reached at all (``ModelError``) is
marked fatal: its later requests are not sent, only counted as not run, and
whatever is already cached still counts.

``execute`` runs jobs with a fixed number of workers over a queue that a job
may extend (pass-until sampling draws more samples of an item as results come
in), shows one progress bar on stderr, and flushes the store on a timer so a
response that arrives while others are slow is on disk within a second. Ctrl-C
or SIGTERM stops the run: no new request starts, those in flight get a few
seconds to finish, and ``Interrupted`` is raised for the caller, whose store
then writes every response received.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from assay.errors import Interrupted, ModelError, signal_cause
from assay.models.base import CHOICES, GENERATE, ROLLING, Model, Request
from assay.records import Sample
from assay.redact import redact

DRAIN_SECONDS = 5.0  # how long a stopped run waits for the requests in flight


@dataclass
class Tally:
    """What one model's requests cost in this call (cache hits cost nothing)."""

    calls: int = 0
    cache_hits: int = 0
    not_run: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    started: float | None = None
    finished: float = 0.0
    fatal: str | None = None

    @property
    def seconds(self) -> float:
        """Wall time from this model's first call to its last (0 when all came from the cache)."""
        return (self.finished - self.started) if self.started is not None else 0.0


@dataclass
class Response:
    """A request's response and where it came from."""

    sample: Sample
    called: bool  # True: the model answered now; False: the shared cache did


async def call(model: Model, request: Request) -> Sample:
    """Send one request to its backend, by kind."""
    if request.kind == GENERATE:
        assert request.params is not None
        return await model.generate(request.prompt, request.params, request.sample_index)
    method = {CHOICES: "loglikelihood", ROLLING: "loglikelihood_rolling"}.get(request.kind)
    if method is None:
        raise ValueError(f"unknown request kind {request.kind!r}")
    if not hasattr(model, method):
        raise ModelError(
            f"model '{model.name}' cannot score text ({request.kind} requests need "
            "log-probabilities); use an embedded GGUF model or openai-completion:MODEL"
        )
    if request.kind == CHOICES:
        if request.chat_formatted:
            return await model.loglikelihood(
                request.prompt,
                list(request.continuations),  # type: ignore
                chat_formatted=True,
            )
        return await model.loglikelihood(request.prompt, list(request.continuations))  # type: ignore[attr-defined]
    return await model.loglikelihood_rolling(request.prompt, request.stride)  # type: ignore[attr-defined]


# Requests on their way to a model, by store and key: the same request asked
# again meanwhile (the same prompt under two prompt variants, say) waits for it.
_IN_FLIGHT: dict[tuple[int, str], asyncio.Future] = {}


async def fetch(model: Model, request: Request, store: Any, tally: Tally, *, key: str | None = None) -> Response | None:
    """The response to ``request``: from the shared cache, or from the model
    (a success then goes into the cache). None when the model is unreachable:
    the request was not sent and counts as not run. A request already in
    flight is not sent twice: the second asker gets the first's response."""
    key = key or request.key(model)
    cached = store.cached_response(key)
    if cached is not None and cached.text == "" and empty_is_error(model):
        cached = None  # cached by a run that took empty replies as answers: this one asks again
    if cached is not None:
        tally.cache_hits += 1
        return Response(cached, called=False)
    slot = (id(store), key)
    if slot in _IN_FLIGHT:
        shared = await asyncio.shield(_IN_FLIGHT[slot])
        if shared is None:
            tally.not_run += 1
            return None
        tally.cache_hits += 1
        return Response(shared, called=False)
    _IN_FLIGHT[slot] = asyncio.get_running_loop().create_future()
    response = None
    try:
        response = await _send(model, request, store, tally, key)
    finally:
        future = _IN_FLIGHT.pop(slot)
        future.set_result(None if response is None else response.sample)
    return response


async def _send(model: Model, request: Request, store: Any, tally: Tally, key: str) -> Response | None:
    if tally.fatal is not None:
        tally.not_run += 1
        return None
    if tally.started is None:
        tally.started = time.perf_counter()
    try:
        sample = await call(model, request)
    except ModelError as exc:
        tally.fatal = redact(str(exc))
        tally.not_run += 1
        return None
    finally:
        tally.finished = time.perf_counter()
    tally.calls += 1
    tally.tokens_in += sample.tokens_in
    tally.tokens_out += sample.tokens_out
    store.cache_response(key, sample)
    return Response(sample, called=True)


def empty_is_error(model: Model) -> bool:
    """Does this model take an empty reply for a failed request (``--empty-as-error``)?"""
    return bool(getattr(model, "empty_as_error", False))


class Jobs:
    """What a job handler can do besides its own work: queue more jobs, move the bar."""

    def __init__(self, queue: asyncio.Queue, bar: Any, bar_task: Any):
        self._queue = queue
        self._bar = bar
        self._bar_task = bar_task
        self.outstanding = 0

    def submit(self, job: Any) -> None:
        self.outstanding += 1
        self._queue.put_nowait(job)

    def advance(self, steps: int = 1) -> None:
        self._bar.advance(self._bar_task, steps)


def progress_bar(enabled: bool):
    """The one progress bar style, on stderr (results go to stdout)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not (enabled and sys.stderr is not None),
        transient=False,
    )


def execute(
    jobs: Iterable[Any],
    handle: Callable[[Any, Jobs], Awaitable[None]],
    *,
    store: Any,
    concurrency: int,
    description: str,
    total: int | None = None,
    progress: bool = True,
    advance_each: bool = True,
    drain: float = DRAIN_SECONDS,
) -> None:
    """Run ``handle(job, jobs)`` for every job with ``concurrency`` workers.

    ``total`` sizes the progress bar (default: the number of jobs given);
    with ``advance_each`` the bar moves once per finished job, otherwise the
    handler moves it (``jobs.advance``). Handlers may ``jobs.submit`` more.
    Ctrl-C or SIGTERM: no new job starts, those running get ``drain`` seconds,
    then ``Interrupted`` is raised.
    """
    asyncio.run(
        _execute(
            list(jobs),
            handle,
            store=store,
            concurrency=concurrency,
            description=description,
            total=total,
            progress=progress,
            advance_each=advance_each,
            drain=drain,
        )
    )


async def _execute(
    initial: list[Any],
    handle: Callable[[Any, Jobs], Awaitable[None]],
    *,
    store: Any,
    concurrency: int,
    description: str,
    total: int | None,
    progress: bool,
    advance_each: bool,
    drain: float,
) -> None:
    if not initial:
        return
    queue: asyncio.Queue = asyncio.Queue()
    with progress_bar(progress) as bar:
        bar_task = bar.add_task(description, total=len(initial) if total is None else total)
        jobs = Jobs(queue, bar, bar_task)
        for job in initial:
            jobs.submit(job)
        stop = _Stop(concurrency, queue, bar, drain)

        async def work() -> None:
            while True:
                job = await queue.get()
                if job is _STOP or stop.signum is not None:
                    return  # a stopped run takes no new job
                stop.busy += 1
                try:
                    await handle(job, jobs)
                finally:
                    stop.busy -= 1
                    if advance_each:
                        jobs.advance()
                    # Jobs queued or running: a handler may add more, so a worker
                    # waits for the queue rather than leaving when it is empty.
                    jobs.outstanding -= 1
                    if jobs.outstanding == 0:
                        for _ in range(concurrency):
                            queue.put_nowait(_STOP)

        flusher = asyncio.ensure_future(store.flush_every())
        stop.install(asyncio.current_task())
        try:
            await asyncio.gather(*(work() for _ in range(concurrency)))
        except asyncio.CancelledError:
            if stop.signum is None:
                raise
        finally:
            flusher.cancel()
            stop.remove()
    if stop.signum is not None:
        raise Interrupted(
            f"interrupted by {signal_cause(stop.signum)}: every response received is stored; run the same command again "
            "to make only the requests left",
            stop.signum,
        )


_STOP = object()


class _Stop:
    """Ctrl-C and SIGTERM stop a run without losing what it paid for: no new
    request starts, the requests in flight get ``drain`` seconds to finish (a
    second signal cuts that short), then the rest are cancelled; the caller's
    store writes every response received. Only the main thread takes signals,
    and a SIGINT the shell ignores (a background job) stays ignored."""

    def __init__(self, concurrency: int, queue: asyncio.Queue, bar: Any, drain: float):
        self.signum: int | None = None
        self.busy = 0  # requests in flight
        self._concurrency = concurrency
        self._queue = queue
        self._bar = bar
        self._drain = drain
        self._task: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._installed: list[tuple[asyncio.AbstractEventLoop, int, Any]] = []

    def install(self, task: asyncio.Task | None) -> None:
        if task is None or threading.current_thread() is not threading.main_thread():
            return
        self._task = task
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN:
                continue
            try:
                loop.add_signal_handler(signum, self._received, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # no signals on this platform or loop
                continue
            self._installed.append((loop, signum, previous))

    def _received(self, signum: int) -> None:
        assert self._task is not None
        if self.signum is not None:  # the second: stop now
            self._task.cancel()
            return
        self.signum = signum
        for _ in range(self._concurrency):  # wake the idle workers, so they leave
            self._queue.put_nowait(_STOP)
        if self.busy:
            if not self._bar.disable:
                again = "Ctrl-C" if signum == signal.SIGINT else "the signal"
                self._bar.console.print(
                    f"stopping: waiting up to {self._drain:g} s for the {self.busy} request(s) in flight "
                    f"({again} again to stop now)",
                    highlight=False,
                )
            self._timer = asyncio.get_running_loop().call_later(self._drain, self._task.cancel)

    def remove(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        while self._installed:
            loop, signum, previous = self._installed.pop()
            if not loop.is_closed():
                loop.remove_signal_handler(signum)
            if previous is not None:
                signal.signal(signum, previous)


def ask(
    model: Model,
    requests: list[Request],
    store: Any,
    *,
    concurrency: int = 1,
    progress: bool = False,
    description: str = "requests",
) -> tuple[list[Sample | None], Tally]:
    """Responses to a list of requests to one model, in order (None where the
    model could not be reached), through the cache; and what they cost."""
    tally = Tally()
    replies: list[Sample | None] = [None] * len(requests)

    async def handle(index: int, _: Jobs) -> None:
        response = await fetch(model, requests[index], store, tally)
        replies[index] = None if response is None else response.sample

    execute(
        range(len(requests)), handle, store=store, concurrency=concurrency, description=description, progress=progress
    )
    store.flush()
    return replies, tally

"""Run models on a task: every request cached, every response stored, resumable.

Workers pull (model, item, sample) jobs from a queue, so memory does not grow
with the number of items and concurrency is one number. A response already in
the run directory (a resumed run) or in the shared cache is reused without a
model call. A failed request is stored as an error, counted, and never scored;
an endpoint that cannot be reached stops that model's jobs, keeps everything
done so far, and the run ends with an ``IncompleteRunError`` naming the URL.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from assay.errors import ConfigError, IncompleteRunError, ModelError
from assay.jsonable import jsonable
from assay.models.base import GenParams, Model
from assay.records import Item, Sample, stable_hash
from assay.run.store import RunStore, read_config
from assay.tasks.scorers import as_score, get_scorer
from assay.tasks.task import Task

# Scorers that block (they run programs): scored in a worker thread.
BLOCKING_SCORERS = {"code"}
# Scorers that need no target (the item carries its own tests).
TARGETLESS_SCORERS = {"code"}


@dataclass
class ModelSummary:
    n_items: int
    n_samples: int
    score: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str | None
    model_calls: int
    cache_hits: int
    errors: int
    tokens: int
    seconds: float
    not_run: int = 0
    score_by_difficulty: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass
class RunResult:
    run_dir: str
    task: str
    metric: str | None  # None: no scorer, the outputs are stored for judging
    models: dict[str, ModelSummary]
    fatal: list[str] = field(default_factory=list)
    pass_until: Any = None  # a PassUntilReport for --pass-until runs

    def to_dict(self) -> dict[str, Any]:
        out = {"run_dir": self.run_dir, "task": self.task, "metric": self.metric,
               "models": {name: s.to_dict() for name, s in self.models.items()}}
        if self.pass_until is not None:
            out["pass_until"] = self.pass_until.to_dict()
        return out

    def render(self):
        from rich.table import Table

        what = f"{self.metric} (95% interval)" if self.metric else "outputs only, no scorer (judge them with assay judge)"
        table = Table(title=f"{self.task} — {what}")
        for column in ("model", "score", "95% CI", "items", "calls", "cache hits", "errors",
                       "tokens", "seconds"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for name, s in self.models.items():
            score = "—" if s.score is None else f"{s.score:.3f}"
            ci = "—" if s.ci_low is None else f"[{s.ci_low:.3f}, {s.ci_high:.3f}] {s.ci_method}"
            table.add_row(name, score, ci, str(s.n_items), str(s.model_calls), str(s.cache_hits),
                          str(s.errors + s.not_run), str(s.tokens), f"{s.seconds:.1f}")
        if self.pass_until is None:
            return table
        from rich.console import Group

        return Group(table, self.pass_until.render())

    @property
    def failed(self) -> int:
        return sum(s.errors + s.not_run for s in self.models.values())


def request_key(model: Model, params: GenParams, prompt: Any, sample_index: int) -> str:
    """The cache key: model identity, generation parameters, prompt, sample index."""
    return stable_hash({"model": model.identity, "params": params.key(), "prompt": prompt,
                        "sample": sample_index}, length=32)


def default_run_dir(task_name: str) -> Path:
    """runs/TASK-YYYYMMDD-HHMMSS, numbered when that second's name is taken, so
    that two runs started within a second never share (and mix) a directory."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{Path(task_name).name.replace(':', '_')}-{stamp}"
    path, number = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            number += 1
            path = base.with_name(f"{base.name}-{number}")


@dataclass
class _ModelState:
    model: Model
    done: dict[str, tuple[Sample, dict[str, tuple[float, str | None]]]]
    calls: int = 0
    hits: int = 0
    fatal: str | None = None
    skipped: int = 0
    started: float | None = None
    finished: float = 0.0
    # pass-until bookkeeping: item id -> [samples drawn, passes]
    tally: dict[str, list[int]] = field(default_factory=dict)
    # The store keys of this call's samples: the summary covers these only.
    keys: set[str] = field(default_factory=set)


def _stderr_progress(total: int, enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled,
                    transient=False)


def run_eval(task: Task, models: list[Model], *, samples: int = 1, temperature: float = 0.0,
             max_tokens: int = 256, seed: int = 0, concurrency: int = 4, limit: int | None = None,
             out: str | Path | None = None, progress: bool = True,
             pass_until: int | None = None, budget: int | None = None,
             batch: int = 8, use_cache: bool = True) -> RunResult:
    """Run every model on the task and summarise. The library form of ``assay run``."""
    if samples < 1 or concurrency < 1 or max_tokens < 1:
        raise ConfigError("--samples, --concurrency and --max-tokens must be at least 1")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit}: give at least 1 (or leave it out for every item)")
    if pass_until is not None and (budget is None or budget < pass_until):
        raise ConfigError("--pass-until K needs --budget B with B >= K")
    if budget is not None and pass_until is None:
        raise ConfigError(f"--budget {budget} applies with --pass-until K only; use --samples for a fixed count")
    if not models:
        raise ConfigError("give at least one model with -m")
    needs_target = [s for s in task.scorers if s.split(":")[0] not in TARGETLESS_SCORERS]
    if needs_target and task.items and all(it.target is None for it in task.items):
        raise ConfigError(f"{task.name}: no item has a target, so the {needs_target[0]} scorer has nothing "
                          "to compare with; name the answer column with --target-field, or leave out "
                          "--scorer to store the outputs for judging")
    if pass_until is not None and not task.scorers:
        raise ConfigError("--pass-until needs a scorer to tell a pass, and this task has none")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ConfigError(f"a model is named twice: {', '.join(names)}")
    items = task.items[:limit] if limit is not None else task.items
    run_dir = Path(out) if out else default_run_dir(task.name)
    config = {"task": task.config, "task_name": task.name, "scorers": task.scorers,
              "temperature": float(temperature), "max_tokens": max_tokens, "seed": seed,
              "samples": samples, "limit": limit, "pass_until": pass_until, "budget": budget}
    previous = read_config(run_dir)
    if previous and previous.get("task") != task.config:
        raise ConfigError(f"{run_dir} holds a run of another task ({previous.get('task_name')}); "
                          "choose another --out")
    for setting in ("temperature", "max_tokens", "seed"):
        # One run directory, one set of generation settings: otherwise its
        # scores would mix samples drawn under different settings.
        if previous and setting in previous and previous[setting] != config[setting]:
            raise ConfigError(f"{run_dir} holds a run with {setting}={previous[setting]}, not {config[setting]}; "
                              "choose another --out")
    scorers = {name: get_scorer(name) for name in task.scorers}
    with RunStore(run_dir, use_cache=use_cache) as store:
        store.put_items(items)
        all_models = sorted(set(previous.get("models", [])) | set(names))
        (run_dir / "config.json").write_text(json.dumps({**config, "models": all_models}, indent=2))
        states = {m.name: _ModelState(m, store.completed(m.name)) for m in models}
        asyncio.run(_run_jobs(task, items, states, store, scorers, samples=samples,
                              params_for=lambda m: GenParams(temperature, max_tokens, seed,
                                                             task.stop_for(m.chat)),
                              concurrency=concurrency, progress=progress, pass_until=pass_until,
                              budget=budget, batch=batch))
        store.flush()
        result = summarise(store, task, states, items)
    if pass_until and not (result.fatal or result.failed):
        # With failed requests some items stopped short of the rule; the run is
        # incomplete (check_complete says so) and is summarised once completed.
        _summarise_pass_until(result, run_dir, states, pass_until, budget, seed)
    for model in models:
        model.close()
    return result


def _summarise_pass_until(result: RunResult, run_dir: Path, states: dict[str, _ModelState],
                          pass_until: int, budget: int, seed: int) -> None:
    """Sequential sampling makes the plain mean of samples biased: the score of
    a pass-until run is the negative-binomial estimate, and items that hit the
    budget count at their observed rate (low end) or upper bound (high end)."""
    from assay.run.store import scores_frame
    from assay.stats.passuntil import pass_until_report

    frame = scores_frame(run_dir)
    # This call's samples only: the directory may hold other items (--limit)
    # or longer sequences drawn under another budget.
    drawn = {(name, item): tally[0] for name, state in states.items() for item, tally in state.tally.items()}
    frame = frame[[(m, i) in drawn and s < drawn[(m, i)]
                   for m, i, s in zip(frame["model"], frame["item"], frame["sample"])]]
    report = pass_until_report(frame, target_passes=pass_until, budget=budget, seed=seed)
    for name, aggregate in report.models.items():
        summary = result.models[name]
        summary.score, summary.ci_low, summary.ci_high = aggregate.value_low, aggregate.ci_low, aggregate.ci_high
        summary.ci_method = "passuntil" if aggregate.n_censored == 0 else \
            f"passuntil ({aggregate.n_censored} items at budget: score is a lower end)"
    result.pass_until = report


async def _run_jobs(task: Task, items: list[Item], states: dict[str, _ModelState], store: RunStore,
                    scorers: dict[str, Callable], *, samples: int, params_for: Callable[[Model], GenParams],
                    concurrency: int, progress: bool, pass_until: int | None, budget: int | None,
                    batch: int) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    initial = min(batch, budget or batch) if pass_until else samples
    for state in states.values():
        for item in items:
            for index in range(initial):
                queue.put_nowait((state, item, index))
    # In pass-until mode the bar counts items finished, otherwise requests.
    total = len(items) * len(states) if pass_until else queue.qsize()
    params_cache = {name: params_for(s.model) for name, s in states.items()}

    with _stderr_progress(total, progress and sys.stderr is not None) as bar:
        bar_task = bar.add_task(f"{task.name}: {', '.join(states)}", total=total)

        # Jobs queued or running; pass-until jobs add more, so a worker waits
        # for the queue rather than leaving when it is momentarily empty.
        outstanding = queue.qsize()

        def job_done() -> None:
            nonlocal outstanding
            outstanding -= 1
            if outstanding == 0:
                for _ in range(concurrency):
                    queue.put_nowait(None)

        if outstanding == 0:
            return

        async def work() -> None:
            nonlocal outstanding
            while True:
                job = await queue.get()
                if job is None:
                    return
                state, item, index = job
                passed = await _one(state, item, index, params_cache[state.model.name], store, scorers, task)
                if pass_until:
                    # tally: [samples finished (errors included), passes]
                    tally = state.tally.setdefault(item.id, [0, 0])
                    tally[0] += 1
                    tally[1] += int(bool(passed))
                    # Only once a whole batch is in does the stopping rule see
                    # every pass before more samples are drawn.
                    if tally[0] % batch == 0 or tally[0] >= budget:
                        if tally[1] < pass_until and tally[0] < budget:
                            extra = range(tally[0], min(tally[0] + batch, budget))
                            outstanding += len(extra)
                            for index in extra:
                                queue.put_nowait((state, item, index))
                        else:
                            bar.advance(bar_task)
                else:
                    bar.advance(bar_task)
                job_done()

        flusher = asyncio.ensure_future(store.flush_every())
        try:
            await asyncio.gather(*(work() for _ in range(concurrency)))
        finally:
            flusher.cancel()


async def _one(state: _ModelState, item: Item, index: int, params: GenParams, store: RunStore,
               scorers: dict[str, Callable], task: Task) -> bool | None:
    """Get one sample (from the run, the cache or the model), score it, record it.
    Returns whether it passed the primary scorer, or None when it failed."""
    model = state.model
    prompt = task.render(item, model.chat)
    key = request_key(model, params, prompt, index)
    # In the run's store a sample also carries the model's name, so two names for
    # the same weights (smollm2 and gguf:its file) keep separate rows, the item's
    # id, so two items with the same prompt keep theirs, and whatever a scorer
    # reads (target, tests), so a corrected gold answer or test is scored afresh.
    # The shared cache is keyed by the request alone and serves them all.
    run_key = stable_hash({"model": model.name, "request": key, "item": item.id, "target": item.target,
                           "fields": item.input, "targets": item.meta.get("targets")}, length=32)
    state.keys.add(run_key)
    previous = state.done.get(run_key)
    if previous is not None and set(previous[1]) >= set(scorers):
        state.hits += 1
        return previous[1][task.scorers[0]][0] >= 1.0
    from_cache = previous is not None
    sample = previous[0] if previous is not None else store.cached_response(key)
    if sample is not None:
        state.hits += 1
        from_cache = True
    else:
        if state.fatal is not None:
            # The model is unreachable: what is stored or cached still counts,
            # the rest is not run (and an error an earlier call stored for it
            # is not counted a second time).
            state.skipped += 1
            state.keys.discard(run_key)
            return None
        if state.started is None:
            state.started = time.perf_counter()
        try:
            sample = await model.generate(prompt, params, index)
        except ModelError as exc:
            state.fatal = str(exc)
            state.skipped += 1
            state.keys.discard(run_key)
            return None
        finally:
            state.finished = time.perf_counter()
        state.calls += 1
    scores: dict[str, tuple[float, str | None]] = {}
    if sample.error is None and not from_cache and BLOCKING_SCORERS & set(scorers):
        # Scoring runs programs and may take seconds: keep the response first,
        # so an interrupted run does not lose it (a resume scores it again).
        store.record(run_key, model.name, item.id, index, prompt, params.key(), sample, {},
                     from_cache=False, cache_key=key)
        from_cache = True  # now in the cache and the run
    if sample.error is None:
        for name, scorer in scorers.items():
            if name in BLOCKING_SCORERS:
                result = await asyncio.to_thread(scorer, sample.text or "", item)
            else:
                result = scorer(sample.text or "", item)
            score = as_score(result)
            scores[name] = (score.value, score.detail)
    store.record(run_key, model.name, item.id, index, prompt, params.key(), sample, scores,
                 from_cache=from_cache, cache_key=key)
    if sample.error or not task.scorers:
        return None
    return scores[task.scorers[0]][0] >= 1.0


def summary_ci(means: list[float], clusters: list | None = None):
    """``mean_ci``'s automatic interval for per-item means. Binary means without
    clusters, the usual case, take the Beta interval straight from the counts:
    the same result without importing numpy and scipy at the end of every run."""
    if clusters is None and all(m == 0.0 or m == 1.0 for m in means):
        from assay.stats.binary import proportion_ci

        return proportion_ci(int(sum(means)), len(means))
    from assay.stats.intervals import mean_ci

    return mean_ci(means, clusters=clusters)


def summarise(store: RunStore, task: Task, states: dict[str, _ModelState], items: list[Item]) -> RunResult:
    """Per model: the primary score over this call's items and samples (samples
    averaged within an item first) with its interval, and what this call cost."""
    metric = task.scorers[0] if task.scorers else None
    clusters = {it.id: it.cluster for it in items}
    difficulty = {it.id: it.meta.get("difficulty") for it in items}
    summaries: dict[str, ModelSummary] = {}
    fatal = []
    for name, state in states.items():
        # This call's samples only: a run directory may also hold samples of
        # other items (--limit), of more samples per item, or of older targets.
        found = store.conn.execute(
            "SELECT p.key, p.item, p.error IS NOT NULL, s.value, p.tokens_in + p.tokens_out FROM samples p "
            "LEFT JOIN scores s ON s.key = p.key AND s.scorer = ? WHERE p.model = ?", (metric, name)).fetchall()
        mine = [row for row in found if row[0] in state.keys]
        rows = [(item_id, value, used) for _, item_id, failed, value, used in mine
                if not failed and (value is not None or metric is None)]
        errors = sum(1 for row in mine if row[2])
        per_item: dict[str, list[float]] = {}
        tokens = 0
        for item_id, value, used in rows:
            per_item.setdefault(item_id, []).append(value)
            tokens += used or 0
        ids = sorted(per_item)
        means = [] if metric is None else [sum(per_item[i]) / len(per_item[i]) for i in ids]
        score = low = high = method = None
        if len(means) >= 2:
            cluster_list = [clusters[i] for i in ids]
            ci = summary_ci(means, cluster_list if all(c is not None for c in cluster_list) and
                            len(set(cluster_list)) > 1 else None)
            score, low, high, method = ci.mean, ci.low, ci.high, ci.method
        elif means:
            score = means[0]
        by_level: dict[str, dict[str, Any]] = {}
        levels = sorted({difficulty[i] for i in ids if difficulty.get(i) is not None}, key=str) if means else []
        for level in levels:
            level_means = [m for i, m in zip(ids, means) if difficulty[i] == level]
            entry: dict[str, Any] = {"n": len(level_means), "score": sum(level_means) / len(level_means)}
            if len(level_means) >= 2:
                ci = summary_ci(level_means)
                entry.update(ci_low=ci.low, ci_high=ci.high, ci_method=ci.method)
            by_level[str(level)] = entry
        seconds = (state.finished - state.started) if state.started else 0.0
        summaries[name] = ModelSummary(
            n_items=len(ids), n_samples=len(rows), score=score, ci_low=low, ci_high=high,
            ci_method=method, model_calls=state.calls, cache_hits=state.hits, errors=errors,
            tokens=int(tokens), seconds=round(seconds, 3), not_run=state.skipped,
            score_by_difficulty=by_level)
        if state.fatal:
            fatal.append(f"{name}: {state.fatal}")
    return RunResult(str(store.run_dir), task.name, metric, summaries, fatal)


def check_complete(result: RunResult) -> None:
    """Raise when requests failed or were not run: what was done is stored, and
    running the same command again completes only the rest."""
    if result.fatal or result.failed:
        detail = "; ".join(result.fatal) if result.fatal else "see the errors column"
        raise IncompleteRunError(
            f"{result.failed} request(s) failed or were not run ({detail}). Everything else is "
            f"stored in {result.run_dir}; run the same command with --out {result.run_dir} "
            "to complete only the rest.")

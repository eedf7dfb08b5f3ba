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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from assay.errors import ConfigError, IncompleteRunError, Interrupted
from assay.jsonable import jsonable
from assay.models.base import CHOICES, GENERATE, ROLLING, GenParams, Model, Request
from assay.records import Item, Sample, stable_hash
from assay.run.executor import Jobs, Tally, empty_is_error, execute, fetch
from assay.run.store import RunStore, read_config, write_config
from assay.stats.bootstrap import Interval
from assay.tasks.scorers import as_score, get_scorer
from assay.tasks.task import Task

if TYPE_CHECKING:
    from assay.run.stopping import StopRule

# The level of a run summary's interval: summary_ci and ratio_ci are called at their default.
SUMMARY_LEVEL = 0.95
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
    # Replies with empty text: scored as answers, or (--empty-as-error) also among the errors.
    empty: int = 0
    score_by_difficulty: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Likelihood runs: every metric with its value, interval and method.
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The first failed request of this call: its item and why (shown when the run is incomplete).
    first_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})

    def to_interval(self) -> Interval:
        """The headline score and its interval (low/high None with fewer than 2 items); ``n`` counts the items."""
        return Interval(
            self.score, self.ci_low, self.ci_high, SUMMARY_LEVEL, self.ci_method or "no interval", self.n_items
        )


@dataclass
class RunResult:
    run_dir: str
    task: str
    metric: str | None  # None: no scorer, the outputs are stored for judging
    models: dict[str, ModelSummary]
    fatal: list[str] = field(default_factory=list)
    pass_until: Any = None  # a PassUntilReport for --pass-until runs
    sequential: Any = None  # a stopping.RunSequential for --stop-when-decided runs

    def to_dict(self) -> dict[str, Any]:
        out = {
            "run_dir": self.run_dir,
            "task": self.task,
            "metric": self.metric,
            "models": {name: s.to_dict() for name, s in self.models.items()},
        }
        if self.pass_until is not None:
            out["pass_until"] = self.pass_until.to_dict()
        if self.sequential is not None:
            out["sequential"] = self.sequential.to_dict()
        return out

    def render(self):
        from rich.table import Table

        what = (
            f"{self.metric} (95% interval)" if self.metric else "outputs only, no scorer (judge them with assay judge)"
        )
        table = Table(title=f"{self.task} — {what}")
        empties = any(s.empty for s in self.models.values())
        columns = ("model", "score", "95% CI", "items", "calls", "cache hits", "errors", "empty", "tokens", "seconds")
        for column in columns:
            if column != "empty" or empties:
                table.add_column(column, justify="left" if column == "model" else "right")
        for name, s in self.models.items():
            score = "—" if s.score is None else f"{s.score:.3f}"
            ci = "—" if s.ci_low is None else f"[{s.ci_low:.3f}, {s.ci_high:.3f}] {s.ci_method}"
            table.add_row(
                name,
                score,
                ci,
                str(s.n_items),
                str(s.model_calls),
                str(s.cache_hits),
                str(s.errors + s.not_run),
                *([str(s.empty)] if empties else []),
                str(s.tokens),
                f"{s.seconds:.1f}",
            )
        if self.sequential is not None:
            from rich.console import Group

            return Group(
                table,
                *([self._metrics_table()] if any(s.metrics for s in self.models.values()) else []),
                self.sequential.render(),
            )
        if any(s.metrics for s in self.models.values()):
            from rich.console import Group

            return Group(table, self._metrics_table())
        if self.pass_until is None:
            return table
        from rich.console import Group

        return Group(table, self.pass_until.render())

    def _metrics_table(self):
        from rich.table import Table

        table = Table(title="metrics (95% interval)")
        table.add_column("model")
        names = list(dict.fromkeys(m for s in self.models.values() for m in s.metrics))
        for metric in names:
            table.add_column(metric, justify="right")
        for model, s in self.models.items():
            cells = []
            for metric in names:
                entry = s.metrics.get(metric) or {}
                value = entry.get("value")
                text = "—" if value is None else f"{value:.4g}"
                if entry.get("ci_low") is not None:
                    text += f" [{entry['ci_low']:.4g}, {entry['ci_high']:.4g}]"
                cells.append(text)
            table.add_row(model, *cells)
        return table

    @property
    def failed(self) -> int:
        return sum(s.errors + s.not_run for s in self.models.values())


def request_key(model: Model, params: GenParams, prompt: Any, sample_index: int) -> str:
    """The cache key of a generation: model identity, generation parameters, prompt, sample index."""
    return Request(GENERATE, prompt, params, sample_index).key(model)


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
    tally: Tally = field(default_factory=Tally)
    # pass-until bookkeeping: item id -> [samples drawn, passes]
    drawn: dict[str, list[int]] = field(default_factory=dict)
    # The store keys of this call's samples: the summary covers these only.
    keys: set[str] = field(default_factory=set)


def run_eval(
    task: Task,
    models: list[Model],
    *,
    samples: int = 1,
    temperature: float = 0.0,
    max_tokens: int = 256,
    seed: int = 0,
    concurrency: int = 4,
    limit: int | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    pass_until: int | None = None,
    budget: int | None = None,
    batch: int = 8,
    use_cache: bool = True,
    stride: int = 0,
    items_from: str | Path | None = None,
    stop_when_decided: StopRule | None = None,
) -> RunResult:
    """Run every model on the task and summarise. The library form of ``assay run``.

    A likelihood task (``task.mode`` choices or perplexity) is scored by the
    log-probabilities of its continuations or documents: one request per item
    (per distinct context), no sampling settings; ``stride`` sets how far the
    windows of a document longer than the context advance (0: end to end).

    ``items_from`` names a file of item ids (``assay irt select --json``) to run
    only those. ``stop_when_decided`` runs the items in a seeded random order,
    ``rule.batch`` at a time, and stops once the paired comparisons are decided
    (``run.stopping``); the result's ``sequential`` says where and how."""
    if task.mode != "generate" and (samples != 1 or pass_until is not None):
        raise ConfigError(
            f"--samples and --pass-until apply to generation; {task.mode} items are scored once "
            "by their log-probabilities"
        )
    if stride < 0:
        raise ConfigError(f"--stride {stride}: give 0 (windows end to end) or a positive number of tokens")
    if stride and task.mode != "perplexity":
        raise ConfigError("--stride applies to --mode perplexity only")
    if task.apply_chat_template:
        if task.mode != "choices":
            raise ConfigError("--apply-chat-template applies to --mode choices only")
        no_template = [m.name for m in models if not hasattr(m, "format_chat") or not m.chat]
        if no_template:
            raise ConfigError(
                f"--apply-chat-template needs a model with its own chat template (an embedded chat "
                f"GGUF); {', '.join(no_template)} has none that assay can apply"
            )
    if task.mode == "choices" and task.items and all(it.meta.get("gold") is None for it in task.items):
        raise ConfigError(f"{task.name}: no item has a gold answer among its choices; name it with --target-field")
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
    needs_target = (
        [s for s in task.scorers if s.split(":")[0] not in TARGETLESS_SCORERS] if task.mode == "generate" else []
    )
    if needs_target and task.items and all(it.target is None for it in task.items):
        raise ConfigError(
            f"{task.name}: no item has a target, so the {needs_target[0]} scorer has nothing "
            "to compare with; name the answer column with --target-field, or leave out "
            "--scorer to store the outputs for judging"
        )
    if pass_until is not None and not task.scorers:
        raise ConfigError("--pass-until needs a scorer to tell a pass, and this task has none")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ConfigError(f"a model is named twice: {', '.join(names)}")
    if stop_when_decided is not None:
        _check_stop_rule(stop_when_decided, task, names, pass_until)
    items = task.items
    if items_from is not None:
        from assay.run.selection import read_item_ids, select_items

        items = select_items(items, read_item_ids(items_from), source=str(items_from), task_name=task.name)
    items = items[:limit] if limit is not None else items
    task_config = task.config
    if task.variants is not None:
        from assay.tasks.variants import check_renders, expand_items

        # Every item under every variant; the variants (and the templates they
        # render) belong to the task's identity, so a run directory holds one set.
        check_renders(items, task.variants)
        items = expand_items(items, task.variants)
        task_config = {**task.config, "variants": task.variants.config()}
    run_dir = Path(out) if out else default_run_dir(task.name)
    config = {
        "task": task_config,
        "task_name": task.name,
        "scorers": task.scorers,
        "temperature": float(temperature),
        "max_tokens": max_tokens,
        "seed": seed,
        "samples": samples,
        "limit": limit,
        "pass_until": pass_until,
        "budget": budget,
        "mode": task.mode,
        # The few-shot count asked for (base models; chat models get none in generation), so that
        # runs of one task at several counts can be told apart (compare --multiverse).
        "fewshot": task.fewshot,
    }
    if items_from is not None:
        config["items_from"] = {"file": str(items_from), "n_items": len(items)}
    if task.mode == "generate" and "code" in task.scorers:
        config["sandbox"] = sandbox_record()
    if stop_when_decided is not None:
        config["stop_when_decided"] = stop_when_decided.to_dict()
    if task.mode != "generate":
        config.update(
            target_delimiter=task.target_delimiter,
            stride=stride,
            apply_chat_template=task.apply_chat_template,
            template=task.likelihood_template or getattr(task.choice_format, "template", None),
        )
    scorers = {name: get_scorer(name) for name in task.scorers} if task.mode == "generate" else {}
    # The directory's writer lock, held until the store closes: from reading its
    # config (which task it holds) to the last sample. Another task fails at
    # once; the same task and settings wait, then find this run's samples done.
    writer = run_writer(task, config["task"], config["temperature"], max_tokens, seed)
    with RunStore(run_dir, use_cache=use_cache, lock=writer) as store:
        previous = _check_previous(run_dir, config, task, models, items)
        store.put_items(items)
        all_models = sorted(set(previous.get("models", [])) | set(names))
        from assay.provenance import run_provenance

        provenance = run_provenance(models, items)
        write_config(run_dir, {**config, "models": all_models, "provenance": provenance})
        states = {m.name: _ModelState(m, store.completed(m.name)) for m in models}
        rounds = None
        if stop_when_decided is not None:
            rounds = _stop_rounds(stop_when_decided, task, items, states, store, seed)
        try:
            _run_jobs(
                task,
                rounds.first() if rounds else items,
                states,
                store,
                scorers,
                samples=samples,
                params_for=lambda m: GenParams(temperature, max_tokens, seed, task.stop_for(m.chat)),
                concurrency=concurrency,
                progress=progress,
                pass_until=pass_until,
                budget=budget,
                batch=stop_when_decided.batch if stop_when_decided else batch,
                stride=stride,
                next_items=rounds.next if rounds else None,
                planned_items=len(items),
            )
        except Interrupted as exc:
            store.flush()
            for model in models:
                model.close()
            raise _interrupted(exc, store, states, None if pass_until else len(items) * samples) from None
        store.flush()
        result = summarise(store, task, states, items)
        if rounds is not None:
            result.sequential = _sequential_result(rounds, stop_when_decided, task, seed, len(items))
            result.sequential.write(run_dir)
    if pass_until and not (result.fatal or result.failed):
        # With failed requests some items stopped short of the rule; the run is
        # incomplete (check_complete says so) and is summarised once completed.
        _summarise_pass_until(result, run_dir, states, pass_until, budget, seed)
    for model in models:
        model.close()
    return result


def sandbox_record() -> dict[str, Any]:
    """How this run's generated code is sandboxed, for its config: ``bwrap``, or
    ``weak`` with the reason (then every code score says ``sandbox: weak`` too)."""
    from assay.tasks.sandbox import isolation

    here = isolation()
    return {"isolation": here.mode, "reason": here.reason} if here.reason else {"isolation": here.mode}


def run_writer(
    task: Task, task_config: dict[str, Any], temperature: float, max_tokens: int, seed: int
) -> tuple[str, str]:
    """A run's claim on its directory's lock: a key (what another run must match
    to share the directory: the task's identity as config.json records it, and
    the generation settings) and how the busy message describes it."""
    settings = {"temperature": float(temperature), "max_tokens": max_tokens, "seed": seed}
    return (
        stable_hash({"task": task_config, **settings}),
        f"a run of task {task.name} (temperature {temperature:g}, max_tokens {max_tokens}, seed {seed})",
    )


def _check_previous(
    run_dir: Path, config: dict[str, Any], task: Task, models: list[Model], items: list[Item]
) -> dict[str, Any]:
    """The directory's earlier config, checked against this run's (the task and
    generation settings must match); adds the prompts record to ``config``."""
    previous = read_config(run_dir, strict=True)
    if items:
        # What each model was prompted with, in full: the template in force for its kind and one prompt.
        config["prompts"] = {
            **previous.get("prompts", {}),
            **{m.name: task.prompt_record(items[0], m.chat) for m in models},
        }
    if previous and previous.get("task") != config["task"]:
        raise ConfigError(f"{run_dir} holds a run of another task ({previous.get('task_name')}); choose another --out")
    for setting in ("temperature", "max_tokens", "seed"):
        # One run directory, one set of generation settings: otherwise its
        # scores would mix samples drawn under different settings.
        if previous and setting in previous and previous[setting] != config[setting]:
            raise ConfigError(
                f"{run_dir} holds a run with {setting}={previous[setting]}, not {config[setting]}; choose another --out"
            )
    return previous


def _interrupted(exc: Interrupted, store: RunStore, states: dict[str, _ModelState], planned: int | None) -> Interrupted:
    """What an interrupted run kept, and how to complete it (``planned``: responses per model, when known)."""
    kept = failed = 0
    for name, state in states.items():
        for row in store.sample_outcomes(name, None):
            if row.key in state.keys:
                kept += 1
                failed += row.failed
    return Interrupted(
        f"interrupted by {exc.cause}: {kept}"
        + (f" of the {planned * len(states)} responses this run asks for" if planned else " responses")
        + f" are stored in {store.run_dir}"
        + (f" ({failed} of them failed requests)" if failed else "")
        + "; run the same "
        f"command with --out {store.run_dir} to complete only the rest",
        exc.signum,
    )


def _check_stop_rule(rule: StopRule, task: Task, names: list[str], pass_until: int | None) -> None:
    rule.check(names)
    if pass_until is not None:
        raise ConfigError("--stop-when-decided and --pass-until each decide when to stop; use one of them")
    if task.mode == "perplexity":
        raise ConfigError(
            "--stop-when-decided needs scores in [0, 1]; bits per byte are unbounded, so compare "
            "perplexity runs over every item"
        )
    if task.mode == "generate" and not task.scorers:
        raise ConfigError("--stop-when-decided needs a scorer to compare the models, and this task has none")


def _stop_metric(task: Task) -> str:
    return "acc" if task.mode == "choices" else task.scorers[0]


def _stop_rounds(
    rule: StopRule, task: Task, items: list[Item], states: dict[str, _ModelState], store: RunStore, seed: int
):
    """The rounds of a --stop-when-decided run: its batches of the seeded order and the rule between them."""
    from assay.run.stopping import Rounds, item_means, run_order

    metric = _stop_metric(task)

    def scores_of() -> dict[str, dict[str, float]]:
        store.flush()
        return {name: item_means(store.sample_outcomes(name, metric), state.keys) for name, state in states.items()}

    return Rounds(
        run_order(items, seed), rule, scores_of, stop_now=lambda: any(state.tally.fatal for state in states.values())
    )


def _sequential_result(rounds, rule: StopRule, task: Task, seed: int, n_items: int):
    from assay.run.stopping import RunSequential

    notes = []
    if rounds.n_paired < rounds.n_run:
        notes.append(
            f"{rounds.n_run - rounds.n_paired} of the {rounds.n_run} items run lack a score of some model "
            "(failed or not run) and are left out of the comparison"
        )
    for test in rounds.last.pairs.values() if rounds.last is not None else []:
        test.order_seed = seed
    return RunSequential(
        rule, seed, _stop_metric(task), n_items, rounds.n_run, rounds.n_paired, rounds.last, rounds.looks, notes
    )


def _summarise_pass_until(
    result: RunResult, run_dir: Path, states: dict[str, _ModelState], pass_until: int, budget: int, seed: int
) -> None:
    """Sequential sampling makes the plain mean of samples biased: the score of
    a pass-until run is the negative-binomial estimate, and items that hit the
    budget count at their observed rate (low end) or upper bound (high end)."""
    from assay.run.store import scores_frame
    from assay.stats.passuntil import pass_until_report

    frame = scores_frame(run_dir)
    # This call's samples only: the directory may hold other items (--limit)
    # or longer sequences drawn under another budget.
    drawn = {(name, item): count[0] for name, state in states.items() for item, count in state.drawn.items()}
    frame = frame[
        [(m, i) in drawn and s < drawn[(m, i)] for m, i, s in zip(frame["model"], frame["item"], frame["sample"])]
    ]
    report = pass_until_report(frame, target_passes=pass_until, budget=budget, seed=seed)
    for name, aggregate in report.models.items():
        summary = result.models[name]
        summary.score, summary.ci_low, summary.ci_high = aggregate.value_low, aggregate.ci_low, aggregate.ci_high
        summary.ci_method = (
            "passuntil"
            if aggregate.n_censored == 0
            else f"passuntil ({aggregate.n_censored} items at budget: score is a lower end)"
        )
    result.pass_until = report


def _run_jobs(
    task: Task,
    items: list[Item],
    states: dict[str, _ModelState],
    store: RunStore,
    scorers: dict[str, Callable],
    *,
    samples: int,
    params_for: Callable[[Model], GenParams],
    concurrency: int,
    progress: bool,
    pass_until: int | None,
    budget: int | None,
    batch: int,
    stride: int = 0,
    next_items: Callable[[], list[Item]] | None = None,
    planned_items: int | None = None,
) -> None:
    """Run ``items`` for every model. With ``next_items`` the items come in
    rounds: once every job of the items queued so far has finished, it is asked
    for the next round (none: the run ends), so a stopping rule can look at
    complete results between rounds; ``planned_items`` sizes the bar then."""
    initial = min(batch, budget or batch) if pass_until else samples
    jobs = [(state, item, index) for state in states.values() for item in items for index in range(initial)]
    params = {name: params_for(s.model) for name, s in states.items()}
    unfinished = [len(jobs)]

    def finished(queue: Jobs) -> None:
        unfinished[0] -= 1
        if next_items is None or unfinished[0]:
            return
        round_items = next_items()
        more = [(state, item, index) for state in states.values() for item in round_items for index in range(initial)]
        unfinished[0] = len(more)
        for job in more:
            queue.submit(job)

    async def handle(job: tuple[_ModelState, Item, int], queue: Jobs) -> None:
        state, item, index = job
        if task.mode != "generate":
            await _one_likelihood(state, item, store, task, stride)
            queue.advance()
            finished(queue)
            return
        passed = await _one(state, item, index, params[state.model.name], store, scorers, task)
        if not pass_until:
            queue.advance()
            finished(queue)
            return
        # drawn: [samples finished (errors included), passes]
        drawn = state.drawn.setdefault(item.id, [0, 0])
        drawn[0] += 1
        drawn[1] += int(bool(passed))
        # Only once a whole batch is in does the stopping rule see every pass
        # before more samples are drawn.
        if drawn[0] % batch == 0 or drawn[0] >= budget:  # type: ignore[operator]
            if drawn[1] < pass_until and drawn[0] < budget:  # type: ignore[operator]
                for more in range(drawn[0], min(drawn[0] + batch, budget)):  # type: ignore[type-var]
                    queue.submit((state, item, more))
            else:
                queue.advance()

    # In pass-until mode the bar counts items finished, otherwise requests.
    execute(
        jobs,
        handle,
        store=store,
        concurrency=concurrency,
        description=f"{task.name}: {', '.join(states)}",
        total=len(items) * len(states) if pass_until else (planned_items or len(items)) * len(states) * initial,
        progress=progress,
        advance_each=False,
    )


async def _one(
    state: _ModelState,
    item: Item,
    index: int,
    params: GenParams,
    store: RunStore,
    scorers: dict[str, Callable],
    task: Task,
) -> bool | None:
    """Get one sample (from the run, the cache or the model), score it, record it.
    Returns whether it passed the primary scorer, or None when it failed."""
    model = state.model
    prompt = task.render(item, model.chat)
    request = Request(GENERATE, prompt, params, index)
    key = request.key(model)
    # In the run's store a sample also carries the model's name, so two names for
    # the same weights (smollm2 and gguf:its file) keep separate rows, the item's
    # id, so two items with the same prompt keep theirs, and whatever a scorer
    # reads (target, tests), so a corrected gold answer or test is scored afresh.
    # The shared cache is keyed by the request alone and serves them all.
    run_key = stable_hash(
        {
            "model": model.name,
            "request": key,
            "item": item.id,
            "target": item.target,
            "fields": item.input,
            "targets": item.meta.get("targets"),
        },
        length=32,
    )
    state.keys.add(run_key)
    previous = state.done.get(run_key)
    if previous is not None and previous[0].text == "" and empty_is_error(model):
        previous = None  # kept as an answer by a run without --empty-as-error: this one asks again
    if previous is not None and set(previous[1]) >= set(scorers):
        state.tally.cache_hits += 1
        return previous[1][task.scorers[0]][0] >= 1.0
    if previous is not None:
        state.tally.cache_hits += 1
        sample, called = previous[0], False
    else:
        response = await fetch(model, request, store, state.tally, key=key)
        if response is None:
            # The model is unreachable: what is stored or cached still counts,
            # the rest is not run (and an error an earlier call stored for it
            # is not counted a second time).
            state.keys.discard(run_key)
            return None
        sample, called = response.sample, response.called
    scores: dict[str, tuple[float, str | None]] = {}
    if sample.error is None and called and BLOCKING_SCORERS & set(scorers):
        # Scoring runs programs and may take seconds: keep the response first,
        # so an interrupted run does not lose it (a resume scores it again).
        store.record(run_key, model.name, item.id, index, prompt, params.key(), sample, {})
    if sample.error is None:
        for name, scorer in scorers.items():
            if name in BLOCKING_SCORERS:
                result = await asyncio.to_thread(scorer, sample.text or "", item)
            else:
                result = scorer(sample.text or "", item)
            score = as_score(result)
            scores[name] = (score.value, score.detail)
    store.record(run_key, model.name, item.id, index, prompt, params.key(), sample, scores)
    if sample.error or not task.scorers:
        return None
    return scores[task.scorers[0]][0] >= 1.0


async def _one_likelihood(state: _ModelState, item: Item, store: RunStore, task: Task, stride: int) -> None:
    """Score one choices item (one request per distinct context) or one document, and record it."""
    from assay.tasks.likelihood import choice_metrics, document_metrics

    model = state.model
    if task.mode == "choices":
        prompt = task.choice_prompt(item)
        if task.apply_chat_template:
            # lm-eval's --apply_chat_template: the context as the user's turn of
            # the model's own chat template; the choices follow the assistant's cue.
            prompt.contexts = [
                model.format_chat([{"role": "user", "content": c}])  # type: ignore[attr-defined]
                for c in prompt.contexts
            ]
        contexts = list(dict.fromkeys(prompt.contexts))
        requests = [
            Request(
                CHOICES,
                context,
                continuations=tuple(c for ctx, c in zip(prompt.contexts, prompt.continuations) if ctx == context),
                chat_formatted=task.apply_chat_template,
            )
            for context in contexts
        ]
        shown: Any = contexts[0] if len(contexts) == 1 else json.dumps(contexts, ensure_ascii=False)
        asked = {"mode": "choices", "contexts": prompt.contexts, "continuations": prompt.continuations}
    else:
        text = task.document(item)
        requests = [Request(ROLLING, text, stride=stride)]
        shown, asked = text, {"mode": "perplexity", "stride": stride}
    run_key = stable_hash(
        {
            "model": model.name,
            "requests": [r.key(model) for r in requests],
            "item": item.id,
            "gold": item.meta.get("gold"),
        },
        length=32,
    )
    state.keys.add(run_key)
    previous = state.done.get(run_key)
    if previous is not None and set(previous[1]) >= set(task.scorers):
        state.tally.cache_hits += 1
        return
    responses = []
    for request in requests:
        response = await fetch(model, request, store, state.tally)
        if response is None:
            state.keys.discard(run_key)
            return
        responses.append(response.sample)
    failed = next((r for r in responses if r.error is not None), None)
    if failed is not None:
        store.record(run_key, model.name, item.id, 0, shown, asked, failed, {})
        return
    scores: dict[str, tuple[float, str | None]] = {}
    if task.mode == "choices":
        by_context = {context: list(r.logprobs or []) for context, r in zip(contexts, responses)}
        logprobs = [by_context[context].pop(0) for context in prompt.contexts]
        if item.meta.get("gold") is not None:
            values = choice_metrics(logprobs, prompt.choice_texts, int(item.meta["gold"]))
            scores = {name: (value, None) for name, value in values.items()}
    else:
        logprobs = list(responses[0].logprobs or [])
        scores = {name: (value, None) for name, value in document_metrics(logprobs[0], text).items()}
    sample = Sample(
        text=None,
        tokens_in=sum(r.tokens_in for r in responses),
        latency=sum(r.latency for r in responses),
        finish_reason="scored",
        logprobs=logprobs,
    )
    store.record(run_key, model.name, item.id, 0, shown, asked, sample, scores)


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
    sources = {it.id: it.meta.get("source") for it in items}
    summaries: dict[str, ModelSummary] = {}
    fatal = []
    for name, state in states.items():
        # This call's samples only: a run directory may also hold samples of
        # other items (--limit), of more samples per item, or of older targets.
        mine = [row for row in store.sample_outcomes(name, metric) if row.key in state.keys]
        rows = [
            (row.item, row.value, row.tokens)
            for row in mine
            if not row.failed and (row.value is not None or metric is None)
        ]
        errors = sum(1 for row in mine if row.failed)
        empty = sum(1 for row in mine if row.empty)
        first_error = (
            next(
                (
                    f"{sources.get(item) or 'item ' + item}: {error}"
                    for key, item, error in store.errors(name)
                    if key in state.keys
                ),
                None,
            )
            if errors
            else None
        )
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
            ci = summary_ci(
                means, cluster_list if all(c is not None for c in cluster_list) and len(set(cluster_list)) > 1 else None
            )
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
        tally = state.tally
        metrics = _likelihood_metrics(store, name, state, task, clusters) if task.mode != "generate" else {}
        if task.mode == "perplexity" and "bits_per_byte" in metrics:
            headline = metrics["bits_per_byte"]
            score, low, high, method = headline["value"], headline["ci_low"], headline["ci_high"], headline["method"]
        summaries[name] = ModelSummary(
            n_items=len(ids),
            n_samples=len(rows),
            score=score,
            ci_low=low,
            ci_high=high,
            ci_method=method,
            model_calls=tally.calls,
            cache_hits=tally.cache_hits,
            errors=errors,
            tokens=int(tokens),
            seconds=round(tally.seconds, 3),
            not_run=tally.not_run,
            empty=empty,
            score_by_difficulty=by_level,
            metrics=metrics,
            first_error=first_error,
        )
        if tally.fatal:
            fatal.append(f"{name}: {tally.fatal}")
    headline = {"choices": "acc", "perplexity": "bits_per_byte"}.get(task.mode, metric)
    return RunResult(str(store.run_dir), task.name, headline, summaries, fatal)


def _likelihood_metrics(
    store: RunStore, name: str, state: _ModelState, task: Task, clusters: dict[str, str | None]
) -> dict[str, dict[str, Any]]:
    """Every metric of a likelihood run over this call's items, each with its interval."""
    from assay.run.table import summarise_likelihood

    values: dict[str, dict[str, float]] = {}
    for scorer in task.scorers:
        values[scorer] = {
            row.item: row.value
            for row in store.sample_outcomes(name, scorer)
            if row.key in state.keys and not row.failed and row.value is not None
        }
    return summarise_likelihood(values, task.mode, clusters)


def check_complete(result: RunResult) -> None:
    """Raise when requests failed or were not run: what was done is stored, and
    running the same command again completes only the rest."""
    if result.fatal or result.failed:
        first = next((f"{name}, {s.first_error}" for name, s in result.models.items() if s.first_error), None)
        detail = (
            "; ".join(result.fatal) if result.fatal else (f"the first: {first}" if first else "see the errors column")
        )
        raise IncompleteRunError(
            f"{result.failed} request(s) failed or were not run ({detail}). Everything else is "
            f"stored in {result.run_dir}; run the same command with --out {result.run_dir} "
            "to complete only the rest."
        )

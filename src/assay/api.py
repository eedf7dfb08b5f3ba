"""The library form of the commands: ``run``, ``list_models``, ``list_tasks``, ``passk``, and the
comparisons (``compare``, ``compare_across``, ``compare_suite``, ``multiverse``, ``load_scores``,
``score_matrix``, ``irt_fit``, ``irt_estimate``) over sources that may be run directories.

``assay.stats`` computes from score files and data frames; the comparisons here
(defined in ``assay.run.sources``) read each run directory and hand its scores to
the function of the same name there, with the same options.

>>> from assay.api import compare, run
>>> result = run("arithmetic", ["smollm2"], limit=5, max_tokens=8)
>>> result.models["smollm2"].score
>>> compare(result.run_dir).groups
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.jsonable import jsonable
from assay.lazy import lazy_exports

# Loaded on first use: ``from assay.api import run`` need not load pandas and the statistics.
_COMPARISONS = {
    name: "assay.run.sources"
    for name in (
        "load_scores",
        "compare",
        "compare_across",
        "compare_suite",
        "multiverse",
        "score_matrix",
        "irt_fit",
        "irt_estimate",
    )
}
__getattr__, _ = lazy_exports(__name__, _COMPARISONS)


def run(
    task: str,
    models: list[str],
    *,
    limit: int | None = None,
    samples: int = 1,
    temperature: float = 0.0,
    max_tokens: int = 256,
    seed: int = 0,
    concurrency: int = 4,
    out: str | Path | None = None,
    params: dict[str, str] | None = None,
    input_field: str | None = None,
    target_field: str | None = None,
    template: str | list[str] | None = None,
    scorers: list[str] | None = None,
    fewshot: int | None = None,
    base_urls: list[str] | None = None,
    pass_until: int | None = None,
    budget: int | None = None,
    use_cache: bool = True,
    progress: bool = True,
    max_retries: int = 4,
    n_ctx: int = 2048,
    mode: str | None = None,
    choices_field: str | None = None,
    target_delimiter: str | None = None,
    data: str | None = None,
    stride: int = 0,
    apply_chat_template: bool = False,
    items_from: str | Path | None = None,
    stop_when_decided: bool = False,
    alpha: float = 0.05,
    margin: float | None = None,
    against: str | None = None,
    batch: int | None = None,
    chat_template: str | None = None,
    completion_template: str | None = None,
    system: str | None = None,
    stop: list[str] | None = None,
    fewshot_from: str | None = None,
    name: str | None = None,
    prompt_variants: int | None = None,
    timeout: float | None = None,
    empty_as_error: bool | None = None,
):
    """Run models (by name) on a task (by name or path); returns a ``RunResult``.

    ``template`` given as a list runs every item under each template (prompt
    variants); ``prompt_variants`` N runs every item under N formatting variants
    of the task's template, generated from ``seed`` (``tasks.variants``).

    ``stop_when_decided`` stops once every pair of models (or every pair with
    ``against``) is decided at error rate ``alpha`` or shown equivalent within
    ``margin``, looking after every ``batch`` items (default 8). ``timeout``
    (seconds per request, default 120) and ``empty_as_error`` (an empty reply
    is retried, then a failed request; default for chat models) apply to
    server models."""
    from assay.models.registry import get_model
    from assay.run.runner import run_eval
    from assay.tasks.registry import get_task

    the_task = get_task(
        task,
        params=params,
        seed=seed,
        input_field=input_field,
        target_field=target_field,
        template=template,
        scorers=scorers,
        fewshot=fewshot,
        mode=mode,
        choices_field=choices_field,
        target_delimiter=target_delimiter,
        data=data,
        apply_chat_template=apply_chat_template,
        chat_template=chat_template,
        completion_template=completion_template,
        system=system,
        stop=stop,
        fewshot_from=fewshot_from,
        prompt_variants=prompt_variants,
        variant_seed=seed,
    )
    if name is not None:
        if not name.strip() or "/" in name or "\\" in name:
            from assay.errors import ConfigError

            raise ConfigError(f"--name {name!r}: give a non-empty name without a path separator, e.g. gsm8k")
        the_task.name = name.strip()
    rule = None
    if stop_when_decided:
        from assay.run.stopping import StopRule

        rule = StopRule(alpha=alpha, margin=margin, against=against, batch=8 if batch is None else batch)
        rule.check(list(models))  # before any model is loaded
    the_models = [
        get_model(
            m, base_urls=base_urls, max_retries=max_retries, n_ctx=n_ctx, timeout=timeout, empty_as_error=empty_as_error
        )
        for m in models
    ]
    return run_eval(
        the_task,
        the_models,
        samples=samples,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        concurrency=concurrency,
        limit=limit,
        out=out,
        progress=progress,
        pass_until=pass_until,
        budget=budget,
        use_cache=use_cache,
        stride=stride,
        items_from=items_from,
        stop_when_decided=rule,
    )


@dataclass
class Listing:
    """Rows for ``assay models`` / ``assay tasks``."""

    title: str
    rows: list[Any]

    def to_dict(self) -> dict[str, Any]:
        return {self.title: jsonable(self.rows)}

    def render(self):
        from rich.table import Table

        table = Table(title=self.title)
        fields = list(jsonable(self.rows[0])) if self.rows else []
        for name in fields:
            table.add_column(name)
        for row in self.rows:
            table.add_row(*(str(v) for v in jsonable(row).values()))
        return table


def list_models() -> Listing:
    from assay.models.registry import list_models as infos

    return Listing("models", infos())


def list_tasks() -> Listing:
    from assay.tasks.registry import list_tasks as infos

    return Listing("tasks", infos())


def passk(
    run_dir: str | Path,
    ks: list[int] | None = None,
    *,
    metric: str | None = None,
    pass_until: int | None = None,
    budget: int | None = None,
    seed: int = 0,
):
    """pass@k (and PassUntil when the run sampled that way) for a run directory."""
    from assay.run.pass_until import resolve_pass_until
    from assay.run.store import read_config, scores_frame
    from assay.stats.passk import passk_report
    from assay.stats.passuntil import pass_until_report

    # The config first: a damaged one stops pass@k in one line, before the store's reader warns of it.
    pass_until, budget = resolve_pass_until(
        read_config(run_dir, strict=True), pass_until, budget, source=f"{run_dir}/config.json"
    )
    frame = scores_frame(run_dir, metric=metric)
    if pass_until:
        return pass_until_report(frame, target_passes=int(pass_until), budget=int(budget), seed=seed)
    return passk_report(frame, ks, seed=seed)

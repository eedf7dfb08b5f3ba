"""The ``assay`` command: a thin skin over the library.

Each command calls one library function and prints its result as a table, or
as exactly one JSON object on stdout with ``--json``. Progress goes to stderr.
User mistakes (``AssayError``) print one red line and exit 2; bugs keep their
traceback. Heavy modules are imported inside the commands so start-up is fast.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import List, Optional

import typer

from assay.errors import AssayError, ConfigError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Evaluate language models honestly: run, judge, measure, forecast.",
)


def _emit(result, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return
    from rich.console import Console

    # A pipe or file gets 120 columns rather than Rich's 80, so tables stay readable.
    Console(width=None if sys.stdout.isatty() else 120).print(result.render())


def _params(pairs: list[str] | None, option: str = "--param") -> dict[str, str]:
    parsed = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {pair!r}: expected KEY=VALUE")
        parsed[key.strip()] = value.strip()
    return parsed


def _new_or_dir(path: Optional[Path], option: str, what: str) -> None:
    """A run directory option may name a new or an existing directory, not an existing file."""
    if path is not None and path.exists() and not path.is_dir():
        raise ConfigError(
            f"{option} {path}: an existing file, not a directory; give a new or existing {what} directory"
        )


@app.command()
def run(
    task: str = typer.Argument(
        ...,
        help="arithmetic, a standard task (mmlu, arc_easy, hellaswag, ...: see assay tasks), a dataset file (.jsonl/.csv/.parquet/.txt), a saved HF dataset dir, or hf:NAME",
    ),
    model: List[str] = typer.Option(
        ..., "-m", "--model", help="smollm2, gemma3-270m, gguf:PATH, openai:MODEL, openai-completion:MODEL"
    ),
    limit: Optional[int] = typer.Option(None, help="first N items only"),
    samples: int = typer.Option(1, help="completions per item"),
    temperature: float = typer.Option(0.0, help="sampling temperature, 0 or more (0: greedy)"),
    max_tokens: int = typer.Option(256, help="longest completion, in tokens"),
    seed: int = typer.Option(0, help="sampling seed"),
    concurrency: int = typer.Option(4, help="requests in flight at once"),
    out: Optional[Path] = typer.Option(None, help="run directory (default runs/<task>-<timestamp>)"),
    param: Optional[List[str]] = typer.Option(None, help="task parameter KEY=VALUE, e.g. digits=3"),
    input_field: Optional[str] = typer.Option(None),
    target_field: Optional[str] = typer.Option(None),
    template: Optional[List[str]] = typer.Option(
        None,
        help="Jinja2 prompt template (file or string) for every model: a chat model's user turn, a base model's question (its few-shot examples rendered the same way); in likelihood modes, the plain-text context. Repeat it to run every item under each template (prompt variants)",
    ),
    prompt_variants: Optional[int] = typer.Option(
        None,
        "--prompt-variants",
        help="run every item under N formatting variants of the template (field names' case, separators, line breaks, answer prefix, choice labels), the first as given; drawn with --seed",
    ),
    chat_template: Optional[str] = typer.Option(
        None, help="generation: the prompt template for chat models only (overrides --template for them)"
    ),
    completion_template: Optional[str] = typer.Option(
        None, help="generation: the whole prompt template for base models only, over input and the fewshot list"
    ),
    system: Optional[str] = typer.Option(
        None, help="generation: a system message for chat models (the first paragraph of a base model's prompt)"
    ),
    stop: Optional[List[str]] = typer.Option(
        None, help="generation: stop sequence for every model (repeatable; \\n for a newline)"
    ),
    fewshot_from: Optional[str] = typer.Option(
        None,
        help="few-shot examples from this file or saved dataset (e.g. the train split), not from neighbouring test items",
    ),
    name: Optional[str] = typer.Option(
        None,
        "--name",
        help="the run's task name (default: the task's, e.g. the file's stem); names the run directory and a suite's task",
    ),
    mode: Optional[str] = typer.Option(
        None,
        help="generate, choices (multiple choice by log-probability) or perplexity; default: choices when the items have choices",
    ),
    choices_field: Optional[str] = typer.Option(None, help="column holding each item's list of choices"),
    target_delimiter: Optional[str] = typer.Option(
        None, help="text between the context and each choice (default: one space)"
    ),
    data: Optional[str] = typer.Option(
        None, help="a standard task's local copy (file or saved HF dataset dir), or 'sample'"
    ),
    stride: int = typer.Option(
        0, help="perplexity: windows of a long document advance by this many tokens (0: end to end)"
    ),
    apply_chat_template: bool = typer.Option(
        False,
        "--apply-chat-template",
        help="choices: give the context as a user turn of each model's own chat template (embedded chat models)",
    ),
    scorer: Optional[List[str]] = typer.Option(None, help="exact, contains, numeric, f1, regex:PATTERN, code"),
    fewshot: Optional[int] = typer.Option(None, help="few-shot examples for base models (0 or more)"),
    base_url: Optional[List[str]] = typer.Option(None, help="OpenAI-compatible endpoint; repeat to load-balance"),
    pass_until: Optional[int] = typer.Option(None, help="sample each item until K passes ..."),
    budget: Optional[int] = typer.Option(None, help="... or B samples"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the shared response cache"),
    max_retries: int = typer.Option(
        4,
        help="retries (exponential backoff) on timeouts, 429, 5xx, dropped connections and unreadable or empty replies; 0 or more",
    ),
    timeout: Optional[float] = typer.Option(
        None, help="seconds one request to a server may take before it is retried (default 120; prompt scoring 600)"
    ),
    empty_as_error: Optional[bool] = typer.Option(
        None,
        "--empty-as-error/--no-empty-as-error",
        help="an empty reply is retried, then counted as a failed request, not scored (default: on for chat models, off for openai-completion)",
    ),
    n_ctx: int = typer.Option(2048, "--n-ctx", help="context window of embedded (GGUF) models, in tokens"),
    items_from: Optional[Path] = typer.Option(
        None,
        "--items-from",
        help="run only the item ids in FILE (assay irt select --json, a JSON list, or one id a line)",
    ),
    stop_when_decided: bool = typer.Option(
        False,
        "--stop-when-decided",
        help="run items in a seeded random order in batches and stop once every pair of models is decided (anytime-valid confidence sequences)",
    ),
    alpha: Optional[float] = typer.Option(None, help="--stop-when-decided: error rate over all pairs (default 0.05)"),
    margin: Optional[float] = typer.Option(
        None, help="--stop-when-decided: also stop a pair shown within +-M (equivalence)"
    ),
    against: Optional[str] = typer.Option(
        None, help="--stop-when-decided: only the pairs of this model with each other"
    ),
    batch: Optional[int] = typer.Option(
        None, help="--stop-when-decided: items per batch, the rule looks after each (default 8)"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
) -> None:
    """Run models on a task; every response is stored and cached, a killed run resumes."""
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"--temperature {temperature}: give a finite number, 0 or more (0 is greedy)")
    if max_retries < 0:
        raise ConfigError(f"--max-retries {max_retries}: give 0 or more (0: no retries)")
    if fewshot is not None and fewshot < 0:
        raise ConfigError(f"--fewshot {fewshot}: give 0 or more examples")
    _new_or_dir(out, "--out", "run")
    if not stop_when_decided and (alpha is not None or margin is not None or against is not None or batch is not None):
        raise ConfigError(
            "--alpha, --margin, --against and --batch apply to --stop-when-decided; "
            "add --stop-when-decided or drop them"
        )
    from assay.api import run as run_api
    from assay.run.runner import check_complete

    result = run_api(
        task,
        model,
        limit=limit,
        samples=samples,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        concurrency=concurrency,
        out=out,
        params=_params(param),
        input_field=input_field,
        target_field=target_field,
        template=template,
        scorers=scorer,
        fewshot=fewshot,
        base_urls=base_url,
        pass_until=pass_until,
        budget=budget,
        use_cache=not no_cache,
        max_retries=max_retries,
        n_ctx=n_ctx,
        mode=mode,
        choices_field=choices_field,
        target_delimiter=target_delimiter,
        data=data,
        stride=stride,
        apply_chat_template=apply_chat_template,
        items_from=items_from,
        stop_when_decided=stop_when_decided,
        alpha=0.05 if alpha is None else alpha,
        margin=margin,
        against=against,
        batch=batch,
        chat_template=chat_template,
        completion_template=completion_template,
        system=system,
        stop=stop,
        fewshot_from=fewshot_from,
        name=name,
        prompt_variants=prompt_variants,
        timeout=timeout,
        empty_as_error=empty_as_error,
    )
    _emit(result, as_json)
    if not as_json:
        typer.echo(f"stored in {result.run_dir}", err=True)
    check_complete(result)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="where the demo's run and report go"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The main job on the embedded models, in a few minutes on 2 CPU cores."""
    from assay.demo import run_demo

    _emit(run_demo(out), as_json)


@app.command()
def models(as_json: bool = typer.Option(False, "--json")) -> None:
    """List the models assay can run."""
    from assay.api import list_models

    _emit(list_models(), as_json)


@app.command()
def tasks(as_json: bool = typer.Option(False, "--json")) -> None:
    """List the built-in tasks and the dataset kinds a task can come from."""
    from assay.api import list_tasks

    _emit(list_tasks(), as_json)


@app.command()
def export(
    run_dir: Path = typer.Argument(...),
    output: Path = typer.Option(..., "-o", "--output", help="FILE.csv, .jsonl or .parquet"),
    what: str = typer.Option(
        "samples",
        help="samples, verdicts, choices (one row per choice of a choices run) or documents (perplexity runs)",
    ),
    export_format: Optional[str] = typer.Option(
        None,
        "--format",
        help="every-eval-ever: -o names a directory for the Every Eval Ever aggregate JSON and instance JSONL",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Export per-item records of a run."""
    if export_format is not None:
        if export_format != "every-eval-ever":
            raise ConfigError(
                f"--format {export_format}: the one format is every-eval-ever (without --format, "
                "the file's suffix chooses CSV, JSONL or Parquet)"
            )
        from assay.importers.every_eval_ever import export_run as export_eee

        _emit(export_eee(run_dir, output), as_json)
        return
    from assay.run.export import export_run

    _emit(export_run(run_dir, output, what=what), as_json)


@app.command("import")
def import_logs(
    paths: List[Path] = typer.Argument(
        ...,
        help="logs of other tools: Inspect .eval/.json, lm-eval samples_*.jsonl, "
        "HELM run directories, AlpacaEval annotations.json, Every Eval Ever .json",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="run directory to create or add to"),
    metric: Optional[str] = typer.Option(
        None, help="the metric that becomes the run's score (default: the tool's primary)"
    ),
    key_field: Optional[str] = typer.Option(
        None, help="field whose value pairs items across tools (default: the item's key in its source)"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
) -> None:
    """Import other tools' per-item results as a run: compare, passk, report and export then work on it."""
    _new_or_dir(output, "-o/--output", "run")
    from assay.importers import import_paths

    _emit(import_paths(paths, output, metric=metric, key_field=key_field, progress=True), as_json)


@app.command()
def compare(
    sources: List[str] = typer.Argument(
        ...,
        help="run directories or score files (model,item,score[,cluster,sample]); runs of several tasks give a suite",
    ),
    metric: Optional[str] = typer.Option(None, help="scorer to compare when a run has several"),
    ci_method: str = typer.Option(
        "auto", help="auto, t, clt, clustered, beta-clustered, bootstrap, percentile, wilson, beta, exact"
    ),
    correction: str = typer.Option("holm", help="holm, bh, bonferroni or none"),
    confidence: float = typer.Option(0.95),
    seed: int = typer.Option(0, help="bootstrap seed; with --sequential also the seed of the item order"),
    sequential: bool = typer.Option(
        False,
        "--sequential",
        help="replay each pair's items in a random order and report where an anytime-valid confidence sequence decides",
    ),
    alpha: Optional[float] = typer.Option(None, help="--sequential error rate (default 1 - confidence)"),
    batch: int = typer.Option(1, help="--sequential: look at the sequence every N items"),
    margin: Optional[float] = typer.Option(
        None, help="--sequential: also stop when the difference is shown inside +-M (equivalence)"
    ),
    across: Optional[str] = typer.Option(
        None,
        "--across",
        help="e.g. variant: scores under each value, their spread and variance components, and whether each pairwise conclusion holds under every value",
    ),
    multiverse: bool = typer.Option(
        False,
        "--multiverse",
        help="compare under every combination of the analysis choices that apply (metric, few-shot count, "
        "prompt variant, failed requests, interval) and report the share of specifications behind each conclusion",
    ),
    spec: Optional[Path] = typer.Option(
        None, help='--multiverse: the pre-registered choices, a JSON object such as {"metric": "acc_norm"}'
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Leaderboard with intervals, tied groups and every pairwise difference."""
    if not sequential and (alpha is not None or batch != 1 or margin is not None):
        raise ConfigError("--alpha, --batch and --margin apply to --sequential; add --sequential or drop them")
    if across is not None:
        if sequential or multiverse:
            raise ConfigError("--across, --multiverse and --sequential are separate analyses; give one of them")
        from assay.api import compare_across

        _emit(
            compare_across(
                sources,
                across,
                metric=metric,
                ci_method=ci_method,
                correction=correction,
                confidence=confidence,
                seed=seed,
            ),
            as_json,
        )
        return
    if spec is not None and not multiverse:
        raise ConfigError("--spec applies to --multiverse; add --multiverse or drop it")
    if multiverse:
        if sequential or ci_method != "auto":
            raise ConfigError("--multiverse varies the interval itself; drop --sequential and --ci-method")
        from assay.api import multiverse as multiverse_api

        result = multiverse_api(
            sources, spec=spec, metric=metric, confidence=confidence, correction=correction, seed=seed
        )
        _emit(result, as_json)
        return
    from assay.api import compare_suite
    from assay.run.sources import is_suite

    if is_suite(sources):
        # Runs of several tasks: per-task comparisons and the suite across them.
        if sequential:
            raise ConfigError("--sequential compares one task's items; give runs of one task")
        _emit(
            compare_suite(
                sources, metric=metric, ci_method=ci_method, correction=correction, confidence=confidence, seed=seed
            ),
            as_json,
        )
        return
    from assay.api import compare as compare_api

    _emit(
        compare_api(
            sources,
            metric=metric,
            ci_method=ci_method,
            correction=correction,
            confidence=confidence,
            seed=seed,
            sequential=sequential,
            alpha=alpha,
            batch=batch,
            margin=margin,
        ),
        as_json,
    )


@app.command()
def plan(
    metric_type: str = typer.Option("binary", help="binary or continuous"),
    baseline: Optional[float] = typer.Option(None, help="baseline accuracy (binary)"),
    mde: Optional[float] = typer.Option(None, help="difference to detect -> items needed"),
    n_items: Optional[int] = typer.Option(None, help="items available -> detectable difference"),
    power: float = typer.Option(0.8),
    alpha: float = typer.Option(0.05),
    paired: bool = typer.Option(False, help="both models on the same items"),
    correlation: float = typer.Option(0.0, help="correlation of the two models' item scores (paired)"),
    sd: Optional[float] = typer.Option(None, help="standard deviation of item scores (continuous)"),
    method: str = typer.Option("auto", help="auto, analytic or simulation"),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """How many items a comparison needs, or what difference it can detect."""
    if 0 < alpha < 1 and 0 < power < 1 and power <= alpha:
        # A test rejects with probability alpha even when there is no difference, so no
        # sample size gives it power at or below alpha (the solvers would fail on it).
        raise ConfigError(
            f"--power {power:g}: power must exceed alpha ({alpha:g}); "
            "a test finds a difference with probability alpha even when there is none. "
            "Typical: --power 0.8 --alpha 0.05"
        )
    from assay.stats.power import plan as plan_api

    _emit(
        plan_api(
            n_items=n_items,
            mde=mde,
            metric_type=metric_type,
            baseline=baseline,
            power=power,
            alpha=alpha,
            paired=paired,
            correlation=correlation,
            sd=sd,
            method=method,
            seed=seed,
        ),
        as_json,
    )


@app.command()
def judge(
    run_dir: Path = typer.Argument(..., help="a run directory whose outputs are judged"),
    judge_models: Optional[List[str]] = typer.Option(None, "--judge", help="judge model; repeat for a jury"),
    protocol: str = typer.Option(..., help="pointwise, pairwise, reference, contains or exact"),
    pool: Optional[str] = typer.Option(None, help="jury pooling: majority, mean, median or weighted"),
    against: Optional[str] = typer.Option(None, help="pairwise baseline model (default: every pair)"),
    template: Optional[Path] = typer.Option(None, help="Jinja2 judge prompt template"),
    scale: int = typer.Option(10, help="pointwise rating scale 1..N"),
    rubric: Optional[str] = typer.Option(None, help="named rubric (helpfulness, correctness, conciseness) or file"),
    price: Optional[List[str]] = typer.Option(None, help="MODEL=IN/OUT dollars per million tokens"),
    weights_from: Optional[Path] = typer.Option(None, help="audit JSON whose agreement weights a 'weighted' jury"),
    max_tokens: int = typer.Option(128),
    concurrency: int = typer.Option(1),
    base_url: Optional[List[str]] = typer.Option(
        None, help="OpenAI-compatible endpoint for the judge models; repeat to load-balance"
    ),
    limit: Optional[int] = typer.Option(None, help="judge the first N items only"),
    max_retries: int = typer.Option(4, help="retries of a failed request (429, 5xx, timeout) with backoff"),
    timeout: Optional[float] = typer.Option(None, help="seconds one request to a server judge may take (default 120)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the shared response cache"),
    n_ctx: int = typer.Option(2048, "--n-ctx", help="context window of embedded (GGUF) judges, in tokens"),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Judge a run's outputs with an LLM judge or a jury; verdicts are stored and cached."""
    from assay.errors import IncompleteRunError
    from assay.judge.judging import judge_run, parse_price

    prices = dict(parse_price(p) for p in price or [])
    try:
        result = judge_run(
            run_dir,
            judge_models or [],
            protocol=protocol,
            pool=pool,
            against=against,
            template=template,
            scale=scale,
            rubric=rubric,
            prices=prices,
            weights_from=weights_from,
            concurrency=concurrency,
            base_urls=base_url,
            max_tokens=max_tokens,
            seed=seed,
            limit=limit,
            use_cache=not no_cache,
            max_retries=max_retries,
            n_ctx=n_ctx,
            timeout=timeout,
        )
    except IncompleteRunError as exc:
        # What was judged is stored; show it before the error says what is left.
        if getattr(exc, "result", None) is not None:
            _emit(exc.result, as_json)
        raise
    _emit(result, as_json)


@app.command("import-pairs")
def import_pairs(
    pairs: Path = typer.Argument(
        ..., help="human-labelled pairs: JSON/JSONL/CSV with input, output_1, output_2, label"
    ),
    output: Path = typer.Option(..., "-o", "--output", help="run directory to create"),
    limit: Optional[int] = typer.Option(None, help="first N pairs only"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make labelled response pairs judgeable: `assay judge` them, then `assay audit` the verdicts."""
    _new_or_dir(output, "-o/--output", "run")
    from assay.judge.pairs import import_pairs as import_api

    _emit(import_api(pairs, output, limit=limit), as_json)


@app.command()
def audit(
    verdicts: Path = typer.Option(..., help="judge verdicts (CSV/JSONL/Parquet, or `assay export --what verdicts`)"),
    labels: Path = typer.Option(..., help="human labels: item,label[,model]"),
    n_boot: int = typer.Option(1000, help="bootstrap resamples for the intervals"),
    probe_judge: Optional[List[str]] = typer.Option(None, help="run bias probes on this judge model (repeatable)"),
    probe_items: Optional[Path] = typer.Option(
        None, help="human-labelled pairs (input, output_1, output_2, label) for the probes"
    ),
    probe_run: Optional[Path] = typer.Option(None, help="run directory for the self-preference probe"),
    probe_n: int = typer.Option(8, help="test cases per probe"),
    base_url: Optional[List[str]] = typer.Option(
        None, help="OpenAI-compatible endpoint for the probed judge; repeat to load-balance"
    ),
    max_retries: int = typer.Option(4, help="retries of a failed probe request (429, 5xx, timeout) with backoff"),
    timeout: Optional[float] = typer.Option(
        None, help="seconds one probe request to a server judge may take (default 120)"
    ),
    n_ctx: int = typer.Option(2048, "--n-ctx", help="context window of an embedded (GGUF) probed judge, in tokens"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the shared response cache"),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """How well judges agree with people, with each other, and on the ranking of models;
    with --probe-judge, also its position, verbosity and self-preference biases."""
    from assay.judge.audit import audit as audit_api

    result = audit_api(verdicts, labels, seed=seed, n_boot=n_boot)
    if probe_judge:
        from assay.judge.probes import run_probes

        for name in probe_judge:
            result.probes.extend(
                run_probes(
                    name,
                    items=probe_items,
                    run_dir=probe_run,
                    n=probe_n,
                    seed=seed,
                    base_urls=base_url,
                    max_retries=max_retries,
                    n_ctx=n_ctx,
                    use_cache=not no_cache,
                    progress=True,
                    timeout=timeout,
                )
            )
    _emit(result, as_json)
    failed = [p for p in result.probes if p.n_errors]
    if failed:
        from assay.errors import IncompleteRunError

        first = failed[0]
        raise IncompleteRunError(
            f"{sum(p.n_errors for p in failed)} probe request(s) failed (first, {first.judge} {first.probe}: "
            f"{first.first_error}); the probes' effects rest on the replies that came back. Run the same "
            "command again to retry only the failed requests (the others are cached)"
        )


@app.command()
def winrate(
    annotations: Path = typer.Argument(..., help="model,instruction,preference and outputs or lengths"),
    baseline: Optional[str] = typer.Option(None),
    length_controlled: bool = typer.Option(True, "--length-controlled/--raw-only"),
    length_tie_chars: Optional[int] = typer.Option(
        None, help="WildBench rule: a slight win by a longer answer is a tie"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Win rates against a baseline, raw and length-controlled (AlpacaEval 2 style)."""
    from assay.judge.winrate import winrate as winrate_api

    _emit(
        winrate_api(
            annotations, baseline=baseline, length_controlled=length_controlled, length_tie_chars=length_tie_chars
        ),
        as_json,
    )


@app.command()
def passk(
    run_dir: Path = typer.Argument(...),
    k: Optional[str] = typer.Option(
        None, help="comma-separated k values (default: 1, 10, 100, those the samples allow)"
    ),
    metric: Optional[str] = typer.Option(None),
    pass_until: Optional[int] = typer.Option(
        None, help="report PassUntil estimates (instead of pass@k) for K passes ..."
    ),
    budget: Optional[int] = typer.Option(None, help="... within B samples"),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """pass@k with intervals, the coverage curve and its power-law fit; PassUntil rates."""
    from assay.api import passk as passk_api

    try:
        ks = None if k is None else [int(v) for v in k.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"--k {k!r}: expected integers such as 1,10,100") from exc
    _emit(passk_api(run_dir, ks, metric=metric, pass_until=pass_until, budget=budget, seed=seed), as_json)


@app.command()
def report(
    sources: List[str] = typer.Argument(None, help="run directories or score files"),
    scaling: Optional[List[Path]] = typer.Option(None, help="scaling fit, backtest or forecast JSON (repeatable)"),
    audit_file: Optional[Path] = typer.Option(None, "--audit", help="audit JSON from `assay audit --json`"),
    judge_source: Optional[Path] = typer.Option(None, "--judge", help="verdicts file or run directory"),
    passk_file: Optional[Path] = typer.Option(None, "--passk", help="pass@k JSON from `assay passk --json`"),
    sequential_file: Optional[List[Path]] = typer.Option(
        None,
        "--sequential",
        help="`assay compare --sequential --json` output to draw (repeatable); runs that stopped when decided are drawn anyway",
    ),
    output: Path = typer.Option(Path("report.html"), "-o", "--output"),
    title: str = typer.Option("Evaluation report"),
    metric: Optional[str] = typer.Option(None),
    samples: bool = typer.Option(True, help="write the samples page (NAME.samples.html) beside the report"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One self-contained HTML file: leaderboard, differences, difficulty, judges, scaling, pass@k."""
    from assay.report import write_report

    _emit(
        write_report(
            sources or [],
            scaling=scaling or [],
            audit=audit_file,
            judge=judge_source,
            passk=passk_file,
            sequential=sequential_file or [],
            out=output,
            title=title,
            metric=metric,
            samples=samples,
        ),
        as_json,
    )


scale_app = typer.Typer(
    no_args_is_help=True, help="Scaling laws: fit, predict with intervals, backtest, diagnose shape."
)
app.add_typer(scale_app, name="scale")


def _scale_table(data: Path, pivot: Optional[str]):
    from assay.scaling.table import load_table, widen

    if data.is_file() and data.stat().st_size > 2_000_000:
        typer.echo(f"reading {data} ({data.stat().st_size / 1e6:.1f} MB)", err=True)
    frame = load_table(data)
    return widen(frame, [k.strip() for k in pivot.split(",")]) if pivot else frame


@scale_app.command("fit")
def scale_fit(
    data: Path = typer.Argument(..., help="CSV/Parquet, one row per model or checkpoint"),
    law: str = typer.Option(..., help="power, chinchilla, kaplan, sigmoid, two-step, task"),
    x: str = typer.Option(..., help="x column(s), comma-separated (chinchilla: N,D)"),
    y: str = typer.Option(..., help="y column (two-step: LOSS,ACCURACY)"),
    where: Optional[str] = typer.Option(None, help="pandas query selecting rows, e.g. \"family == 'pythia'\""),
    pivot: Optional[str] = typer.Option(
        None, help="long table: make a column per KEY1/KEY2 (e.g. task,metric) from 'value'"
    ),
    bootstrap: int = typer.Option(0, help="bootstrap resamples for intervals"),
    seed: int = typer.Option(0),
    chance: Optional[float] = typer.Option(None, help="sigmoid floor (chance accuracy); fitted when absent"),
    cluster: Optional[str] = typer.Option(None, help="column grouping checkpoints of one model for the bootstrap"),
    allow_unconverged: bool = typer.Option(False, help="exit 0 even when the fit did not converge"),
    intervals: str = typer.Option(
        "bootstrap",
        help="bootstrap (of the curve) or calibrated (prediction intervals "
        "from nested backtests, kept in the saved fit for `scale predict`)",
    ),
    out: Optional[Path] = typer.Option(
        None, "-o", "--output", help="also save the fit as JSON for `assay scale predict`"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fit a scaling law with intervals."""
    if out is not None and out.is_dir():
        raise ConfigError(f"-o {out} is a directory; give a file name for the fit, e.g. {out / 'fit.json'}")
    from assay.scaling.fit import fit_law

    fit = fit_law(
        _scale_table(data, pivot),
        law,
        x,
        y,
        where=where,
        bootstrap=bootstrap,
        seed=seed,
        chance=chance,
        cluster=cluster,
        intervals=intervals,
    )
    if out:
        fit.save(out)
    _emit(fit, as_json)
    if not fit.converged and not allow_unconverged:
        raise ConfigError(f"the {law} fit did not converge (see the output); pass --allow-unconverged to accept it")


@scale_app.command("predict")
def scale_predict(
    fit_file: Path = typer.Argument(..., help="a fit saved by `assay scale fit --json` or -o"),
    at: str = typer.Option(..., help="where to predict, e.g. N=7e9,D=1.4e12"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Predict from a saved fit, with the bootstrap interval."""
    from assay.scaling.fit import load_fit, parse_at

    _emit(load_fit(fit_file).predict(parse_at(at)), as_json)


@scale_app.command("backtest")
def scale_backtest(
    data: Path = typer.Argument(..., help="CSV/Parquet, one row per model or checkpoint"),
    law: str = typer.Option(..., help="law to backtest: power, chinchilla, kaplan, sigmoid, two-step, task"),
    x: str = typer.Option(..., help="x column(s), comma-separated; the first one ranks models by size"),
    y: str = typer.Option(..., help="y column to forecast (two-step: LOSS,ACCURACY)"),
    holdout_largest: int = typer.Option(1, help="hold out the K largest models"),
    compare: Optional[str] = typer.Option(
        None, help="other laws side by side, e.g. power,sigmoid; a law taking fewer x columns uses the first ones"
    ),
    where: Optional[str] = typer.Option(None, help="pandas query selecting rows, e.g. \"family == 'pythia'\""),
    pivot: Optional[str] = typer.Option(
        None, help="long table: make a column per KEY1/KEY2 (e.g. task,metric) from 'value'"
    ),
    bootstrap: int = typer.Option(200, help="bootstrap resamples for the forecast intervals"),
    seed: int = typer.Option(0, help="bootstrap seed"),
    chance: Optional[float] = typer.Option(None, help="sigmoid floor (chance accuracy); fitted when absent"),
    intervals: str = typer.Option(
        "bootstrap",
        help="bootstrap (of the curve) or calibrated (prediction intervals from nested backtests, as `scale forecast`)",
    ),
    out: Optional[Path] = typer.Option(
        None, "-o", "--output", help="also save the result as JSON (for assay report --scaling)"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
) -> None:
    """Fit on all but the K largest models, predict those, and score the forecast."""
    from assay.scaling.backtesting import backtest

    _check_output(out, "backtest")
    result = backtest(
        _scale_table(data, pivot),
        law,
        x,
        y,
        holdout_largest=holdout_largest,
        compare=compare,
        where=where,
        bootstrap=bootstrap,
        seed=seed,
        chance=chance,
        intervals=intervals,
    )
    _save_json(result, out)
    _emit(result, as_json)


def _check_output(out: Optional[Path], what: str) -> None:
    if out is not None and out.is_dir():
        raise ConfigError(f"-o {out} is a directory; give a file name for the {what}, e.g. {out / (what + '.json')}")


def _save_json(result, out: Optional[Path]) -> None:
    """Write what --json prints to ``out`` as well (atomically: a file that exists is whole)."""
    if out is None:
        return
    import json
    import os
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=out.parent, delete=False, suffix=".tmp", encoding="utf-8") as handle:
        json.dump(result.to_dict(), handle, indent=2, default=str)
    os.replace(handle.name, out)


@scale_app.command("forecast")
def scale_forecast(
    data: Path = typer.Argument(..., help="CSV/Parquet, one row per model or checkpoint"),
    x: str = typer.Option(
        ...,
        help="compute column, or columns multiplied into it (params,tokens); "
        "the first ranks models for the calibration backtests",
    ),
    y: str = typer.Option(..., help="target column(s), comma-separated, each forecast on its own"),
    train: str = typer.Option(
        ...,
        help='pandas query selecting the rows to fit, e.g. "params < 2e9"; every other row with the inputs is forecast',
    ),
    id_column: Optional[str] = typer.Option(None, "--id", help="column naming each row (e.g. model)"),
    where: Optional[str] = typer.Option(None, help="pandas query limiting the table first"),
    pivot: Optional[str] = typer.Option(
        None, help="long table: make a column per KEY1/KEY2 (e.g. task,metric) from 'value'"
    ),
    group: Optional[str] = typer.Option(
        None, help="family column: per-family compute-efficiency offsets, shrunk toward the pooled curve"
    ),
    observed: Optional[str] = typer.Option(
        None, help="benchmark columns for observational scaling: the target as a sigmoid of their principal components"
    ),
    via: Optional[str] = typer.Option(
        None, help="loss column for a two-step forecast: compute -> loss (power law) -> target (sigmoid of the loss)"
    ),
    chance: Optional[List[str]] = typer.Option(None, help="COL=FLOOR or COL=FLOOR:CEILING per target (repeatable)"),
    curve: str = typer.Option("auto", help="compute curve: sigmoid, power, or auto (sigmoid for targets in [0, 1])"),
    components: Optional[int] = typer.Option(
        None, help="principal components for --observed (default: chosen by the backtests among 1 to 3)"
    ),
    level: float = typer.Option(0.9, help="prediction interval level"),
    out: Optional[Path] = typer.Option(
        None, "-o", "--output", help="also save the result as JSON (for assay report --scaling)"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
) -> None:
    """Fit on the --train rows and forecast the others, with prediction intervals calibrated by backtests."""
    from assay.scaling.forecast import forecast

    _check_output(out, "forecast")
    result = forecast(
        _scale_table(data, pivot),
        x,
        y,
        train=train,
        id=id_column,
        where=where,
        group=group,
        observed=observed,
        via=via,
        chance=chance,
        curve=curve,
        components=components,
        level=level,
    )
    _save_json(result, out)
    _emit(result, as_json)


@scale_app.command("shape")
def scale_shape(
    data: Path = typer.Argument(...),
    x: str = typer.Option(...),
    y: str = typer.Option(...),
    where: Optional[str] = typer.Option(None),
    pivot: Optional[str] = typer.Option(None),
    lower_is_better: bool = typer.Option(False, help="y is a loss or perplexity"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Is the trend monotone, inverse, U-shaped or emergent? With the evidence."""
    from assay.scaling.diagnostics import diagnose_table

    _emit(diagnose_table(_scale_table(data, pivot), x, y, where=where, higher_is_better=not lower_is_better), as_json)


irt_app = typer.Typer(no_args_is_help=True, help="Item response theory: fit items, choose a few, estimate full scores.")
app.add_typer(irt_app, name="irt")


@irt_app.command("fit")
def irt_fit(
    sources: List[str] = typer.Argument(
        ..., help="run directories or score files (model,item,score) with scores in [0, 1]"
    ),
    output: Path = typer.Option(..., "-o", "--output", help="where the fit goes (JSON), for select and estimate"),
    dims: int = typer.Option(1, help="ability dimensions"),
    bootstrap: int = typer.Option(20, help="refits on resampled models, for the estimates' intervals (0: none)"),
    group: Optional[str] = typer.Option(
        None,
        help="regex naming each model's group (e.g. '^[^@]+' for checkpoints NAME@STEP): refits resample whole groups",
    ),
    metric: Optional[str] = typer.Option(None, help="scorer to use when a run has several"),
    seed: int = typer.Option(0, help="seed of the refits' resampling and of extra dimensions' start"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fit a 2PL item response model to a models x items score matrix."""
    if output.is_dir():
        raise ConfigError(f"-o {output} is a directory; give a file name for the fit, e.g. {output / 'irt.json'}")
    from assay.api import irt_fit as irt_fit_api

    saved = irt_fit_api(sources, output, dims=dims, bootstrap=bootstrap, group=group, metric=metric, seed=seed)
    _emit(saved, as_json)
    if not as_json:
        typer.echo(f"fit saved to {output}", err=True)


@irt_app.command("select")
def irt_select(
    fit_file: Path = typer.Argument(..., help="a fit from `assay irt fit -o`"),
    items: int = typer.Option(..., "--items", help="how many items to choose"),
    method: str = typer.Option("cluster", help="cluster (k-means on item parameters) or random"),
    seed: int = typer.Option(0, help="seed of k-means starts or of the random sample"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Choose K items that stand for the whole benchmark."""
    from assay.stats.irt import load_irt, select_items

    _emit(select_items(load_irt(fit_file), items, method=method, seed=seed), as_json)


@irt_app.command("estimate")
def irt_estimate(
    fit_file: Path = typer.Argument(..., help="a fit from `assay irt fit -o`"),
    sources: List[str] = typer.Argument(..., help="run directories or score files on any subset of the items"),
    metric: Optional[str] = typer.Option(None, help="scorer to use when a run has several"),
    confidence: float = typer.Option(0.95, help="level of the intervals"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Estimate each model's mean over the full item set from the items it was scored on."""
    from assay.api import irt_estimate as irt_estimate_api

    _emit(irt_estimate_api(fit_file, sources, metric=metric, confidence=confidence), as_json)


def main() -> None:
    import warnings

    # Results list their own warnings where the user reads them; Python's
    # warning lines (with source paths) would only repeat them.
    warnings.simplefilter("ignore", UserWarning)
    import gc

    try:
        try:
            app()
        finally:
            # Exiting: spare the interpreter a full collection of every loaded
            # module (about 0.3 s with openai, pydantic and scipy loaded).
            gc.freeze()
    except AssayError as exc:
        from rich.console import Console
        from rich.text import Text

        from assay.errors import Interrupted
        from assay.redact import redact

        label = "stopped: " if isinstance(exc, Interrupted) else "error: "
        Console(stderr=True, soft_wrap=True).print(
            Text(label, style="bold red") + Text(redact(str(exc)) or ""), highlight=False
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        # Outside the requests (loading a model, reading data): nothing was being written.
        sys.stderr.write("stopped: interrupted by Ctrl-C (SIGINT)\n")
        sys.exit(130)


if __name__ == "__main__":
    main()

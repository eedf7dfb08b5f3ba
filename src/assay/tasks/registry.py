"""Task names for ``assay run TASK``: a built-in generator, or a dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay.errors import ConfigError, DataError
from assay.tasks.task import Task

BUILTIN = {
    "arithmetic": "generated integer arithmetic; --param digits=1,2,3 ops=1,2 n=50 (items per level)",
}
FILE_KINDS = {
    "PATH.jsonl / .jsonl.gz / .json / .csv / .parquet": "a dataset file (--input-field, --target-field, --template)",
    "file format: GSM8K": "question, answer with '#### N': the number after #### is the target, scored numerically",
    "file format: HumanEval": "prompt, test, entry_point: completions run against the tests in the sandbox",
    "file format: multiple choice": "MMLU, ARC, HellaSwag, PIQA, WinoGrande, BoolQ, SciQ, TruthfulQA MC1 columns or a "
    "'choices' list: scored by log-likelihood (--mode choices)",
    "file format: question/answer": "an input column (input, question, prompt, ...) and a target column (target, answer, ...)",
    "file format: document": "a text column, --mode perplexity",
    "DIR": "a saved Hugging Face dataset (datasets.load_from_disk)",
    "hf:NAME": "a Hugging Face hub dataset (--param split=test config=...)",
}


TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".txt")


def _looks_like_path(template: str) -> bool:
    """A --template value meant as a file name: it ends like a template file or holds a path
    separator, and has no Jinja markup or line break, which only a template's text would have."""
    if "{{" in template or "{%" in template or "\n" in template:
        return False
    return template.strip().lower().endswith(TEMPLATE_SUFFIXES) or "/" in template or "\\" in template


@dataclass
class TaskInfo:
    name: str
    description: str


MODES = ("generate", "choices", "perplexity")


def list_tasks() -> list[TaskInfo]:
    from assay.tasks.catalog import CATALOG

    catalog = {
        name: f"{t.description}; by log-likelihood ({t.hf}); --data PATH or sample" for name, t in CATALOG.items()
    }
    return [TaskInfo(k, v) for k, v in {**BUILTIN, **catalog, **FILE_KINDS}.items()]


def _template_text(template: str, option: str) -> str:
    """A template option's text: the file it names, or the value itself."""
    if Path(template).is_file():
        try:
            return Path(template).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{option} file {template}: cannot be read as UTF-8 text ({exc})") from None
    if _looks_like_path(template):
        raise ConfigError(
            f"template file not found: {template} ({option} takes a file or the "
            "template text itself, e.g. 'Q: {{ input }}')"
        )
    return template


def _fewshot_items(
    source: str,
    name: str,
    task: Task,
    *,
    params: dict[str, str],
    input_field: str | None,
    target_field: str | None,
    choices_field: str | None,
    data: str | None = None,
) -> list:
    """Few-shot examples from another file (a train split), read as the task's own items are;
    ``split:NAME`` takes them from another split of the task's own dataset (hf:NAME, a saved
    datasets directory, or a standard task's copy)."""
    from assay.tasks.catalog import CATALOG

    if source.startswith("split:"):
        split = source[len("split:") :].strip()
        own = str(task.config.get("task", ""))
        if not split:
            raise ConfigError("--fewshot-from split:NAME: name the split, e.g. split:train")
        if name in CATALOG:
            from assay.tasks.catalog import load_catalog_task

            examples = load_catalog_task(name, data, {**params, "split": split}).items
        elif own.startswith("hf:") or Path(own).is_dir():
            from assay.tasks.loaders import file_task

            examples = file_task(
                own,
                input_field=input_field or task.config.get("input_field"),
                target_field=target_field or task.config.get("target_field"),
                params={**params, "split": split},
                mode=task.mode,
                choices_field=choices_field,
            ).items
        else:
            raise ConfigError(
                f"--fewshot-from {source}: the task is a single file without splits; give the "
                "examples' file instead (--fewshot-from train.jsonl)"
            )
        return _checked_examples(source, examples, task)
    if not Path(source).exists():
        raise DataError(
            f"--fewshot-from {source}: no such file or directory (give a JSONL/CSV/Parquet file or "
            "a saved datasets directory with the task's fields, e.g. its train split)"
        )
    if name in CATALOG:
        from assay.tasks.catalog import load_catalog_task

        examples = load_catalog_task(name, source, {k: v for k, v in params.items() if k != "split"}).items
    else:
        from assay.tasks.loaders import file_task

        examples = file_task(
            source,
            input_field=input_field or task.config.get("input_field"),
            target_field=target_field or task.config.get("target_field"),
            params=params,
            mode=task.mode,
            choices_field=choices_field,
        ).items
    return _checked_examples(source, examples, task)


def _checked_examples(source: str, examples: list, task: Task) -> list:
    usable = [ex for ex in examples if ex.target is not None or ex.meta.get("gold") is not None]
    if not usable:
        raise DataError(f"--fewshot-from {source}: none of its {len(examples)} rows has an answer to show")
    held_out = {item.id for item in task.items}
    if any(ex.id in held_out for ex in usable):
        raise DataError(
            f"--fewshot-from {source}: it shares items with the task (e.g. "
            f"{next(ex.id for ex in usable if ex.id in held_out)}); an example must not be a test item"
        )
    return usable


def get_task(
    name: str,
    *,
    params: dict[str, str] | None = None,
    seed: int = 0,
    input_field: str | None = None,
    target_field: str | None = None,
    template: str | None = None,
    scorers: list[str] | None = None,
    fewshot: int | None = None,
    mode: str | None = None,
    choices_field: str | None = None,
    target_delimiter: str | None = None,
    data: str | None = None,
    apply_chat_template: bool = False,
    chat_template: str | None = None,
    completion_template: str | None = None,
    system: str | None = None,
    stop: list[str] | None = None,
    fewshot_from: str | None = None,
    prompt_variants: int | None = None,
    variant_seed: int = 0,
) -> Task:
    """The task ``name`` with the user's prompt options applied.

    ``template`` sets the prompt of every model kind (for base models the
    few-shot examples are rendered with it too); ``chat_template`` and
    ``completion_template`` set one kind's only (the latter a full Jinja
    template over ``input`` and the ``fewshot`` list). ``fewshot_from``: a file
    (or saved dataset directory) whose items are the few-shot examples, in
    place of the task's neighbouring items.

    ``template`` may be a list: each template is then a prompt variant, and
    every item runs under each (``tasks.variants``); ``prompt_variants`` N
    generates N formatting variants of the template in force instead, drawn
    with ``variant_seed``."""
    from assay.tasks.catalog import CATALOG

    templates = [template] if isinstance(template, str) else list(template or [])
    if prompt_variants is not None and len(templates) > 1:
        raise ConfigError(
            "--prompt-variants generates formatting variants of one template; with several --template "
            "options the templates are the variants: give one or the other"
        )
    template = templates[0] if templates else None

    params = dict(params or {})
    if mode is not None and mode not in MODES:
        raise ConfigError(f"--mode {mode}: valid are {', '.join(MODES)}")
    if data is not None and name not in CATALOG:
        raise ConfigError(
            f"--data applies to the standard tasks ({', '.join(CATALOG)}); for '{name}' give the "
            "file as the task itself"
        )
    if name == "arithmetic":
        from assay.tasks.arithmetic import arithmetic_task

        if mode not in (None, "generate"):
            raise ConfigError(
                f"--mode {mode}: the arithmetic task is generated and scored by its answers; use --mode generate"
            )
        task = arithmetic_task(params, seed=seed)
    elif name in CATALOG:
        from assay.tasks.catalog import load_catalog_task

        if mode not in (None, "choices"):
            raise ConfigError(f"--mode {mode}: {name} is scored by log-likelihood of its choices (--mode choices)")
        unknown = sorted(set(params) - {"config", "split"})
        if unknown:
            raise ConfigError(
                f"unknown --param {', '.join(unknown)} for {name}: a standard task takes --param split=... "
                "and --param config=... (for its hub copy)"
            )
        task = load_catalog_task(name, data, params)
    elif name.startswith("hf:") or Path(name).exists():
        from assay.tasks.loaders import check_file_params, file_task

        check_file_params(name, params)
        task = file_task(
            name,
            input_field=input_field,
            target_field=target_field,
            params=params,
            mode=mode,
            choices_field=choices_field,
        )
    else:
        raise DataError(
            f"unknown task '{name}': not a built-in ({', '.join(BUILTIN)}), not a standard task "
            f"({', '.join(CATALOG)}), not an existing file or directory, not hf:NAME"
        )
    if target_delimiter is not None:
        task.target_delimiter = target_delimiter
    task.apply_chat_template = apply_chat_template
    # The user's choices override what the task or the data format suggests.
    if template:
        _apply_template(task, _template_text(template, "--template"))
    generate_only = {
        "--chat-template": chat_template,
        "--completion-template": completion_template,
        "--system": system,
        "--stop": stop,
    }
    given = [option for option, value in generate_only.items() if value]
    if given and task.mode != "generate":
        raise ConfigError(
            f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to generation; {task.mode} "
            "items are scored by log-probabilities of a plain-text context (set it with --template)"
        )
    if chat_template:
        task.chat_template = _template_text(chat_template, "--chat-template")
    if completion_template:
        task.completion_template = _template_text(completion_template, "--completion-template")
        task.shared_template = None
    if system:
        task.system = system
    if stop:
        # A shell passes "\n" as a backslash and an n: read the two escapes a stop sequence needs.
        task.user_stop = tuple(s.replace("\\n", "\n").replace("\\t", "\t") for s in stop)
    if fewshot_from:
        task.fewshot_items = _fewshot_items(
            fewshot_from,
            name,
            task,
            params=params,
            input_field=input_field,
            target_field=target_field,
            choices_field=choices_field,
            data=data,
        )
    if scorers and task.mode != "generate":
        raise ConfigError(
            f"--scorer applies to generation; {task.mode} items are scored by their "
            "log-probabilities (metrics: " + ", ".join(task.scorers) + ")"
        )
    if scorers:
        task.scorers = list(scorers)
    if fewshot is not None:
        task.fewshot = fewshot
    if len(templates) > 1:
        from assay.tasks.variants import template_variants

        texts = [(_template_text(t, "--template"), t if Path(t).is_file() else None) for t in templates]
        task.variants = template_variants(task, texts, _with_template)
    elif prompt_variants is not None:
        from assay.tasks.variants import generate_variants

        task.variants = generate_variants(task, prompt_variants, variant_seed)
    return task


def _apply_template(task: Task, text: str) -> None:
    """Set ``--template``'s text as the prompt of every model kind."""
    task.chat_template = text
    if task.mode != "generate":
        # Likelihood modes render plain text for chat and base models alike.
        task.likelihood_template = text
    else:
        task.shared_template = text


def _with_template(task: Task, text: str) -> Task:
    """A copy of the task with ``text`` as its template (as one --template sets it)."""
    from dataclasses import replace

    copy = replace(task)
    _apply_template(copy, text)
    return copy

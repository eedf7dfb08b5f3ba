"""Judge prompt templates: Jinja2 files shipped in ``assay/judge/templates``
(each protocol names its own) or a user's ``--template FILE``.

A template receives ``question``, ``output`` (pointwise, reference),
``output_a`` / ``output_b`` (pairwise, as presented), ``reference`` (the gold
answer), ``scale``, ``rubric`` and ``completion``: true when the judge is a
base model, whose prompt must be plain text ending where the verdict starts.
Every verdict records the template's hash (of its source text and the rubric),
so verdicts from different prompts are never mixed up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, DataError
from assay.judge.protocols import Protocol, get_protocol
from assay.judge.protocols.base import TEMPLATE_DIR
from assay.records import stable_hash

RUBRIC_DIR = TEMPLATE_DIR / "rubrics"


@dataclass(frozen=True)
class JudgeTemplate:
    """A loaded template: its source, where it came from, and its hash."""

    source: str
    origin: str
    rubric: str
    hash: str

    def render(self, *, completion: bool, **variables: Any) -> str:
        import jinja2

        try:
            return _compile(self.source).render(completion=completion, rubric=self.rubric, **variables)
        except jinja2.UndefinedError as exc:
            raise DataError(
                f"judge template {self.origin}: {exc.message}; available variables: "
                "question, output, output_a, output_b, reference, scale, rubric, "
                "completion"
            ) from exc

    def prompt(self, *, chat: bool, **variables: Any):
        """The judge's prompt: a user message for a chat model, plain text otherwise."""
        text = self.render(completion=not chat, **variables)
        return [{"role": "user", "content": text}] if chat else text


@lru_cache(maxsize=32)
def _compile(source: str):
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    return env.from_string(source)


def rubric_names() -> list[str]:
    return sorted(p.stem for p in RUBRIC_DIR.glob("*.j2"))


def load_rubric(rubric: str | Path | None, protocol: str | Protocol, scale: int) -> str:
    """A rubric by shipped name (``helpfulness``, ``correctness``, ...), by file
    path, or the protocol's default. Rubric files may use ``{{ scale }}``."""
    import jinja2

    name = rubric if rubric is not None else get_protocol(protocol).rubric
    path = Path(name)
    if (RUBRIC_DIR / f"{name}.j2").is_file():
        path = RUBRIC_DIR / f"{name}.j2"
    elif not path.is_file():
        raise ConfigError(
            f"rubric {name!r} is neither a file nor a shipped rubric; shipped: {', '.join(rubric_names())}"
        )
    try:
        return _compile(path.read_text(encoding="utf-8")).render(scale=scale).strip()
    except jinja2.TemplateError as exc:
        raise DataError(f"rubric file {path}: {exc}") from exc


def load_template(
    protocol: str | Protocol, template: str | Path | None = None, *, rubric: str | Path | None = None, scale: int = 10
) -> JudgeTemplate:
    """The template ``protocol`` names (a shipped file or its own source) or the user's file."""
    import jinja2

    record = get_protocol(protocol)
    if template is None:
        if record.template is None:
            raise ConfigError(f"no judge template for protocol {record.name!r}: it asks no judge model")
        if isinstance(record.template, Path):
            origin, source = str(record.template), record.template.read_text(encoding="utf-8")
        else:
            origin, source = f"the {record.name} protocol's template", record.template
    else:
        path = Path(template)
        if not path.is_file():
            raise ConfigError(f"--template {template}: file not found")
        origin, source = str(path), path.read_text(encoding="utf-8")
    try:
        _compile(source)
    except jinja2.TemplateSyntaxError as exc:
        raise DataError(f"judge template {origin} line {exc.lineno}: {exc.message}") from exc
    rubric_text = load_rubric(rubric, record, scale)
    digest = stable_hash({"template": source, "rubric": rubric_text}, length=16)
    return JudgeTemplate(source, origin, rubric_text, digest)

"""``write_report``: one self-contained HTML file with every result that has data, each with its uncertainty."""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from assay.errors import ConfigError, DataError
from assay.jsonable import jsonable

SECTION_ORDER = (
    "leaderboard",
    "differences",
    "robustness",
    "variants",
    "sequential",
    "difficulty",
    "likelihood",
    "judges",
    "agreement",
    "bias",
    "scaling",
    "passk",
    "provenance",
)


@dataclass
class ReportResult:
    """Where the report was written and what it holds; ``absent`` says why a section is missing."""

    path: str
    title: str
    sections: list  # assay.report.page.Section
    absent: dict[str, str]
    n_bytes: int
    warnings: list[str] = field(default_factory=list)
    subtitle: str = ""
    samples: object = None  # assay.report.samples.SamplesResult: the samples page beside the report

    @property
    def n_figures(self) -> int:
        from assay.report.page import Figure

        return sum(isinstance(b, Figure) for s in self.sections for b in s.blocks)

    def to_dict(self) -> dict:
        from assay.report.page import Figure

        return jsonable(
            {
                "path": self.path,
                "title": self.title,
                "bytes": self.n_bytes,
                "figures": self.n_figures,
                "sections": [
                    {
                        "id": s.id,
                        "title": s.title,
                        "figures": sum(isinstance(b, Figure) for b in s.blocks),
                        "warnings": list(s.warnings),
                    }
                    for s in self.sections
                ],
                "absent": dict(self.absent),
                "warnings": list(self.warnings),
                "samples": self.samples.to_dict() if self.samples is not None else None,
            }
        )

    def render(self):
        from rich.console import Group
        from rich.text import Text

        lines = [
            Text(
                f"Report written to {self.path} ({len(self.sections)} sections, {self.n_figures} figures, "
                f"{self.n_bytes / 1e6:.1f} MB)",
                style="bold",
            )
        ]
        for s in self.sections:
            lines.append(Text(f"  {s.title}" + (f"  ({len(s.warnings)} note(s))" if s.warnings else "")))
        if self.samples is not None:
            lines.append(
                Text(
                    f"Samples page: {self.samples.path} ({self.samples.n_rows} rows, {self.samples.n_bytes / 1e6:.1f} MB)"
                )
            )
        for name, reason in self.absent.items():
            lines.append(Text(f"  no {name}: {reason}", style="dim"))
        for message in self.warnings:
            lines.append(Text(f"warning: {message}", style="yellow"))
        return Group(*lines)

    def section_page(self, section_id: str) -> str:
        """A page holding one section alone (same styles and scripts), e.g. for a screenshot of it."""
        from plotly.offline import get_plotlyjs

        from assay.report.page import page

        chosen = [s for s in self.sections if s.id == section_id]
        if not chosen:
            raise ConfigError(
                f"no section {section_id!r} in this report; it has {', '.join(s.id for s in self.sections)}"
            )
        return page(self.title, self.subtitle, chosen, plotly_js=get_plotlyjs())


def _across(sources, metric, confidence, correction, seed, figure) -> list:
    """Per-variant leaderboards, spread bars and verdicts when the runs hold prompt variants."""
    from assay.errors import AssayError
    from assay.report import sections
    from assay.run.sources import compare_across

    try:
        result = compare_across(
            sources, "variant", metric=metric, confidence=confidence, correction=correction, seed=seed
        )
    except AssayError:
        return []  # no variants (or one): nothing to draw across
    return sections.across_blocks(result, figure)


def _robustness(sources, metric, spec, confidence, correction, seed, figure, notes: list[str]):
    """The specification curves of ``compare --multiverse`` when the sources offer a choice about the data."""
    from assay.errors import AssayError
    from assay.report import sections
    from assay.run.sources import multiverse

    try:
        result = multiverse(
            sources,
            spec=spec,
            metric=metric,
            confidence=confidence,
            correction=correction,
            seed=seed,
        )
    except AssayError as exc:
        if spec is not None:  # asked for: a choice that does not apply is an error, as in compare
            raise
        # The leaderboard above stands; say why the curves do not.
        notes.append(f"no specification curve: {exc}")
        return None
    return sections.robustness_section(result, figure)


def write_report(
    sources=(),
    *,
    scaling=(),
    audit=None,
    judge=None,
    passk=None,
    sequential=(),
    out: str | Path = "report.html",
    title: str = "Evaluation report",
    metric: str | None = None,
    confidence: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
    spec=None,
    samples: bool = True,
) -> ReportResult:
    """Write the HTML report and return what it holds.

    ``sources``: run directories or score files (CSV/JSONL/Parquet with model,
    item, score[, cluster, difficulty]) for the leaderboard, pairwise
    differences, score by difficulty and (for runs with several samples per
    item) pass@k. ``scaling``: fit, backtest or forecast JSON files from ``assay scale``
    (or ScalingFit/BacktestResult/ForecastResult objects, a fit optionally as ``(fit, table)``).
    ``audit``: an audit JSON from ``assay audit --json`` (or an AuditResult).
    ``judge``: the judges' verdicts (table or run directory) for judge-to-judge
    agreement and cost; defaults to the verdicts file the audit names.
    ``passk``: a pass@k JSON (or PassKReport) to draw instead of computing it.
    ``sequential``: ``assay compare --sequential --json`` files (or CompareResults)
    whose confidence sequences to draw; run directories among ``sources`` that
    stopped when decided (``sequential.json``) are drawn too.
    When the sources offer choices about the data (several metrics, few-shot counts or prompt
    variants, or failed requests) a robustness section draws each pair's specification curve
    (``stats.multiverse``); ``spec``, the pre-registered choices (a dict or a JSON file, as
    ``compare --multiverse --spec``), is marked in it.
    Sections appear when their data does; ``absent`` in the result says why not.
    ``samples``: also write the samples page of ``sources`` beside the report
    (``NAME.samples.html``, see ``assay.report.samples``), linked from it and
    from its figures' points.
    """
    from plotly.offline import get_plotlyjs

    from assay.report import inputs, sections
    from assay.report.page import esc, page

    sources = inputs.as_list(sources)
    scaling = inputs.as_list(scaling)
    sequential = [sequential] if hasattr(sequential, "to_dict") else inputs.as_list(sequential)
    if not (sources or scaling or audit is not None or passk is not None or sequential):
        raise ConfigError(
            "nothing to report: give run directories or score files, --scaling FIT.json, "
            "--audit AUDIT.json, a pass@k result or --sequential COMPARE.json"
        )
    out = Path(out)
    if out.exists() and out.is_dir():
        raise ConfigError(f"-o {out} is a directory; give a file name such as {out / 'report.html'}")
    figure = sections.FigureMaker()
    built: dict[str, object] = {}
    absent: dict[str, str] = {}
    notes: list[str] = []
    given = bool(sources)
    shown = list(sources)  # the samples page shows unscored runs too: their outputs and verdicts
    sources = inputs.scored_sources(sources, notes)
    if given and not (sources or scaling or audit is not None or passk is not None or sequential):
        raise DataError("nothing to report: " + "; ".join(notes))

    per_task: list = []  # a suite's sections: the suite, then each task's leaderboard and differences
    if sources:
        from assay.run.sources import compare, compare_suite, is_suite

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # compare keeps its warnings in the result; they are shown there
            if is_suite(sources):
                suite = compare_suite(sources, metric=metric, confidence=confidence, correction=correction, seed=seed)
                per_task.append(sections.suite_section(suite))
                for task, task_result in suite.tasks.items():
                    per_task += sections.task_sections(task, task_result, figure)
            else:
                result = compare(sources, metric=metric, confidence=confidence, correction=correction, seed=seed)
                built["leaderboard"] = sections.leaderboard(result, figure)
                section = sections.differences(result, figure)
                if section is None:
                    absent["pairwise differences"] = "fewer than two models to compare"
                else:
                    built["differences"] = section
                section = (
                    _robustness(sources, metric, spec, confidence, correction, seed, figure, notes)
                    if len(result.models) > 1
                    else None
                )
                if section is not None:  # only where the data offers choices: not listed as absent
                    built["robustness"] = section
                across = _across(sources, metric, confidence, correction, seed, figure)
                if across:  # runs with prompt variants only
                    built["variants"] = sections.Section(
                        "variants",
                        "Across prompt variants",
                        "Each model under every prompt variant, how far its score moves, and whether each "
                        "pairwise conclusion holds under every variant.",
                        across,
                    )
        frames = [f for f in (inputs.difficulty_scores(s, metric) for s in sources) if f is not None]
        section = sections.difficulty(frames, figure, confidence, seed) if frames else None
        if section is None:
            absent["score versus difficulty"] = (
                "no item has a difficulty level" if not frames else "all items share one difficulty level"
            )
        else:
            built["difficulty"] = section
    else:
        absent["leaderboard"] = (
            "no run directory given holds scores" if given else "no run directories or score files given"
        )
    sequences = [pair for item in sequential for pair in inputs.load_sequential(item)]
    # Opt-in like the run flag and the compare option that make its data: not listed as absent.
    section = sections.sequential_section(sequences + inputs.sequential_from_runs(sources), figure)
    if section is not None:
        built["sequential"] = section
    likelihood_runs = inputs.likelihood_runs(sources)
    section = sections.likelihood_section(likelihood_runs, figure)
    if section is not None:  # a section of its own only for runs scored by log-likelihood
        built["likelihood"] = section

    if audit is not None:
        audit_data = inputs.load_audit(audit)
        verdicts = None
        if judge is not None:
            verdicts = inputs.load_verdicts(judge)
        elif audit_data.get("verdicts") and Path(str(audit_data["verdicts"])).is_file():
            verdicts = inputs.load_verdicts(audit_data["verdicts"])
        built["judges"] = sections.judges_section(audit_data, verdicts, figure)
        built["agreement"] = sections.agreement_section(audit_data, verdicts, figure, seed)
        section = sections.bias_section(audit_data, figure)
        if section is None:
            absent["bias probes"] = "the audit has no swapped orders, leniency or attached probes"
        else:
            built["bias"] = section
    else:
        absent["judges"] = "no audit given (--audit AUDIT.json)"

    panels = []
    for item in scaling:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            panels.append(inputs.load_scaling(item))
    section = sections.scaling_section(panels, figure)
    if section is None:
        absent["scaling fits"] = "no fit given (--scaling FIT.json)"
    else:
        built["scaling"] = section

    passk_data = inputs.load_passk(passk) if passk is not None else inputs.passk_from_runs(sources, metric, seed, notes)
    if passk_data is None:
        absent["pass@k"] = "no model drew several samples per item"
    else:
        built["passk"] = sections.passk_section(passk_data, figure)

    section = sections.provenance_section(sources)
    if section is not None:  # runs made before provenance was recorded simply have none
        built["provenance"] = section

    ordered = per_task + [built[k] for k in SECTION_ORDER if k in built]
    viewer = None
    if samples and shown:  # last: its script links the figures above it to the page
        from assay.report.samples import samples_path, samples_section, write_samples

        try:
            viewer = write_samples(
                shown, samples_path(out), metric=metric, title=f"{title}: samples", report_href=out.name
            )
            ordered.append(samples_section(viewer, ordered))
        except DataError as exc:  # e.g. runs that hold no sample yet: the report is still worth writing
            absent["samples page"] = str(exc)
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    described = ", ".join(esc(str(s)) for s in sources[:4]) + (
        f" and {len(sources) - 4} more" if len(sources) > 4 else ""
    )
    subtitle = (
        f"Made by assay on {stamp}"
        + (f" from {described}" if described else "")
        + ". Every number carries its interval; hover a point for its method and number of items."
    )
    if viewer is not None:
        from assay.report.samples import samples_link

        subtitle += " " + samples_link(viewer)
    document = page(
        title,
        subtitle,
        ordered,
        plotly_js=get_plotlyjs(),
        footer="Intervals are " + html.escape(f"{confidence:.0%}") + " unless a caption says otherwise. "
        "Absent sections: " + (html.escape("; ".join(f"{k} ({v})" for k, v in absent.items())) or "none") + ".",
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    return ReportResult(
        path=str(out),
        title=title,
        sections=ordered,
        absent=absent,
        n_bytes=len(document.encode()),
        warnings=notes,
        subtitle=subtitle,
        samples=viewer,
    )

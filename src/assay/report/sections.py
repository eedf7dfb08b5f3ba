"""The report's sections: each turns results into plotly figures, a table and a caption that says its method."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from assay.redact import redact_url
from assay.report.page import Figure, Section, esc

PALETTE = ["#2b5fad", "#d9822b", "#2e9e6a", "#b8415a", "#7a5fb0", "#8c6d3f", "#c25db0", "#5f7a8a", "#a3a12b", "#2aa3b3"]
JURY_COLOUR = "#b3261e"
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
GROUP_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "triangle-down", "pentagon", "hexagon", "star"]


class ModelColours:
    """One colour per model across the whole report, in the order models are first named
    (the leaderboard's order when there is one), so a model looks the same in every figure."""

    def __init__(self, names=()):
        self.colours: dict[str, str] = {}
        for name in names:
            self(name)

    def __call__(self, name) -> str:
        name = str(name)
        if name not in self.colours:
            self.colours[name] = PALETTE[len(self.colours) % len(PALETTE)]
        return self.colours[name]


def dodge(count: int, index: int, width: float) -> float:
    """The offset of the index-th of ``count`` series, spread over ``width`` around 0, so that
    series with equal values stay visible side by side instead of hiding each other."""
    return 0.0 if count < 2 else (index - (count - 1) / 2) * width / (count - 1)


class FigureMaker:
    """Hands out figure ids and turns plotly figures into the JSON the page draws."""

    def __init__(self, colours: ModelColours | None = None):
        self.count = 0
        self.colour = colours or ModelColours()

    def __call__(self, fig, height: int) -> Figure:
        self.count += 1
        fig.update_layout(
            template="plotly_white",
            height=height,
            font=dict(family=FONT, size=13, color="#1d2430"),
            hoverlabel=dict(align="left", font=dict(family=FONT, size=12)),
        )
        return Figure(div_id=f"fig{self.count}", spec=fig.to_json(), height=height)


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _interval(low, high, digits: int = 3) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "no interval"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def _pct(level: float) -> str:
    return f"{level * 100:.0f}%"


def _bars(values, lows, highs) -> dict:
    """Asymmetric error bars; a missing bound draws no bar on that side."""
    plus = [None if h is None or v is None else max(h - v, 0.0) for v, h in zip(values, highs)]
    minus = [None if lo is None or v is None else max(v - lo, 0.0) for v, lo in zip(values, lows)]
    return dict(type="data", symmetric=False, array=plus, arrayminus=minus, thickness=1.6, width=5)


def _num(value):
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)


# ---- leaderboard and pairwise differences --------------------------------------------------------


def _describe_ci(ci) -> str:
    clusters = f", {ci.n_clusters} clusters" if ci.n_clusters else ""
    return f"{ci.method}, n={ci.n} items{clusters}"


def leaderboard(result, figure: FigureMaker) -> Section:
    import plotly.graph_objects as go

    level = _pct(result.confidence)
    alpha = 1 - result.confidence
    group_of = {m: g for g, members in enumerate(result.tied_groups) for m in members}
    names = list(result.models)
    fig = go.Figure()
    for g, members in enumerate(result.tied_groups):
        cis = [result.models[m].ci for m in members]
        fig.add_trace(
            go.Scatter(
                x=[c.mean for c in cis],
                y=members,
                mode="markers",
                name=f"tied group {g + 1}",
                # Colour is the model's (the same in every figure); the symbol is its tied group.
                marker=dict(
                    size=11,
                    color=[figure.colour(m) for m in members],
                    symbol=GROUP_SYMBOLS[g % len(GROUP_SYMBOLS)],
                    line=dict(width=1, color="#1d2430"),
                ),
                error_x=_bars([c.mean for c in cis], [c.low for c in cis], [c.high for c in cis]),
                customdata=[[c.low, c.high, _describe_ci(c), c.se, g + 1] for c in cis],
                hovertemplate=(
                    "<b>%{y}</b><br>mean %{x:.4f} (SE %{customdata[3]:.4f})<br>"
                    + level
                    + " CI [%{customdata[0]:.4f}, %{customdata[1]:.4f}]<br>%{customdata[2]}<br>tied group "
                    "%{customdata[4]}<extra></extra>"
                ),
            )
        )
    fig.update_layout(
        margin=dict(l=10, r=20, t=30, b=50),
        legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"),
        xaxis=dict(title=f"mean score with {level} interval", zeroline=False),
        yaxis=dict(categoryorder="array", categoryarray=names[::-1], automargin=True),
    )
    rows = []
    for rank, (name, m) in enumerate(result.models.items(), start=1):
        ci = m.ci
        g = group_of.get(name, 0)
        rows.append(
            f'<tr><td>{rank}</td><td class="name">{esc(name)}</td>'
            f"<td>{ci.mean:.4f}</td><td>{ci.se:.4f}</td>"
            f'<td title="{esc(ci.reason)}">{_interval(ci.low, ci.high, 4)}</td>'
            f'<td class="name">{esc(ci.method)}</td><td>{ci.n}{f" ({ci.n_clusters} clusters)" if ci.n_clusters else ""}</td>'
            f'<td><span class="group">{g + 1}</span></td></tr>'
        )
    table = (
        '<table class="data"><tr><th>rank</th><th class="name">model</th><th>mean</th><th>SE</th>'
        f'<th>{level} CI</th><th class="name">method</th><th>items</th><th>tied group</th></tr>'
        + "".join(rows)
        + "</table>"
    )
    reasons = {m.ci.method: m.ci.reason for m in result.models.values()}
    caption = (
        f'<p class="caption"><b>Method.</b> Each point is a model\'s mean score over its items (several samples of an '
        f"item are averaged first); the bar is its {level} interval, "
        + "; ".join(f"<b>{esc(k)}</b>: {esc(v)}" for k, v in reasons.items())
        + ". Each model keeps its colour in every figure of the report; the marker's shape is its statistically "
        f"tied group: a model joins the group of the best model not yet placed "
        f"when their {esc(result.correction)}-adjusted paired p-value is at least {alpha:g}. "
        "Hover a point, or the interval in the table, for its method and number of items.</p>"
    )
    height = 130 + 34 * len(names)
    return Section(
        "leaderboard",
        "Leaderboard",
        f"{len(names)} models ranked by mean score; models sharing a marker shape (a tied group) cannot be told apart "
        "by the data.",
        [figure(fig, height), table, caption],
        warnings=list(result.warnings),
    )


def differences(result, figure: FigureMaker) -> Section | None:
    import plotly.graph_objects as go

    tested = [p for p in result.pairs if p.result is not None]
    if not tested:
        return None
    level = _pct(result.confidence)
    alpha = 1 - result.confidence
    labels = [f"{p.a} − {p.b}  (p adj {p.p_adjusted:.3g})" for p in tested]
    fig = go.Figure()
    for significant, name, colour in (
        (True, f"adjusted p < {alpha:g}", "#b3261e"),
        (False, f"adjusted p ≥ {alpha:g}", "#5b6575"),
    ):
        chosen = [(lab, p) for lab, p in zip(labels, tested) if (p.p_adjusted < alpha) == significant]
        if not chosen:
            continue
        diffs = [p.result.diff for _, p in chosen]
        fig.add_trace(
            go.Scatter(
                x=diffs,
                y=[lab for lab, _ in chosen],
                mode="markers",
                name=name,
                marker=dict(size=10, color=colour, symbol="diamond"),
                error_x=_bars(diffs, [p.result.low for _, p in chosen], [p.result.high for _, p in chosen]),
                customdata=[
                    [
                        p.result.low,
                        p.result.high,
                        p.result.n,
                        p.result.test,
                        p.result.p_value,
                        p.p_adjusted,
                        f"{p.result.effect_size_name} {p.result.effect_size:.3f}",
                    ]
                    for _, p in chosen
                ],
                hovertemplate=(
                    "<b>%{y}</b><br>difference %{x:+.4f}<br>"
                    + level
                    + " CI [%{customdata[0]:+.4f}, %{customdata[1]:+.4f}]<br>%{customdata[2]} common items, "
                    "test: %{customdata[3]}<br>p %{customdata[4]:.3g}, adjusted %{customdata[5]:.3g}<br>"
                    "effect size: %{customdata[6]}<extra></extra>"
                ),
            )
        )
    fig.add_vline(x=0, line=dict(color="#1d2430", width=1, dash="dot"))
    fig.update_layout(
        margin=dict(l=10, r=20, t=30, b=50),
        legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"),
        xaxis=dict(title=f"difference in mean score (a − b) with {level} interval", zeroline=False),
        yaxis=dict(categoryorder="array", categoryarray=labels[::-1], automargin=True),
    )
    tests = sorted({p.result.test for p in tested})
    caption = (
        f'<p class="caption"><b>Method.</b> Each row compares two models on the items both answered: the mean '
        f"difference with its {level} interval from the paired test ({esc(', '.join(tests))}); p-values are adjusted "
        f"for the {len(result.pairs)} comparisons by <b>{esc(result.correction)}</b>. Hover for the number of common "
        "items, raw p-value and effect size.</p>"
    )
    return Section(
        "differences",
        "Pairwise differences",
        "Forest plot: a bar that crosses the dotted zero line is a difference the data does not establish.",
        [figure(fig, 120 + 30 * len(tested)), caption],
    )


def task_sections(task: str, result, figure: FigureMaker) -> list[Section]:
    """One task's leaderboard and differences in a suite, titled and anchored by the task."""
    found = [leaderboard(result, figure), differences(result, figure)]
    for section in (s for s in found if s is not None):
        section.id = f"{section.id}-{_slug(task)}"
        section.title = f"{task}: {section.title}"
    return [s for s in found if s is not None]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "task"


def suite_section(result) -> Section:
    """A suite across tasks: models × tasks, the mean over tasks and the suite's pairwise differences."""
    from assay.stats.suite import PAIR_METHOD, SUITE_METHOD

    level = _pct(result.confidence)
    tasks = list(result.tasks)
    head = "".join(f"<th>{esc(t)}</th>" for t in tasks)
    rows = []
    for rank, (name, m) in enumerate(result.models.items(), start=1):
        cells = "".join(f"<td>{m.task_means[t]:.4f}</td>" for t in tasks)
        rows.append(
            f'<tr><td>{rank}</td><td class="name">{esc(name)}</td>{cells}<td>{m.mean:.4f}</td>'
            f"<td>{_interval(m.low, m.high, 4)}</td></tr>"
        )
    table = (
        f'<table class="data"><tr><th>rank</th><th class="name">model</th>{head}<th>suite mean</th>'
        f"<th>{level} CI</th></tr>" + "".join(rows) + "</table>"
    )
    blocks = [table]
    if result.pairs:
        pair_rows = "".join(
            f'<tr><td class="name">{esc(p.a)} − {esc(p.b)}</td><td>{p.diff:+.4f}</td>'
            f"<td>{_interval(p.low, p.high, 4)}</td><td>{p.p_value:.3g}</td><td>{p.p_adjusted:.3g}</td></tr>"
            for p in result.pairs
        )
        blocks.append(
            f'<table class="data"><tr><th class="name">a − b</th><th>difference</th><th>{level} CI</th>'
            f"<th>p</th><th>p adj ({esc(result.correction)})</th></tr>{pair_rows}</table>"
        )
    blocks.append(
        f'<p class="caption"><b>Method.</b> Suite mean: {esc(SUITE_METHOD)} ({result.n_boot} '
        f"resamples). Differences: {esc(PAIR_METHOD)}. Each task's own leaderboard and differences "
        "follow.</p>"
    )
    return Section(
        "suite",
        f"Suite of {len(tasks)} tasks",
        f"{len(result.models)} models on {', '.join(tasks)}; every task weighs the same.",
        blocks,
        warnings=list(result.warnings),
    )


# ---- difficulty ----------------------------------------------------------------------------------


def difficulty(frames: list[pd.DataFrame], figure: FigureMaker, confidence: float, seed: int) -> Section | None:
    import plotly.graph_objects as go

    from assay.report.inputs import level_key
    from assay.stats.compare import means_by_level

    if not frames:
        return None
    scores = pd.concat(frames, ignore_index=True)
    levels = sorted(scores["difficulty"].unique(), key=level_key)
    if len(levels) < 2:
        return None
    level_txt = _pct(confidence)
    fig = go.Figure()
    notes: list[str] = []
    methods, counts = {}, []
    by_model = means_by_level(scores, levels, confidence=confidence, seed=seed, notes=notes)
    for i, (model, points) in enumerate(by_model.items()):
        if not points:
            continue
        shift = dodge(len(by_model), i, 0.3)
        xs = [levels.index(p.level) + shift for p in points]
        means = [p.ci.mean for p in points]
        lows = [p.ci.low for p in points]
        highs = [p.ci.high for p in points]
        custom = [[p.ci.low, p.ci.high, p.ci.method, p.ci.n, str(p.level)] for p in points]
        for p in points:
            methods[p.ci.method] = p.ci.reason.split(";")[0]
            counts.append(p.ci.n)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=means,
                mode="lines+markers",
                name=str(model),
                line=dict(color=figure.colour(model), width=2),
                marker=dict(size=8),
                error_y=_bars(means, lows, highs),
                customdata=custom,
                hovertemplate=(
                    "<b>"
                    + esc(model)
                    + "</b> at %{customdata[4]}<br>mean %{y:.3f}<br>"
                    + level_txt
                    + " CI [%{customdata[0]:.3f}, %{customdata[1]:.3f}]<br>%{customdata[2]}, n=%{customdata[3]} items"
                    "<extra></extra>"
                ),
            )
        )
    if not fig.data:
        return None
    fig.update_layout(
        margin=dict(l=10, r=20, t=30, b=60),
        legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"),
        # Levels at whole positions, each model's points shifted a little so equal values stay visible.
        xaxis=dict(
            title="difficulty level",
            tickmode="array",
            tickvals=list(range(len(levels))),
            ticktext=[str(level) for level in levels],
            range=[-0.5, len(levels) - 0.5],
            zeroline=False,
        ),
        yaxis=dict(title=f"mean score with {level_txt} interval", rangemode="tozero", automargin=True),
    )
    caption = (
        f'<p class="caption"><b>Method.</b> Mean score per difficulty level over that level\'s items '
        f"({min(counts) if min(counts) == max(counts) else f'{min(counts)}–{max(counts)}'} items per point; samples of an item averaged first), with {level_txt} intervals: "
        + "; ".join(f"<b>{esc(k)}</b> ({esc(v)})" for k, v in methods.items())
        + ". Levels come from each item's <code>difficulty</code> field; each model's points sit slightly apart "
        "around their level so that equal values do not hide each other.</p>"
    )
    return Section(
        "difficulty",
        "Score versus difficulty",
        "How each model's score falls as the generated items get harder.",
        [figure(fig, 420), caption],
        warnings=notes,
    )


# ---- judges --------------------------------------------------------------------------------------


def _est(d) -> tuple:
    if not isinstance(d, dict):
        return None, None, None
    return _num(d.get("value")), _num(d.get("low")), _num(d.get("high"))


def judges_section(audit: dict, verdicts: pd.DataFrame | None, figure: FigureMaker) -> Section:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from assay.judge.costs import verdict_costs

    level = float(audit.get("level", 0.95))
    level_txt = _pct(level)
    entries = list(audit["judges"])
    jury = audit.get("jury")
    jury_name = jury["majority"]["judge"] if jury else None
    if jury:
        entries.append(jury["majority"])
    names = [e["judge"] for e in entries]
    costs, cost_meaning = verdict_costs(verdicts, [e["judge"] for e in audit["judges"]], jury_name or "jury", level)
    panels = [
        ("accuracy against humans", lambda e: _est(e.get("accuracy"))),
        ("Cohen's κ with humans", lambda e: _est(e.get("cohens_kappa"))),
    ]
    if costs:
        panels.append(
            (
                cost_meaning,
                lambda e: (lambda c: (None, None, None) if c is None else (c.mean, c.low, c.high))(
                    costs.get(e["judge"])
                ),
            )
        )
    fig = make_subplots(
        rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.04, subplot_titles=[p[0] for p in panels]
    )
    for col, (title, getter) in enumerate(panels, start=1):
        values = [getter(e) for e in entries]
        colours = [JURY_COLOUR if e["judge"] == jury_name else PALETTE[0] for e in entries]
        ns = [e.get("n", "?") for e in entries]
        how = (
            f"{level_txt} percentile bootstrap over items"
            if col < 3
            else f"{level_txt} interval of the mean over verdicts"
        )
        fig.add_trace(
            go.Scatter(
                x=[v[0] for v in values],
                y=names,
                mode="markers",
                showlegend=False,
                marker=dict(
                    size=11, color=colours, symbol=["star" if e["judge"] == jury_name else "circle" for e in entries]
                ),
                error_x=_bars([v[0] for v in values], [v[1] for v in values], [v[2] for v in values]),
                customdata=[[v[1], v[2], n, how] for v, n in zip(values, ns)],
                hovertemplate=(
                    "<b>%{y}</b><br>" + esc(title) + ": %{x:.3f}<br>interval [%{customdata[0]:.3f}, "
                    "%{customdata[1]:.3f}]<br>%{customdata[3]}; %{customdata[2]} items<extra></extra>"
                ),
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(zeroline=False, row=1, col=col)
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1], automargin=True, row=1, col=1)
    fig.update_layout(margin=dict(l=10, r=20, t=40, b=40))
    rows = []
    for e in entries:
        cost = costs.get(e["judge"]) if costs else None
        rows.append(
            f'<tr><td class="name">{esc(e["judge"])}</td><td>{e.get("n", "")}</td><td>{e.get("n_verdicts", "")}</td>'
            f"<td>{e.get('n_invalid', '')}</td>"
            + "".join(
                f'<td title="{esc((e.get(k) or {}).get("method", ""))}, {(e.get(k) or {}).get("n_items", "")} items, '
                f'{(e.get(k) or {}).get("n_boot", "")} resamples">{_fmt(_est(e.get(k))[0], d)} {_interval(*_est(e.get(k))[1:], d)}</td>'
                if e.get(k)
                else "<td>—</td>"
                for k, d in (
                    ("accuracy", 3),
                    ("percent_agreement", 1),
                    ("cohens_kappa", 3),
                    ("position_consistency", 3),
                )
            )
            + (
                f'<td title="{esc(cost.method)}, n={cost.n}">{cost.mean:.4g} [{cost.low:.4g}, {cost.high:.4g}]</td>'
                if cost
                else "<td>—</td>"
            )
            + "</tr>"
        )
    table = (
        '<table class="data"><tr><th class="name">judge</th><th>items</th><th>verdicts</th><th>invalid</th>'
        f"<th>accuracy, {level_txt} CI</th><th>% agreement</th><th>Cohen's κ</th><th>position consistency</th>"
        f"<th>{esc(cost_meaning or 'cost')}</th></tr>" + "".join(rows) + "</table>"
    )
    extra = ""
    if jury:
        fk, ka = jury.get("fleiss_kappa") or {}, jury.get("krippendorff_alpha") or {}
        extra = (
            f" Across the {len(jury['judges'])} judges: Fleiss' κ {_fmt(fk.get('value'))} "
            f"{_interval(_num(fk.get('low')), _num(fk.get('high')))} on {jury.get('n_fleiss_subjects')} verdicts, "
            f"Krippendorff's α ({esc(jury.get('alpha_level'))}) {_fmt(ka.get('value'))} "
            f"{_interval(_num(ka.get('low')), _num(ka.get('high')))}. The jury is the majority vote of the judges."
        )
    cost_note = (
        f" Cost is the mean {esc(cost_meaning)} from {esc(verdicts.attrs.get('source', 'the verdicts'))}, "
        f"with {level_txt} Student's t intervals (n − 1 df) over verdicts; the jury's cost sums its members' "
        "verdicts on each item."
        if costs
        else " No cost, token or latency columns were found in the verdicts, so cost is not shown."
    )
    caption = (
        f'<p class="caption"><b>Method.</b> {esc(audit["kind"])} verdicts against human labels '
        f"({esc(audit.get('labels', ''))}). Intervals are {level_txt} percentile bootstrap over items, "
        f"{audit.get('n_boot')} resamples, seed {audit.get('seed')}; κ corrects agreement for chance."
        f"{extra}{cost_note}</p>"
    )
    height = 140 + 34 * len(names)
    return Section(
        "judges",
        "Jury versus single judges",
        "Does a jury of judges agree with people more often than any one judge, and what does it cost?",
        [figure(fig, height), table, caption],
    )


def agreement_section(audit: dict, verdicts: pd.DataFrame | None, figure: FigureMaker, seed: int) -> Section:
    import plotly.graph_objects as go

    from assay.judge.agreement import pairwise_kappas

    level = float(audit.get("level", 0.95))
    judges = [j["judge"] for j in audit["judges"]]
    labels = ["humans"] + judges
    size = len(labels)
    z = [[None] * size for _ in range(size)]
    text = [[""] * size for _ in range(size)]
    custom = [[["", "", ""] for _ in range(size)] for _ in range(size)]

    def put(i, j, est: dict):
        value, low, high = _est(est)
        if value is None:
            return
        for r, c in ((i, j), (j, i)):
            z[r][c] = value
            text[r][c] = f"{value:.2f}<br>{_interval(low, high, 2)}"
            custom[r][c] = [_interval(low, high, 3), est.get("n_items", "?"), est.get("method", "")]

    for i, j in enumerate(audit["judges"], start=1):
        put(0, i, j.get("cohens_kappa"))
    notes = []
    if verdicts is not None and len(judges) >= 2:
        n_boot = min(int(audit.get("n_boot") or 200), 300)
        for (a, b), est in pairwise_kappas(verdicts, judges, n_boot, seed, level).items():
            put(labels.index(a), labels.index(b), est)
    elif len(judges) >= 2:
        notes.append(
            "judge-to-judge κ needs the verdicts table; pass judge=VERDICTS (the audit's verdicts file was not found)"
        )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=12),
            zmin=-1,
            zmax=1,
            zmid=0,
            colorscale="RdBu",
            colorbar=dict(title="κ", thickness=14),
            customdata=custom,
            hoverongaps=False,
            hovertemplate=(
                "<b>%{y} × %{x}</b><br>Cohen's κ %{z:.3f}<br>interval %{customdata[0]}<br>"
                "%{customdata[2]}, %{customdata[1]} items<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        margin=dict(l=10, r=10, t=20, b=40),
        yaxis=dict(autorange="reversed", automargin=True),
        xaxis=dict(side="bottom", automargin=True),
    )
    caption = (
        f'<p class="caption"><b>Method.</b> Cohen\'s κ for every pair of raters on the verdicts both gave '
        f"(the humans' labels count as one rater), with {_pct(level)} percentile bootstrap intervals that "
        "resample whole items. κ = 1 is perfect agreement, 0 is what chance alone gives; the diagonal is blank.</p>"
    )
    height = max(300, 120 + 70 * size)
    return Section(
        "agreement",
        "Judge agreement",
        "Who agrees with whom, corrected for chance: judges with each other and with the human labels.",
        [figure(fig, height), caption],
        warnings=notes,
    )


def _probe_rows(probe) -> list[dict]:
    """Rows (name, effect, low, high, n, method) from an attached bias probe (object or dict)."""
    d = probe.to_dict() if hasattr(probe, "to_dict") else probe
    if not isinstance(d, dict):
        return []
    if isinstance(d.get("results"), list):
        return [
            r for sub in d["results"] for r in _probe_rows({**{k: v for k, v in d.items() if k != "results"}, **sub})
        ]
    effect = next(
        (d[k] for k in ("effect", "effect_size", "value", "diff") if isinstance(d.get(k), (int, float))), None
    )
    if effect is None:
        return []
    name = " · ".join(str(d[k]) for k in ("judge", "probe", "name") if d.get(k))
    unit = d.get("unit") or ("rating points" if "rating" in str(d.get("meaning", "")) else "share of verdicts")
    return [
        {
            "name": name or "probe",
            "effect": float(effect),
            "low": _num(d.get("low", d.get("ci_low"))),
            "high": _num(d.get("high", d.get("ci_high"))),
            "n": d.get("n_items", d.get("n", "?")),
            "method": d.get("method", d.get("effect_size_name", "")),
            "unit": unit,
        }
    ]


def bias_section(audit: dict, figure: FigureMaker) -> Section | None:
    import plotly.graph_objects as go

    level = float(audit.get("level", 0.95))
    rows = []
    for j in audit["judges"]:
        value, low, high = _est(j.get("first_position_rate"))
        if value is not None:
            rows.append(
                {
                    "name": f"{j['judge']} · position bias (first-shown rate − ½)",
                    "effect": value - 0.5,
                    "low": None if low is None else low - 0.5,
                    "high": None if high is None else high - 0.5,
                    "n": j["first_position_rate"].get("n_items"),
                    "method": j["first_position_rate"].get("method"),
                }
            )
        value, low, high = _est(j.get("position_consistency"))
        if value is not None:
            rows.append(
                {
                    "name": f"{j['judge']} · verdict flips when order swaps",
                    "effect": 1 - value,
                    "low": None if high is None else 1 - high,
                    "high": None if low is None else 1 - low,
                    "n": j["position_consistency"].get("n_items"),
                    "method": j["position_consistency"].get("method"),
                }
            )
        value, low, high = _est(j.get("leniency"))
        if value is not None:
            rows.append(
                {
                    "name": f"{j['judge']} · leniency (correct where humans said wrong)",
                    "effect": value,
                    "low": low,
                    "high": high,
                    "n": j["leniency"].get("n_items"),
                    "method": j["leniency"].get("method"),
                }
            )
    for probe in audit.get("probes") or []:
        rows += _probe_rows(probe)
    if not rows:
        return None
    # One figure per unit: a rating-point effect and a share of verdicts never share an axis.
    blocks = []
    units = list(dict.fromkeys(r.get("unit", "share of verdicts") for r in rows))
    for unit in units:
        shown = [r for r in rows if r.get("unit", "share of verdicts") == unit]
        names = [r["name"] for r in shown]
        effects = [r["effect"] for r in shown]
        colours = [
            "#b3261e"
            if r["low"] is not None and (r["low"] > 0 or (r["high"] is not None and r["high"] < 0))
            else "#5b6575"
            for r in shown
        ]
        fig = go.Figure(
            go.Scatter(
                x=effects,
                y=names,
                mode="markers",
                marker=dict(size=10, color=colours, symbol="square"),
                error_x=_bars(effects, [r["low"] for r in shown], [r["high"] for r in shown]),
                customdata=[[_interval(r["low"], r["high"]), r["n"], r["method"]] for r in shown],
                hovertemplate="<b>%{y}</b><br>effect %{x:+.3f} "
                + esc(unit)
                + "<br>interval %{customdata[0]}<br>%{customdata[2]}, %{customdata[1]} items<extra></extra>",
                showlegend=False,
            )
        )
        fig.add_vline(x=0, line=dict(color="#1d2430", width=1, dash="dot"))
        fig.update_layout(
            margin=dict(l=10, r=20, t=20, b=50),
            xaxis=dict(title=f"effect in {unit}, with {_pct(level)} interval", zeroline=False),
            yaxis=dict(categoryorder="array", categoryarray=names[::-1], automargin=True),
        )
        blocks.append(figure(fig, 110 + 32 * len(shown)))
    caption = (
        f'<p class="caption"><b>Method.</b> Each row is a bias with its size in the unit its axis names. '
        "Measured on the audited verdicts, as a share of verdicts: position bias is how often the judge picks whichever output is shown first, minus "
        "the ½ an unbiased judge would; flips are verdicts that change when the two outputs swap places; leniency "
        f"is how often the judge calls an answer correct that people marked wrong. Bars are {_pct(level)} percentile "
        "bootstrap intervals over items; red marks an interval that excludes zero. Attached bias probes "
        "appear with their own method in the tooltip"
        + (
            f"; effects in different units ({', '.join(esc(u) for u in units)}) are drawn in separate figures"
            if len(units) > 1
            else ""
        )
        + ".</p>"
    )
    return Section(
        "bias",
        "Judge bias probes",
        "Where judges lean: position, order and leniency effects, with their size.",
        [*blocks, caption],
    )


# ---- scaling -------------------------------------------------------------------------------------


def _slices(values: np.ndarray, count: int = 3) -> list[float]:
    distinct = np.unique(values[np.isfinite(values)])
    if len(distinct) <= count:
        return distinct.tolist()
    logs = np.log(distinct)
    targets = np.linspace(logs.min(), logs.max(), count)
    return sorted({float(distinct[np.argmin(np.abs(logs - t))]) for t in targets})


def scaling_section(panels: list, figure: FigureMaker) -> Section | None:
    import plotly.graph_objects as go

    from assay.report.inputs import ForecastPanel
    from assay.scaling.backtesting import coverage_by_law

    if not panels:
        return None
    blocks, notes = [], []
    for panel in panels:
        if isinstance(panel, ForecastPanel):
            blocks += _forecast_blocks(panel, figure)
            notes += [f"{panel.label}: {n}" for n in panel.notes]
            continue
        fig = go.Figure()
        x0, target = panel.x[0], panel.y[-1]
        first = next(iter(panel.fits.values()))
        level_txt = _pct(first.level)
        xs = [first.x_min[x0], first.x_max[x0]]
        if panel.train is not None and len(panel.train):
            xs += [panel.train[x0].min(), panel.train[x0].max()]
        if panel.heldout is not None and x0 in panel.heldout.columns:
            xs += [panel.heldout[x0].min(), panel.heldout[x0].max()]
        linear = all(f.options.get("x_transform") == "linear" for f in panel.fits.values())
        low_x, high_x = min(xs), max(xs)
        grid = np.linspace(low_x, high_x, 200) if linear or low_x <= 0 else np.geomspace(low_x / 1.3, high_x * 1.3, 200)
        # Laws of two inputs are drawn as curves at a few values of the second input.
        second = panel.x[1] if len(panel.x) > 1 else None
        if second is None:
            slices = [None]
        else:
            pool = (
                panel.train[second].to_numpy(float)
                if panel.train is not None and len(panel.train)
                else np.array([first.x_min[second], first.x_max[second]])
            )
            slices = _slices(pool)
        colour_i = 0
        for law, fit in panel.fits.items():
            # A law of the first input alone (a size-only power law beside Chinchilla) is one
            # curve, not one per value of an input it does not use.
            uses_second = second is not None and second in list(getattr(fit, "x", panel.x))
            for s in slices if uses_second else [None]:
                colour = PALETTE[colour_i % len(PALETTE)]
                colour_i += 1
                tag = law if s is None else f"{law}, {second}={s:.3g}"
                xmat = np.vstack([grid] if s is None else [grid, np.full_like(grid, s)])
                value, low, high = fit.predict_arrays(xmat)
                if low is not None:
                    fig.add_trace(
                        go.Scatter(
                            x=np.concatenate([grid, grid[::-1]]),
                            y=np.concatenate([high, low[::-1]]),
                            fill="toself",
                            fillcolor=_rgba(colour, 0.16),
                            line=dict(width=0),
                            hoverinfo="skip",
                            # The band goes with its curve's legend entry (one click hides both).
                            showlegend=False,
                            name=f"{level_txt} band ({tag})",
                            legendgroup=tag,
                        )
                    )
                else:
                    notes.append(
                        f"{panel.label}: the {law} fit has no bootstrap draws, so its curve has no interval "
                        "(refit with --bootstrap)"
                    )
                band = (
                    f"<br>{level_txt} interval [%{{customdata[0]:.4g}}, %{{customdata[1]:.4g}}], percentile bootstrap"
                    if low is not None
                    else "<br>no interval (fit without bootstrap)"
                )
                fig.add_trace(
                    go.Scatter(
                        x=grid,
                        y=value,
                        mode="lines",
                        line=dict(color=colour, width=2.2),
                        name=f"fit: {tag}",
                        legendgroup=tag,
                        customdata=None if low is None else np.column_stack([low, high]),
                        hovertemplate=f"{esc(tag)}<br>{esc(x0)}=%{{x:.3g}}<br>predicted %{{y:.4g}}{band}<extra></extra>",
                    )
                )
                if panel.train is not None and len(panel.train):
                    rows = panel.train if s is None else panel.train[np.isclose(panel.train[second], s)]
                    if len(rows) and law == next(iter(panel.fits)):
                        fig.add_trace(
                            go.Scatter(
                                x=rows[x0],
                                y=rows[target],
                                mode="markers",
                                name=f"fitted data{'' if s is None else f' ({second}={s:.3g})'}",
                                marker=dict(size=8, color=colour, line=dict(color="#ffffff", width=1)),
                                legendgroup=tag,
                                hovertemplate=f"fitted point<br>{esc(x0)}=%{{x:.3g}}<br>{esc(target)}=%{{y:.4g}}<extra></extra>",
                            )
                        )
                if panel.heldout is not None and "truth" in panel.heldout.columns:
                    held = (
                        panel.heldout[panel.heldout["law"] == law] if "law" in panel.heldout.columns else panel.heldout
                    )
                    if s is not None and second in held.columns:
                        held = held[np.isclose(held[second].astype(float), s)]
                    if len(held):
                        low_h = held["low"].astype(float) if "low" in held.columns else None
                        fig.add_trace(
                            go.Scatter(
                                x=held[x0],
                                y=held["predicted"],
                                mode="markers",
                                name=f"forecast ({tag})",
                                marker=dict(
                                    size=9, color=colour, symbol="line-ew-open", line=dict(width=2, color=colour)
                                ),
                                error_y=None
                                if low_h is None
                                else _bars(
                                    held["predicted"].tolist(), low_h.tolist(), held["high"].astype(float).tolist()
                                ),
                                legendgroup=tag,
                                hovertemplate="forecast %{y:.4g}<extra></extra>",
                            )
                        )
                        fig.add_trace(
                            go.Scatter(
                                x=held[x0],
                                y=held["truth"],
                                mode="markers",
                                name=f"held-out truth ({tag})",
                                marker=dict(
                                    size=12, color="#ffffff", symbol="diamond", line=dict(width=2.2, color="#b3261e")
                                ),
                                legendgroup=tag,
                                customdata=np.column_stack(
                                    [
                                        held["predicted"],
                                        held.get("low", held["predicted"]),
                                        held.get("high", held["predicted"]),
                                    ]
                                ),
                                hovertemplate=(
                                    f"held-out point<br>{esc(x0)}=%{{x:.3g}}<br>truth %{{y:.4g}}<br>forecast "
                                    "%{customdata[0]:.4g} [%{customdata[1]:.4g}, %{customdata[2]:.4g}]<extra></extra>"
                                ),
                            )
                        )
        observed = [panel.train[target]] if panel.train is not None and len(panel.train) else []
        if panel.heldout is not None and "truth" in panel.heldout.columns:
            observed.append(panel.heldout["truth"].astype(float))
        observed = pd.concat(observed).to_numpy(float) if observed else np.array([])
        log_y = bool(len(observed) and observed.min() > 0 and observed.max() / observed.min() > 20)
        fig.update_layout(
            margin=dict(l=10, r=10, t=40, b=50),
            title=dict(text=esc(panel.label), font=dict(size=14), x=0.01),
            # Below the plot, wrapping across its width: never a legend that needs scrolling.
            legend=dict(font=dict(size=11), orientation="h", yanchor="top", y=-0.2, x=0),
            xaxis=dict(title=x0, type="linear" if linear or low_x <= 0 else "log"),
            yaxis=dict(
                title=target + (" (log scale)" if log_y else ""), automargin=True, type="log" if log_y else "linear"
            ),
        )
        entries = sum(1 for trace in fig.data if trace.showlegend is not False)
        blocks.append(figure(fig, 400 + 22 * ((entries + 2) // 3)))
        parts = []
        for law, fit in panel.fits.items():
            params = ", ".join(
                f"{esc(k)} = {v:.4g}"
                + (f" [{fit.ci[k][0]:.3g}, {fit.ci[k][1]:.3g}]" if fit.ci.get(k) and None not in fit.ci[k] else "")
                for k, v in fit.params.items()
            )
            interval = (
                esc(fit.bootstrap_method) + f", {0 if fit.draws is None else len(fit.draws)} successful refits"
                if fit.draws is not None and len(fit.draws)
                else "no bootstrap, no interval"
            )
            parts.append(
                f"<b>{esc(law)}</b>: {esc(fit.formula)} fitted to {fit.n_points} points "
                f"({esc(fit.objective_kind)}); {params}. Band: {level_txt} {interval}."
            )
        heldout = ""
        if panel.heldout is not None and len(panel.heldout):
            rates = [
                f"{c.share:.0%} of {c.n}" + ("" if c.law is None else f" for {esc(c.law)}")
                for c in coverage_by_law(panel.heldout)
            ]
            heldout = (
                " Open red diamonds are held-out points (not used in the fit) with the forecast and its interval beside them"
                + (f"; held-out truths inside the interval: {', '.join(rates)}" if rates else "")
                + "."
            )
        if second is not None:
            heldout += (
                f" Curves are drawn at {len(slices)} values of {esc(second)}; points at other values are not shown."
            )
        blocks.append(f'<p class="caption"><b>Method.</b> {" ".join(parts)}{heldout}</p>')
        notes += [f"{panel.label}: {n}" for n in panel.notes]
    forecasts = sum(isinstance(p, ForecastPanel) for p in panels)
    if not forecasts:
        title = "Scaling fits"
        lede = "The data each law was fitted to, the fitted curve and its interval band, and points held out to test the forecast."
    else:
        title = "Scaling forecasts" if forecasts == len(panels) else "Scaling fits and forecasts"
        lede = (
            ("The fitted laws with their bands and held-out points; f" if forecasts < len(panels) else "F")
            + "orecasts of rows outside the training rows with their prediction intervals, the held-out truths "
            "beside them, and how often the intervals held in backtests on the training rows and on the held-out rows."
        )
    return Section("scaling", title, lede, blocks, warnings=sorted(set(notes), key=notes.index))


COVERED_COLOUR, MISSED_COLOUR, UNJUDGED_COLOUR = "#2e9e6a", "#b3261e", "#5f7a8a"


def _share_interval(low, high) -> str:
    return "" if _num(low) is None or _num(high) is None else f"[{low:.0%}, {high:.0%}]"


def _forecast_blocks(panel, figure: FigureMaker) -> list:
    """One figure per target (forecasts with intervals, truths marked inside or outside), then the calibration
    figure and table. Everything drawn is read from the forecast result; nothing is recomputed here."""
    import plotly.graph_objects as go

    blocks: list = []
    x0, level_txt = panel.x[0], _pct(panel.level)
    # Against compute, the product of the x columns the forecast gives for each row (its first x column when
    # a result saved before that field has several: then models of one size share an x).
    with_compute = all(p.get("compute") is not None for p in panel.predictions)
    against = x0 if len(panel.x) == 1 else ("compute = " + " × ".join(panel.x) if with_compute else x0)
    for target in panel.y:
        rows = [p for p in panel.predictions if p["target"] == target]
        if not rows:
            continue
        calibration = panel.calibration.get(target) or {}
        fig = go.Figure()
        xs = [_num(p["compute"]) if with_compute else _num(p["inputs"].get(x0)) for p in rows]
        hover = [
            [
                str(p.get("id", "")),
                "none" if p["low"] is None else f"{p['low']:.4g}",
                "none" if p["high"] is None else f"{p['high']:.4g}",
                "no truth in the data" if p["y"] is None else f"truth {p['y']:.4g}",
                f"{p.get('distance', 0.0):.2f}",
                (f"group {p['group']}; " if p.get("group") is not None else "") + str(p.get("note", "")),
            ]
            for p in rows
        ]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[p["prediction"] for p in rows],
                mode="markers",
                name=f"forecast with {level_txt} prediction interval",
                marker=dict(size=10, color=PALETTE[0], symbol="line-ew-open", line=dict(width=2.4, color=PALETTE[0])),
                error_y=_bars([p["prediction"] for p in rows], [p["low"] for p in rows], [p["high"] for p in rows]),
                customdata=hover,
                hovertemplate=f"%{{customdata[0]}}<br>{esc(against)}=%{{x:.3g}}<br>forecast %{{y:.4g}} "
                f"[%{{customdata[1]}}, %{{customdata[2]}}] ({level_txt})<br>%{{customdata[3]}}"
                "<br>%{customdata[4]} decades beyond the training data<br>%{customdata[5]}<extra></extra>",
            )
        )
        kinds = [
            (True, "held-out truth inside the interval", COVERED_COLOUR, "diamond-open"),
            (False, "held-out truth outside the interval", MISSED_COLOUR, "x"),
            (None, "held-out truth (no interval to judge it by)", UNJUDGED_COLOUR, "diamond-open"),
        ]
        for covered, name, colour, symbol in kinds:
            chosen = [(x, p) for x, p in zip(xs, rows) if p["y"] is not None and p["covered"] is covered]
            if not chosen:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[x for x, _ in chosen],
                    y=[p["y"] for _, p in chosen],
                    mode="markers",
                    name=name,
                    marker=dict(size=11, color=colour, symbol=symbol, line=dict(width=2.2, color=colour)),
                    customdata=[[str(p.get("id", "")), p["prediction"], f"{p['error']:+.3g}"] for _, p in chosen],
                    hovertemplate=f"%{{customdata[0]}}<br>{esc(name)}<br>{esc(against)}=%{{x:.3g}}<br>truth %{{y:.4g}}"
                    "<br>forecast %{customdata[1]:.4g}, error %{customdata[2]}<extra></extra>",
                )
            )
        positive = [x for x in xs if x is not None and x > 0]
        log_x = bool(positive) and len(positive) == len(xs) and max(positive) / min(positive) > 10
        fig.update_layout(
            margin=dict(l=10, r=10, t=40, b=50),
            title=dict(text=esc(f"{panel.label}: {target}"), font=dict(size=14), x=0.01),
            legend=dict(font=dict(size=11), orientation="h", yanchor="top", y=-0.2, x=0),
            xaxis=dict(title=against, type="log" if log_x else "linear"),
            yaxis=dict(
                title=target + (" (log scale)" if calibration.get("error_scale") == "log y" else ""),
                type="log" if calibration.get("error_scale") == "log y" else "linear",
                automargin=True,
            ),
        )
        blocks.append(figure(fig, 360))
    blocks += _calibration_blocks(panel, figure)
    return blocks


def _calibration_blocks(panel, figure: FigureMaker) -> list:
    """Coverage against the nominal level per target: the cross-validated backtests on the training rows
    (pooled and per fold) and the held-out rows with their interval."""
    import plotly.graph_objects as go

    targets = [t for t in panel.y if t in panel.calibration]
    if not targets:
        return []
    level_txt = _pct(panel.level)
    fig = go.Figure()
    cals = [panel.calibration[t] for t in targets]
    folds = [(t, f) for t, c in zip(targets, cals) for f in c.get("per_fold") or []]
    if folds:
        fig.add_trace(
            go.Scatter(
                x=[t for t, _ in folds],
                y=[f["coverage"] for _, f in folds],
                mode="markers",
                name="backtest fold (judged by the other folds)",
                marker=dict(size=7, color=_rgba(PALETTE[1], 0.45), symbol="circle"),
                customdata=[
                    [
                        f.get("fold"),
                        f"{f['cut']:.4g}" if _num(f.get("cut")) is not None else "n/a",
                        f.get("n"),
                        _fmt(_num(f.get("max_distance")), 2),
                    ]
                    for _, f in folds
                ],
                hovertemplate="%{x}: fold %{customdata[0]}, cut at %{customdata[1]}<br>coverage %{y:.0%} of "
                "%{customdata[2]} forecasts, up to %{customdata[3]} decades out<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=targets,
            y=[_num(c.get("backtest_coverage")) for c in cals],
            mode="markers",
            name="backtest coverage (cross-validated, folds weighed equally)",
            marker=dict(size=12, color=PALETTE[1], symbol="circle"),
            customdata=[[c.get("folds"), c.get("n_errors")] for c in cals],
            hovertemplate="%{x}: backtest coverage %{y:.0%}<br>%{customdata[0]} folds, %{customdata[1]} "
            "errors<extra></extra>",
        )
    )
    held = [c.get("held_out") or {} for c in cals]
    fig.add_trace(
        go.Scatter(
            x=targets,
            y=[_num(h.get("coverage")) for h in held],
            mode="markers",
            name="held-out coverage with its 95% interval",
            marker=dict(size=12, color=PALETTE[0], symbol="diamond"),
            error_y=_bars(
                [_num(h.get("coverage")) for h in held],
                [_num(h.get("coverage_low")) for h in held],
                [_num(h.get("coverage_high")) for h in held],
            ),
            customdata=[
                [
                    h.get("n"),
                    h.get("n_models"),
                    _share_interval(h.get("coverage_low"), h.get("coverage_high")) or "none",
                ]
                for h in held
            ],
            hovertemplate="%{x}: %{y:.0%} of %{customdata[0]} held-out truths inside the interval "
            "(%{customdata[1]} models)<br>95% interval %{customdata[2]}<extra></extra>",
        )
    )
    fig.add_hline(
        y=panel.level,
        line=dict(color="#1d2430", width=1.4, dash="dash"),
        annotation_text=f"nominal {level_txt}",
        annotation_position="bottom right",
    )
    fig.update_layout(
        margin=dict(l=10, r=10, t=40, b=50),
        title=dict(text=esc(f"{panel.label}: calibration"), font=dict(size=14), x=0.01),
        legend=dict(font=dict(size=11), orientation="h", yanchor="top", y=-0.2, x=0),
        scattermode="group",
        xaxis=dict(title="target", type="category"),
        yaxis=dict(title=f"share inside the {level_txt} interval", range=[-0.02, 1.05], tickformat=".0%"),
    )
    rows = []
    for target, c, h in zip(targets, cals, held):
        coverage = "n/a" if h.get("coverage") is None else f"{h['coverage']:.0%}"
        rows.append(
            f'<tr><td class="name">{esc(target)}</td><td>{c.get("folds", "n/a")}</td>'
            f"<td>{'n/a' if c.get('backtest_coverage') is None else format(c['backtest_coverage'], '.0%')}</td>"
            f"<td>{h.get('n', 0)}</td><td>{coverage} {_share_interval(h.get('coverage_low'), h.get('coverage_high'))}</td>"
            f"<td>{_fmt(_num(h.get('mean_abs_error')), 4)} "
            f"{_interval(h.get('mean_abs_error_low'), h.get('mean_abs_error_high'), 4)}</td></tr>"
        )
    table = (
        '<table class="data"><tr><th class="name">target</th><th>backtest folds</th><th>backtest coverage</th>'
        "<th>held-out truths</th><th>held-out coverage [95%]</th><th>mean |error| [95%]</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    method = cals[0].get("method", "")
    caption = (
        f'<p class="caption"><b>Method.</b> Forecasts of the rows outside <code>--train {esc(str(panel.train))}</code> '
        f"with {level_txt} prediction intervals for the observed value (not the curve): {esc(method)}. "
        "Open green diamonds are held-out truths inside their interval, red crosses truths outside it. "
        "The calibration figure shows, per target, the coverage of the backtests on the training rows (each fold "
        "judged by the rule learned on the others) and the share of held-out truths inside their interval, "
        "with a 95% interval over models, against the nominal level (dashed).</p>"
    )
    drawn = folds or any(
        _num(c.get("backtest_coverage")) is not None or _num(h.get("coverage")) is not None for c, h in zip(cals, held)
    )
    # Without a coverage to draw (too few backtests, no truths) the table and the warnings say why.
    return ([figure(fig, 360)] if drawn else []) + [table, caption]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


# ---- pass@k --------------------------------------------------------------------------------------


def passk_section(data: dict, figure: FigureMaker) -> Section:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from assay.stats.passk import CoverageFit

    method = data.get("method") or {}
    confidence = float(method.get("confidence", 0.95))
    level_txt = _pct(confidence)
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.09,
        subplot_titles=[f"pass@k with {level_txt} interval", "coverage and its power-law fit"],
    )
    n_items = data.get("n_items") or {}
    extrapolated = False
    for i, (model, values) in enumerate(data["models"].items()):
        colour = figure.colour(model)
        # On the log axis a model's points sit a few percent off k, so equal values stay visible.
        spread = 10 ** dodge(len(data["models"]), i, 0.04)
        points = sorted((int(key.split("@", 1)[1]), v) for key, v in values.items() if key.startswith("pass@"))
        ks = [k for k, _ in points]
        ys = [_num(v.get("value")) for _, v in points]
        fig.add_trace(
            go.Scatter(
                x=[k * spread for k in ks],
                y=ys,
                mode="lines+markers",
                name=str(model),
                legendgroup=str(model),
                line=dict(color=colour, width=2),
                marker=dict(size=7),
                error_y=_bars(
                    ys, [_num(v.get("ci_low")) for _, v in points], [_num(v.get("ci_high")) for _, v in points]
                ),
                customdata=[
                    [_num(v.get("ci_low")), _num(v.get("ci_high")), n_items.get(model, "?"), k] for k, v in points
                ],
                hovertemplate=(
                    "<b>"
                    + esc(model)
                    + "</b> pass@%{customdata[3]}: %{y:.3f}<br>"
                    + level_txt
                    + " CI [%{customdata[0]:.3f}, %{customdata[1]:.3f}]<br>percentile bootstrap over "
                    "%{customdata[2]} items<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
        cov = (data.get("coverage") or {}).get(model) or {}
        fit = (data.get("coverage_fit") or {}).get(model) or {}
        if cov.get("k"):
            fig.add_trace(
                go.Scatter(
                    x=cov["k"],
                    y=cov["coverage"],
                    mode="markers",
                    name=f"{model} coverage",
                    legendgroup=str(model),
                    showlegend=False,
                    marker=dict(size=7, color=colour),
                    hovertemplate="k=%{x}: coverage %{y:.3f}<extra></extra>",
                ),
                row=1,
                col=2,
            )
        if fit.get("a") is not None and fit.get("b") is not None:
            curve = CoverageFit(a=float(fit["a"]), b=float(fit["b"]), r2=fit.get("r2"), n_points=0)
            k_obs = max(cov.get("k") or ks or [1])
            k_far = max([k_obs] + [int(k) for k in (fit.get("extrapolation") or {})])
            seen = np.geomspace(1, k_obs, 60)
            fig.add_trace(
                go.Scatter(
                    x=seen,
                    y=curve.predict(seen),
                    mode="lines",
                    line=dict(color=colour, width=2),
                    showlegend=False,
                    legendgroup=str(model),
                    hovertemplate=f"fit log C = {fit['a']:.3g}·k^{fit['b']:.3g} (R² {fit.get('r2') or float('nan'):.3f})"
                    "<br>k=%{x:.0f}: %{y:.3f}<extra></extra>",
                ),
                row=1,
                col=2,
            )
            if k_far > k_obs:
                extrapolated = True
                far = np.geomspace(k_obs, k_far, 40)
                fig.add_trace(
                    go.Scatter(
                        x=far,
                        y=curve.predict(far),
                        mode="lines",
                        line=dict(color=colour, width=2, dash="dash"),
                        showlegend=False,
                        legendgroup=str(model),
                        hovertemplate="extrapolated beyond the samples drawn<br>k=%{x:.0f}: %{y:.3f}<extra></extra>",
                    ),
                    row=1,
                    col=2,
                )
    fig.update_xaxes(type="log", title="k (samples per item)")
    fig.update_yaxes(title="pass@k", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="coverage C(k)", rangemode="tozero", row=1, col=2)
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=50), legend=dict(orientation="h", y=-0.22, x=0))
    per_model = "; ".join(
        f"{esc(m)}: {n_items.get(m, '?')} items, {(data.get('samples_per_item') or {}).get(m, {}).get('min', '?')} samples each"
        for m in data["models"]
    )
    caption = (
        f'<p class="caption"><b>Method.</b> pass@k is estimated per item by {esc(method.get("estimator", "the unbiased estimator"))}, '
        f"averaged over items, with {level_txt} {esc(method.get('interval', 'bootstrap'))} intervals "
        f"({method.get('n_boot', '?')} resamples, seed {method.get('seed', '?')}). Coverage is pass@k on a log grid of k; "
        f"the line is the fit {esc(method.get('coverage_fit', 'log C(k) = a·k^b'))}"
        + (
            "; dashed where it extrapolates beyond the samples drawn, where it has no interval and is a forecast only"
            if extrapolated
            else ""
        )
        + f". {per_model}.</p>"
    )
    return Section(
        "passk",
        "pass@k and coverage",
        "How often at least one of k samples is right, and how coverage grows with more samples.",
        [figure(fig, 430), caption],
    )


LIKELIHOOD_SHOWN = {
    "choices": ("acc", "acc_norm", "p_correct", "brier"),
    "perplexity": ("bits_per_byte", "perplexity", "word_perplexity"),
}


def likelihood_section(runs: list[tuple[str, str, dict]], figure: FigureMaker) -> Section | None:
    """Likelihood runs: (run label, mode, {model: {metric: entry}}) from ``run.table.likelihood_metrics``."""
    import plotly.graph_objects as go

    if not runs:
        return None
    blocks: list = []
    for label, mode, by_model in runs:
        shown = LIKELIHOOD_SHOWN[mode]
        headline = shown[0]
        models = list(by_model)
        entries = [by_model[m].get(headline) or {} for m in models]
        fig = go.Figure(
            go.Scatter(
                x=[e.get("value") for e in entries],
                y=models,
                mode="markers",
                marker=dict(size=11, color=[figure.colour(m) for m in models]),
                error_x=_bars(
                    [e.get("value") for e in entries],
                    [e.get("ci_low") for e in entries],
                    [e.get("ci_high") for e in entries],
                ),
                customdata=[[e.get("method") or "", e.get("n")] for e in entries],
                hovertemplate="<b>%{y}</b><br>" + headline + " %{x:.4f}<br>%{customdata[0]}; n=%{customdata[1]}"
                "<extra></extra>",
            )
        )
        fig.update_layout(
            margin=dict(l=10, r=20, t=30, b=50),
            xaxis=dict(title=f"{headline} with its interval"),
            yaxis=dict(automargin=True),
        )
        blocks.append(figure(fig, 130 + 34 * len(models)))
        head = "".join(f"<th>{esc(m)}</th>" for m in shown)
        rows = []
        for model in models:
            cells = []
            for metric in shown:
                e = by_model[model].get(metric) or {}
                value = "—" if e.get("value") is None else f"{e['value']:.4g}"
                cells.append(
                    f'<td title="{esc(e.get("method") or "")}">{value} '
                    f"{_interval(e.get('ci_low'), e.get('ci_high'), 4)}</td>"
                )
            rows.append(f'<tr><td class="name">{esc(model)}</td>{"".join(cells)}</tr>')
        blocks.append(
            f'<p class="caption"><b>{esc(label)}</b> ({esc(mode)})</p>'
            f'<table class="data"><tr><th class="name">model</th>{head}</tr>{"".join(rows)}</table>'
        )
    blocks.append(
        '<p class="caption"><b>Method.</b> Multiple-choice runs: acc picks the most probable choice, '
        "acc_norm divides each log-probability by the choice's length in characters first, p_correct is "
        "the right choice's probability renormalised over the choices, brier the squared error of those "
        "probabilities (lower is better); intervals as for every score. Perplexity runs: ratios of sums over "
        "documents (bits per byte = −Σ log p / Σ bytes / ln 2), with percentile-bootstrap intervals that "
        "resample documents. Hover a point or a cell for its method.</p>"
    )
    return Section(
        "likelihood",
        "Likelihood metrics",
        "Scores from the log-probabilities models give: accuracy with and without length normalisation, "
        "and bits per byte.",
        blocks,
    )


def provenance_section(run_dirs: list) -> Section | None:
    """Where each run's numbers came from: software, machine, git state, model and data
    hashes, and for imported runs the source files with their SHA-256 and the tool that wrote them."""
    from pathlib import Path

    from assay.run.store import read_config

    rows = []
    for run_dir in run_dirs:
        if not Path(str(run_dir)).is_dir():
            continue
        config = read_config(run_dir)
        found = config.get("provenance") or {}
        if not found and not config.get("imports"):
            continue
        packages = ", ".join(f"{k} {v}" for k, v in (found.get("packages") or {}).items() if v)
        git = found.get("git") or {}
        commit = (
            (git.get("commit", "")[:10] + (" (uncommitted changes)" if git.get("dirty") else ""))
            if git
            else "not a repository"
        )
        made = [
            f"assay {found.get('assay', '?')}, Python {found.get('python', '?')}",
            packages,
            f"{found.get('cpu_count', '?')} CPUs",
            f"git {commit}",
        ]
        if found.get("data_sha256"):
            made.append(f"task data SHA-256 {found['data_sha256'][:12]}")
        for name, model in (found.get("models") or {}).items():
            ident = (
                model.get("gguf_sha256", "")[:12]
                # Runs written before URLs were stored without credentials still show none.
                or ", ".join(redact_url(url) for url in model.get("base_urls") or [])
                or model.get("fingerprint", "")
            )
            made.append(f"{name}: {ident}")
        sources = "".join(
            f"<li>{esc(entry['path'])} ({esc(entry['format'])}"
            + (
                f" {esc(entry['provenance'].get('tool_version'))}"
                if (entry.get("provenance") or {}).get("tool_version")
                else ""
            )
            + f"; {esc(entry['model'])}, task {esc(entry['task'])}; SHA-256 {esc(entry['sha256'][:12])})</li>"
            for entry in config.get("imports", [])
        )
        rows.append(
            f'<tr><td class="name">{esc(str(run_dir))}</td><td>{"<br>".join(esc(m) for m in made if m)}'
            + (f"<ul>{sources}</ul>" if sources else "")
            + "</td></tr>"
        )
    if not rows:
        return None
    table = '<table class="data"><tr><th class="name">run</th><th>made with</th></tr>' + "".join(rows) + "</table>"
    return Section(
        "provenance",
        "Provenance",
        "What each run was made or imported with, so a number can be traced to its code, packages, "
        "model and data (imported runs: the source files and their hashes).",
        [
            table,
            '<p class="caption"><b>Method.</b> Read from each run\'s config.json, written when the '
            "run was made or imported: package versions from the installed distributions, the git commit "
            "of the working directory, SHA-256 of GGUF files, task data and imported files.</p>",
        ],
    )


# ---- sequential comparisons ----------------------------------------------------------------------

SEQUENTIAL_DRAWN = 8  # pairs drawn; the table lists them all


def sequential_section(pairs: list[dict], figure: FigureMaker) -> Section | None:
    """Each pair's confidence sequence narrowing over items, and where it was decided.

    ``pairs`` come from ``inputs.load_sequential``: the tests computed by
    ``stats.sequential`` (``compare --sequential`` or ``run --stop-when-decided``).
    """
    import plotly.graph_objects as go

    if not pairs:
        return None
    fig = go.Figure()
    fig.add_hline(y=0, line=dict(color="#1d2430", width=1))
    margins = sorted({float(p["margin"]) for p in pairs if p.get("margin")})
    for margin in margins:
        for y in (margin, -margin):
            fig.add_hline(y=y, line=dict(color="#5b6575", width=1, dash="dot"))
    several_sources = len({p.get("source") for p in pairs}) > 1
    for i, pair in enumerate(pairs[:SEQUENTIAL_DRAWN]):
        colour = PALETTE[i % len(PALETTE)]
        name = f"{pair['a']} − {pair['b']}" + (f" ({pair.get('source')})" if several_sources else "")
        seq = pair["sequence"]
        n, low, high = (
            list(seq.get("n") or []),
            [_num(v) for v in seq.get("low") or []],
            [_num(v) for v in seq.get("high") or []],
        )
        fig.add_trace(
            go.Scatter(
                x=n,
                y=high,
                mode="lines",
                line=dict(color=colour, width=1.5),
                legendgroup=name,
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=n,
                y=low,
                mode="lines",
                line=dict(color=colour, width=1.5),
                fill="tonexty",
                fillcolor=_rgba(colour, 0.18),
                name=name,
                legendgroup=name,
                customdata=[[h] for h in high],
                hovertemplate=(
                    "<b>" + esc(name) + "</b><br>after %{x} items: [%{y:+.4f}, %{customdata[0]:+.4f}]<extra></extra>"
                ),
            )
        )
        stop = pair.get("n_used")
        if stop is not None and pair.get("decision") not in (None, "none"):
            fig.add_trace(
                go.Scatter(
                    x=[stop, stop],
                    y=[_num(pair.get("cs_low")), _num(pair.get("cs_high"))],
                    mode="lines+markers",
                    line=dict(color=colour, width=3),
                    marker=dict(size=9, symbol="line-ew-open", color=colour),
                    legendgroup=name,
                    showlegend=False,
                    hovertemplate=(
                        f"<b>{esc(name)}</b><br>decided “{esc(pair['decision'])}” after {stop} items<extra></extra>"
                    ),
                )
            )
    fig.update_layout(
        margin=dict(l=10, r=20, t=30, b=50),
        legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"),
        xaxis=dict(title="items seen (in the seeded random order)", rangemode="tozero"),
        yaxis=dict(title="mean difference a − b", zeroline=False),
    )
    verdicts = {"a": "a better", "b": "b better", "equivalent": "equivalent", "none": "undecided"}
    rows = []
    for pair in pairs:
        margin = pair.get("margin")
        rows.append(
            f'<tr><td class="name">{esc(pair["a"])} − {esc(pair["b"])}</td>'
            f'<td class="name">{esc(verdicts.get(pair.get("decision"), str(pair.get("decision"))))}</td>'
            f"<td>{pair.get('n_used')} of {pair.get('n_available')}</td><td>{_fmt(_num(pair.get('diff')), 4)}</td>"
            f"<td>{_interval(_num(pair.get('cs_low')), _num(pair.get('cs_high')), 4)}</td>"
            f"<td>{_fmt(_num(pair.get('alpha')), 4)}</td><td>{'—' if margin is None else _fmt(float(margin), 3)}</td>"
            + (f'<td class="name">{esc(str(pair.get("source", "")))}</td>' if several_sources else "")
            + "</tr>"
        )
    table = (
        '<table class="data"><tr><th class="name">a − b</th><th class="name">decision</th><th>items used</th>'
        "<th>diff</th><th>sequence at the stop</th><th>alpha (per pair)</th><th>margin</th>"
        + ('<th class="name">from</th>' if several_sources else "")
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )
    seeds = sorted({str(p.get("order_seed")) for p in pairs if p.get("order_seed") is not None})
    caption = (
        '<p class="caption"><b>Method.</b> Each band is a pair\'s confidence sequence for the mean paired difference, '
        f"drawn at every look: {esc(pairs[0].get('method', 'betting-cs'))}, the hedged betting confidence sequence of "
        "Waudby-Smith &amp; Ramdas (2023), which contains the true difference at every number of items at once with "
        "probability at least 1 − alpha, so it may be watched as items come in and the comparison stopped at any look. "
        "The thick vertical stroke is where a pair was decided: the first look at which the band excluded 0 (one model "
        "better) or, with a margin (dotted lines), lay inside ±margin (equivalent). Items are taken in a seeded random "
        "order"
        + (f" (seed {', '.join(seeds)})" if seeds else "")
        + "; alpha is split over the pairs tested."
        + (
            f" The first {SEQUENTIAL_DRAWN} of {len(pairs)} pairs are drawn; the table lists all."
            if len(pairs) > SEQUENTIAL_DRAWN
            else ""
        )
        + "</p>"
    )
    decided = sum(p.get("decision") not in (None, "none") for p in pairs)
    return Section(
        "sequential",
        "Sequential comparisons",
        f"{decided} of {len(pairs)} pair(s) decided; each band narrows as items come in, and may be "
        "watched without inflating its error rate.",
        [figure(fig, 420), table, caption],
    )


# ---- robustness: the specification curve ---------------------------------------------------------

CURVE_DRAWN = 6  # pairs drawn as a specification curve; the table lists them all
CONCLUSION_COLOURS = {"a": "#2b5fad", "b": "#d9822b", "neither": "#8a93a3"}


def _spec_text(spec: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items())


def specification_curve(result, pair, figure: FigureMaker) -> Figure:
    """One pair's specification curve: every specification's estimate and interval, sorted, coloured by its
    conclusion, the pre-registered one marked; beneath, the choices each specification made."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    level = _pct(result.confidence)
    curve = pair.compared
    x = list(range(1, len(curve) + 1))
    rows = [(name, value) for name, values in result.dimensions.items() for value in values]
    # Pixels: the curve above, one line per choice beneath (a category axis hides labels it finds crowded).
    top, beneath = 260, 20 * len(rows) + 10
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=40 / (top + beneath), row_heights=[top, beneath]
    )
    names = {"a": f"{pair.a} better", "b": f"{pair.b} better", "neither": "neither"}
    for conclusion in ("a", "b", "neither"):
        chosen = [(i, e) for i, e in zip(x, curve) if e.conclusion == conclusion]
        if not chosen:
            continue
        diffs = [e.diff for _, e in chosen]
        fig.add_trace(
            go.Scatter(
                x=[i for i, _ in chosen],
                y=diffs,
                mode="markers",
                name=names[conclusion],
                marker=dict(size=7, color=CONCLUSION_COLOURS[conclusion]),
                error_y=_bars(diffs, [e.low for _, e in chosen], [e.high for _, e in chosen]),
                customdata=[[e.low, e.high, _num(e.p_adjusted), e.test, e.n, _spec_text(e.spec)] for _, e in chosen],
                hovertemplate=(
                    "<b>%{customdata[5]}</b><br>difference %{y:+.4f}, "
                    + level
                    + " CI [%{customdata[0]:+.4f}, %{customdata[1]:+.4f}]<br>adjusted p %{customdata[2]:.3g}; "
                    "test: %{customdata[3]}; %{customdata[4]} items<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
    pre = next(((i, e) for i, e in zip(x, curve) if e.preregistered), None)
    if pre is not None:
        i, e = pre
        fig.add_trace(
            go.Scatter(
                x=[i],
                y=[e.diff],
                mode="markers",
                name="pre-registered",
                marker=dict(size=16, symbol="star", color="#b3261e", line=dict(color="#1d2430", width=1)),
                customdata=[[e.low, e.high, _num(e.p_adjusted), e.conclusion, _spec_text(e.spec)]],
                hovertemplate=(
                    "<b>pre-registered: %{customdata[4]}</b><br>difference %{y:+.4f}, "
                    + level
                    + " CI [%{customdata[0]:+.4f}, %{customdata[1]:+.4f}]<br>adjusted p %{customdata[2]:.3g}; "
                    "conclusion: %{customdata[3]}<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
    fig.add_hline(y=0, line=dict(color="#1d2430", width=1, dash="dot"), row=1, col=1)
    labels = [f"{name}: {value}" for name, value in rows]
    for name, value in rows:
        used = [i for i, e in zip(x, curve) if e.spec.get(name) == value]
        fig.add_trace(
            go.Scatter(
                x=used,
                y=[f"{name}: {value}"] * len(used),
                mode="markers",
                marker=dict(size=6, symbol="line-ns-open", color="#1d2430", line=dict(width=2)),
                showlegend=False,
                hovertemplate=f"specification %{{x}}: {esc(name)} = {esc(str(value))}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    fig.update_layout(
        margin=dict(l=10, r=20, t=60, b=50),
        title=dict(text=f"{esc(pair.a)} − {esc(pair.b)}", x=0, font=dict(size=14)),
        legend=dict(orientation="h", y=1.02, x=0.3, yanchor="bottom"),
    )
    fig.update_yaxes(title_text=f"a − b with {level} interval", zeroline=False, row=1, col=1)
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=labels[::-1],
        tickmode="array",
        tickvals=labels,
        ticktext=labels,
        range=[-0.6, len(labels) - 0.4],
        automargin=True,
        row=2,
        col=1,
    )
    fig.update_xaxes(title_text="specifications, sorted by the estimate", row=2, col=1)
    return figure(fig, top + beneath + 150)


def robustness_section(result, figure: FigureMaker) -> Section | None:
    """The specification curve of each pair (``stats.multiverse``), when the sources offer a choice about the
    data (metric, few-shot count, prompt variant or failed requests); None otherwise."""
    if not result.data_dimensions or not result.pairs:
        return None
    level = _pct(result.confidence)
    alpha = 1 - result.confidence
    blocks: list = [specification_curve(result, pair, figure) for pair in result.pairs[:CURVE_DRAWN]]
    pre_head = "<th>pre-registered</th>" if result.preregistered is not None else ""
    rows = []
    for pair in result.pairs:
        support = pair.support
        spread = pair.diff_range
        pre = ""
        if result.preregistered is not None:
            e = pair.preregistered
            pre = (
                "<td>not compared</td>"
                if e is None or e.diff is None
                else f"<td>{e.diff:+.4f} {_interval(e.low, e.high, 4)} → {esc(e.conclusion)}</td>"
            )
        shares = "".join(f"<td>{'—' if v is None else f'{v:.0%}'}</td>" for v in support.values())
        cells = (
            f"<td>{pair.median_diff:+.4f}</td><td>[{spread[0]:+.4f}, {spread[1]:+.4f}]</td>"
            if spread is not None
            else "<td>—</td><td>—</td>"
        )
        rows.append(f'<tr><td class="name">{esc(pair.a)} − {esc(pair.b)}</td>{pre}{shares}{cells}</tr>')
    table = (
        f'<table class="data"><tr><th class="name">a − b</th>{pre_head}<th>a better</th><th>b better</th>'
        "<th>neither</th><th>median diff</th><th>range</th></tr>" + "".join(rows) + "</table>"
    )
    dims = "; ".join(f"<b>{esc(k)}</b>: {esc(', '.join(str(v) for v in vs))}" for k, vs in result.dimensions.items())
    fixed = ", ".join(f"{esc(k)}={esc(str(v))}" for k, v in result.fixed.items())
    caption = (
        f'<p class="caption"><b>Method.</b> Each pair of models is compared under every combination of the '
        f"analysis choices that apply ({result.n_specifications} specifications): {dims}"
        + (f" (fixed: {fixed})" if fixed else "")
        + f". Each point is one specification's mean difference on the common items with its {level} interval, "
        f"sorted by the estimate and coloured by its conclusion ({esc(result.correction)}-adjusted p < {alpha:g} "
        "over the pairs of that specification); the marks beneath show the choices it made"
        + ("; the star is the pre-registered specification" if result.preregistered is not None else "")
        + ". The table gives the share of specifications behind each conclusion."
        + (
            f" The first {CURVE_DRAWN} of {len(result.pairs)} pairs are drawn; the table lists all."
            if len(result.pairs) > CURVE_DRAWN
            else ""
        )
        + "</p>"
    )
    blocks += [table, caption]
    return Section(
        "robustness",
        "Robustness",
        "Specification curves: does each conclusion survive the other reasonable ways of computing it?",
        blocks,
        warnings=list(result.notes),
    )


def across_blocks(result, figure: FigureMaker) -> list:
    """Per-variant leaderboards, spread bars and each pair's verdict across variants (``stats.across``)."""
    import plotly.graph_objects as go

    data = result.to_dict()
    column, variants, models = data["column"], [str(v) for v in data["variants"]], data["models"]
    level = _pct(data.get("confidence", 0.95))
    fig = go.Figure()
    names = list(models)
    for i, model in enumerate(names):
        by = models[model]["by_variant"]
        shown = [v for v in variants if v in by]
        means = [by[v]["mean"] for v in shown]
        shift = dodge(len(names), i, 0.3)
        fig.add_trace(
            go.Scatter(
                x=[variants.index(v) + shift for v in shown],
                y=means,
                mode="lines+markers",
                name=str(model),
                line=dict(color=figure.colour(model), width=1.5, dash="dot"),
                marker=dict(size=9, color=figure.colour(model)),
                error_y=_bars(means, [by[v]["ci_low"] for v in shown], [by[v]["ci_high"] for v in shown]),
                customdata=[[v, by[v]["ci_low"], by[v]["ci_high"], by[v]["method"], by[v]["n"]] for v in shown],
                hovertemplate="<b>"
                + esc(model)
                + "</b> under %{customdata[0]}<br>mean %{y:.3f}<br>"
                + level
                + " CI [%{customdata[1]:.3f}, %{customdata[2]:.3f}]<br>%{customdata[3]}, n=%{customdata[4]}"
                "<extra></extra>",
            )
        )
    fig.update_layout(
        margin=dict(l=10, r=20, t=30, b=60),
        legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"),
        xaxis=dict(
            title=column,
            tickmode="array",
            tickvals=list(range(len(variants))),
            ticktext=variants,
            range=[-0.5, len(variants) - 0.5],
            zeroline=False,
        ),
        yaxis=dict(title=f"mean score with {level} interval", automargin=True),
    )
    spreads = [(m, models[m]["spread"]) for m in names if models[m].get("spread")]
    bars = go.Figure(
        go.Bar(
            x=[sp["sd"] for _, sp in spreads],
            y=[m for m, _ in spreads],
            orientation="h",
            marker=dict(color=[figure.colour(m) for m, _ in spreads]),
            error_x=_bars(
                [sp["sd"] for _, sp in spreads],
                [sp["sd_ci_low"] for _, sp in spreads],
                [sp["sd_ci_high"] for _, sp in spreads],
            ),
            customdata=[[sp["min"], sp["min_variant"], sp["max"], sp["max_variant"], sp["range"]] for _, sp in spreads],
            hovertemplate="<b>%{y}</b><br>sd over "
            + esc(column)
            + "s %{x:.4f}<br>lowest %{customdata[0]:.3f} (%{customdata[1]}), highest %{customdata[2]:.3f} "
            "(%{customdata[3]})<extra></extra>",
            showlegend=False,
        )
    )
    bars.update_layout(
        margin=dict(l=10, r=20, t=20, b=50),
        xaxis=dict(
            title=f"standard deviation of the mean over {esc(column)}s, with {level} interval", rangemode="tozero"
        ),
        yaxis=dict(categoryorder="array", categoryarray=[m for m, _ in spreads][::-1], automargin=True),
    )
    rows = []
    for pair in data["pairs"]:
        a = pair["across"]
        rows.append(
            f'<tr><td class="name">{esc(pair["a"])} − {esc(pair["b"])}</td><td class="name">{esc(a["verdict"])}</td>'
            f"<td>{a['a_better']}</td><td>{a['b_better']}</td><td>{a['neither']}</td>"
            f"<td>{_fmt(a['diff'], 4)}</td><td>{_interval(_num(a['ci_low']), _num(a['ci_high']), 4)}</td></tr>"
        )
    table = (
        f'<table class="data"><tr><th class="name">a − b</th><th class="name">verdict</th><th>{esc(column)}s a better</th>'
        f"<th>b better</th><th>neither</th><th>pooled diff</th><th>{level} CI</th></tr>" + "".join(rows) + "</table>"
    )
    caption = (
        f'<p class="caption"><b>Method.</b> Top: each model\'s mean under each {esc(column)} with its {level} '
        f"interval (points of different models sit slightly apart around their {esc(column)}). Middle: the standard "
        f"deviation of a model's means over the {len(variants)} {esc(column)}s, with its interval. Table: per pair, "
        f"how many {esc(column)}s show a significantly better ({esc(data.get('correction', 'holm'))}-adjusted within "
        "the pair), and the verdict: <b>robust</b> (the same significant sign under every one), <b>fragile</b> "
        "(significant under some, not others), <b>reversed</b> (significant both ways), <b>none</b> (under none); "
        f"the pooled difference's interval treats items and {esc(column)}s as random effects. Variance components "
        "are in <code>assay compare --across</code>.</p>"
    )
    return [figure(fig, 380), figure(bars, 110 + 34 * len(spreads)), table, caption]

"""The samples page: every item of the report's runs with each model's output, score, the scorer's detail and the
judges' verdicts, filtered and paged in the browser.

``write_report`` writes it beside the report (``report.html`` → ``report.samples.html``), not inside it, so that the
report stays light however many items the runs hold; the report links to it, and a click on a model's point in a
figure opens it filtered to that model's items (in that task, at that difficulty level, or where a second model
scored differently). Like the report it is one self-contained file: the data is a JSON block and plain JavaScript
filters it and shows a page of rows at a time, so 10,000 items × several models stay quick and nothing reaches the
network.

Filters live in the URL's hash, so a filtered list is a link, e.g.
``report.samples.html#model=large&task=arithmetic&status=fail&q=carry``. Keys: ``task``, ``model``, ``vs`` (a second
model: rows whose score differs from its score on the item), ``status`` (pass: score 1; fail: score 0; partial:
between; error: a request failed; unscored), ``min``/``max`` (score range), ``variant`` (prompt variant), ``level``
(difficulty), ``item`` (one item, opened), ``q`` (text in the item, prompt, output, target, scorer detail or
verdict) and ``page``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from assay.errors import DataError
from assay.report.page import CSS, ERROR_HOOK, Figure, Section, esc

PAGE_ROWS = 50
# Longer texts (a prompt with many shots, a runaway output, a judge's essay) are cut here so that the page of a
# large run stays a size a browser opens quickly; `assay export` has every text whole.
TEXT_LIMIT = 6000
HASH_KEYS = ("task", "model", "vs", "status", "min", "max", "variant", "level", "item", "q", "page")
STATUSES = ("pass", "fail", "partial", "error", "unscored")


def samples_path(report: str | Path) -> Path:
    """Where the samples page of a report goes: beside it, ``NAME.samples.html`` (so reports sharing a folder keep
    their own)."""
    report = Path(report)
    return report.with_name(f"{report.stem}.samples.html")


@dataclass
class SamplesData:
    """What the page shows, as the JSON it embeds (see ``to_dict``)."""

    models: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    verdicts: list[dict] = field(default_factory=list)
    scorers: dict[str, str | None] = field(default_factory=dict)  # task -> the scorer whose value is a row's score
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        # Short keys: a run of 10,000 items writes them tens of thousands of times.
        # items: t task index, id, y target, var variant, base base item, lvl difficulty.
        # rows (one per item and model): i item index, m model index, s score (mean of the scorer over the samples
        # that did not fail), e failed samples, x samples, v verdict indices.
        # samples: k sample index, p prompt (index into texts: one prompt is shared by every model that saw it),
        # o output, e error, sc [scorer, value, detail]..., f finish reason, ti/to tokens in/out, l latency.
        # verdicts: j judge, p protocol, o order, a model, b second model of a pair, v verdict, s score,
        # x explanation, bad invalid, r raw reply, e error.
        return {
            "models": self.models,
            "tasks": self.tasks,
            "scorers": self.scorers,
            "items": self.items,
            "rows": self.rows,
            "texts": self.texts,
            "verdicts": self.verdicts,
            "page_rows": PAGE_ROWS,
            "text_limit": TEXT_LIMIT,
        }


@dataclass
class SamplesResult:
    """The samples page written: where, and what it holds."""

    path: str
    n_items: int
    n_rows: int
    n_samples: int
    n_verdicts: int
    n_bytes: int
    seconds: float
    models: list[str]
    tasks: list[str]
    counts: list[dict]  # per task and model: rows, pass, fail, partial, error, unscored
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "items": self.n_items,
            "rows": self.n_rows,
            "samples": self.n_samples,
            "verdicts": self.n_verdicts,
            "bytes": self.n_bytes,
            "seconds": round(self.seconds, 3),
            "models": list(self.models),
            "tasks": list(self.tasks),
            "counts": list(self.counts),
            "notes": list(self.notes),
        }


# ---- reading the runs ----------------------------------------------------------------------------


def _num(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _cut(text) -> str | None:
    if text is None:
        return None
    text = str(text)
    if len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"\n… [{len(text) - TEXT_LIMIT} more characters; `assay export` has the whole text]"


def _prompt_text(prompt: str | None) -> str | None:
    """A stored prompt as a reader wants it: chat messages as ``[role]`` blocks, a plain prompt as it is."""
    if not prompt:
        return None
    if prompt.startswith("["):
        try:
            messages = json.loads(prompt)
        except ValueError:
            messages = None
        if isinstance(messages, list) and all(isinstance(m, dict) and "role" in m for m in messages):
            return "\n\n".join(
                f"[{m['role']}]\n"
                + (m.get("content") if isinstance(m.get("content"), str) else json.dumps(m.get("content")))
                for m in messages
            )
    return prompt


class _Builder:
    def __init__(self):
        self.data = SamplesData()
        self._models: dict[str, int] = {}
        self._tasks: dict[str, int] = {}
        self._items: dict[tuple[int, str], int] = {}
        self._rows: dict[tuple[int, int], dict] = {}
        self._texts: dict[str, int] = {}
        self._prompts: dict[str | None, int | None] = {}
        self._values: dict[int, list[float]] = {}  # id(row) -> scored values

    def model(self, name: str) -> int:
        if name not in self._models:
            self._models[name] = len(self.data.models)
            self.data.models.append(name)
        return self._models[name]

    def task(self, name: str, scorer: str | None) -> int:
        if name not in self._tasks:
            self._tasks[name] = len(self.data.tasks)
            self.data.tasks.append(name)
            self.data.scorers[name] = scorer
        return self._tasks[name]

    def item(self, task: int, item_id: str, target=None, meta: dict | None = None) -> int:
        key = (task, item_id)
        if key not in self._items:
            meta = meta or {}
            entry = {"t": task, "id": item_id}
            for short, value in (
                ("y", target),
                ("var", meta.get("variant")),
                ("base", meta.get("base_item")),
                ("lvl", meta.get("difficulty")),
            ):
                if value is not None:
                    entry[short] = _cut(value)
            self._items[key] = len(self.data.items)
            self.data.items.append(entry)
        return self._items[key]

    def row(self, item: int, model: int) -> dict:
        key = (item, model)
        if key not in self._rows:
            self._rows[key] = {"i": item, "m": model, "s": None, "e": 0, "x": [], "v": []}
            self._values[id(self._rows[key])] = []
        return self._rows[key]

    def prompt(self, stored: str | None) -> int | None:
        """The index of a stored prompt's text: each distinct prompt is rendered and kept once."""
        if stored not in self._prompts:
            text = _prompt_text(stored)
            if not text:
                self._prompts[stored] = None
            else:
                text = _cut(text)
                if text not in self._texts:
                    self._texts[text] = len(self.data.texts)
                    self.data.texts.append(text)
                self._prompts[stored] = self._texts[text]
        return self._prompts[stored]

    def score(self, row: dict, value) -> None:
        value = _num(value)
        if value is not None:
            self._values[id(row)].append(value)

    def find_row(self, task: int, item_id: str, model: str | None) -> dict | None:
        if model is None or model not in self._models or (task, item_id) not in self._items:
            return None
        return self._rows.get((self._items[(task, item_id)], self._models[model]))

    def finish(self) -> SamplesData:
        rows = sorted(self._rows.values(), key=lambda r: (r["i"], r["m"]))
        for row in rows:
            values = self._values[id(row)]
            row["s"] = sum(values) / len(values) if values else None
            if not row["e"]:
                del row["e"]
            if not row["v"]:
                del row["v"]
        self.data.rows = rows
        return self.data


def _primary(metric: str | None, configured: list, available: list[str]) -> str | None:
    if metric is not None and metric in available:
        return metric
    return next((s for s in list(configured or []) + available if s in available), None)


def _add_run(builder: _Builder, run: Path, metric: str | None) -> None:
    from assay.run.store import open_run, read_config

    config = read_config(run)
    with open_run(run) as store:
        items = store.items()
        records = store.sample_records()
        verdicts = store.verdicts(include_errors=True)
        available = store.scorers()
    primary = _primary(metric, config.get("scorers") or [], available)
    task = builder.task(str(config.get("task_name") or ""), primary)
    present = {r.model for r in records}
    for name in config.get("models") or []:  # the run's order of models, as the leaderboard's table lists them
        if isinstance(name, str) and name in present:
            builder.model(name)
    for record in records:
        item = items.get(record.item)
        row = builder.row(
            builder.item(task, record.item, item.target if item else None, item.meta if item else None),
            builder.model(record.model),
        )
        sample: dict = {"k": record.sample}
        prompt = builder.prompt(record.prompt)
        if prompt is not None:
            sample["p"] = prompt
        for short, value in (("o", record.output), ("e", record.error), ("f", record.finish_reason)):
            if value is not None:
                sample[short] = _cut(value)
        if record.scores:
            sample["sc"] = [[name, _num(value), _cut(detail)] for name, value, detail in record.scores]
        for short, value in (("ti", record.tokens_in), ("to", record.tokens_out), ("l", record.latency)):
            if value:
                sample[short] = round(value, 4) if isinstance(value, float) else value
        row["x"].append(sample)
        if record.error is not None:
            row["e"] += 1
        else:
            builder.score(row, next((v for name, v, _ in record.scores if name == primary), None))
    unmatched = 0
    for v in verdicts:
        targets = [r for r in (builder.find_row(task, v.item, v.model), builder.find_row(task, v.item, v.model_b)) if r]
        if not targets:
            unmatched += 1
            continue
        entry = {"j": v.judge, "p": v.protocol, "o": v.order, "a": v.model}
        for short, value in (
            ("b", v.model_b),
            ("v", v.verdict),
            ("s", _num(v.score)),
            ("x", _cut(v.explanation)),
            ("r", _cut(v.raw)),
            ("e", _cut(v.error)),
        ):
            if value is not None:
                entry[short] = value
        if v.invalid:
            entry["bad"] = 1
        index = len(builder.data.verdicts)
        builder.data.verdicts.append(entry)
        for row in targets:
            row["v"].append(index)
    if unmatched:
        builder.data.notes.append(f"{run}: {unmatched} verdict(s) on outputs the run does not hold are not shown")


def _add_scores(builder: _Builder, source, metric: str | None) -> None:
    """A score file (or DataFrame) has no prompts or outputs: its rows show the scores alone."""
    from assay.run.sources import load_scores, source_task

    frame = load_scores(source, metric=metric)
    task = builder.task(source_task(source) or "", metric)
    for model, item, value in zip(frame["model"], frame["item"], frame["score"]):
        row = builder.row(builder.item(task, str(item)), builder.model(str(model)))
        row["x"].append({"k": len(row["x"])})
        builder.score(row, value)


def collect_samples(sources, *, metric: str | None = None) -> SamplesData:
    """Every sample of the run directories (and score files) among ``sources``, with prompts, outputs, each scorer's
    value and detail and the judges' verdicts, one row per item and model."""
    builder = _Builder()
    for source in sources:
        if isinstance(source, (str, Path)) and Path(source).is_dir():
            _add_run(builder, Path(source), metric)
        else:
            _add_scores(builder, source, metric)
    return builder.finish()


def _counts(data: SamplesData) -> list[dict]:
    table: dict[tuple[int, int], dict] = {}
    for row in data.rows:
        key = (data.items[row["i"]]["t"], row["m"])
        entry = table.setdefault(
            key,
            {
                "task": data.tasks[key[0]],
                "model": data.models[key[1]],
                "rows": 0,
                **{s: 0 for s in STATUSES},
            },
        )
        entry["rows"] += 1
        score = row["s"]
        if row.get("e"):
            entry["error"] += 1
        if score is None:
            entry["unscored"] += 1
        elif score >= 1:
            entry["pass"] += 1
        elif score <= 0:
            entry["fail"] += 1
        else:
            entry["partial"] += 1
    return [table[k] for k in sorted(table)]


# ---- the page ------------------------------------------------------------------------------------

PAGE_CSS = """
main { max-width: none; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: end; padding: 12px 0; font-size: 13px;
               border-bottom: 1px solid var(--line); }
form.filters label { display: flex; flex-direction: column; color: var(--muted); gap: 2px; }
form.filters select, form.filters input { font: inherit; color: var(--ink); padding: 3px 6px; }
form.filters input[type=number] { width: 86px; }
form.filters input[type=search] { width: 260px; }
form.filters button, .pager button { font: inherit; padding: 3px 10px; cursor: pointer; }
.pager { display: flex; gap: 8px; align-items: center; padding: 10px 0; font-size: 13px; color: var(--muted); }
.pager .count { margin-right: auto; color: var(--ink); }
#notice { color: #8a5a00; font-size: 13px; }
table.samples { border-collapse: collapse; width: 100%; font-size: 13px; table-layout: fixed; }
table.samples th { text-align: left; color: var(--muted); font-weight: 600; padding: 5px 8px;
                   border-bottom: 1px solid var(--line); }
table.samples td { padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top;
                   overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
table.samples tr.row { cursor: pointer; }
table.samples tr.row:hover td { background: #eef3fb; }
table.samples tr.band td { background: #f7f8fa; }
table.samples td.score { font-variant-numeric: tabular-nums; font-weight: 600; }
.pass { color: #1e7a4f; } .fail { color: #b3261e; } .partial { color: #8a5a00; } .none { color: var(--muted); }
span.tag { display: inline-block; padding: 0 6px; margin-left: 6px; border-radius: 8px; background: #e6ebf3;
           color: var(--muted); font-size: 11.5px; }
span.tag.err { background: #fbe3e1; color: #b3261e; }
tr.detail > td { white-space: normal; background: #fbfcfe; padding: 10px 14px 14px; }
tr.detail h4 { margin: 10px 0 4px; font-size: 13px; }
tr.detail pre { margin: 0; padding: 8px 10px; background: #f3f5f8; border: 1px solid var(--line);
                white-space: pre-wrap; word-break: break-word; font-size: 12.5px; max-height: 360px; overflow: auto; }
tr.detail pre.error { background: #fdf0ef; color: #8c1d16; }
tr.detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; font-size: 12.5px; }
tr.detail dt { color: var(--muted); }
tr.detail dd { margin: 0; }
div.sample { border-left: 3px solid var(--line); padding-left: 10px; margin: 8px 0; }
table.verdicts { border-collapse: collapse; font-size: 12.5px; margin: 4px 0; }
table.verdicts td, table.verdicts th { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left;
                                       white-space: normal; vertical-align: top; }
tr.detail a, header.top a { color: var(--accent); }
"""

PAGE_JS = r"""
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('samples-data').textContent);
  var models = D.models, tasks = D.tasks, items = D.items, rows = D.rows, texts = D.texts, verdicts = D.verdicts;
  var KEYS = ['task', 'model', 'vs', 'status', 'min', 'max', 'variant', 'level', 'item', 'q', 'page'];
  var root = document.documentElement;
  var byItem = {};  // item index -> {model index: row index}, for "vs" and the other models of an item
  rows.forEach(function (r, n) { (byItem[r.i] = byItem[r.i] || {})[r.m] = n; });
  var haystacks = null;  // lower-cased searchable text of each row, built on the first search
  var opened = {};  // rows opened by a click
  var state = {};
  var lastHash = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) { if (child) parent.appendChild(child); return child; }
  function fmt(x) { return x === null || x === undefined ? '—' : (Math.round(x * 1000) / 1000).toString(); }
  function grade(s) { return s === null || s === undefined ? 'none' : s >= 1 ? 'pass' : s <= 0 ? 'fail' : 'partial'; }
  function distinct(key) {
    var seen = {}, out = [];
    items.forEach(function (it) { var v = it[key]; if (v !== undefined && !seen[v]) { seen[v] = 1; out.push(String(v)); } });
    return out.sort(function (a, b) { return a.localeCompare(b, undefined, {numeric: true}); });
  }

  function haystack(n) {
    if (!haystacks) {
      haystacks = rows.map(function (r) {
        var it = items[r.i], parts = [it.id, it.y || '', it.var || '', it.base || '', models[r.m]];
        r.x.forEach(function (s) {
          if (s.p !== undefined) parts.push(texts[s.p]);
          parts.push(s.o || '', s.e || '');
          (s.sc || []).forEach(function (c) { parts.push(c[2] || ''); });
        });
        (r.v || []).forEach(function (k) { var v = verdicts[k]; parts.push(v.v || '', v.x || '', v.r || '', v.j); });
        return parts.join('\n').toLowerCase();
      });
    }
    return haystacks[n];
  }

  function readHash() {
    var params = new URLSearchParams(location.hash.replace(/^#/, '')), out = {};
    KEYS.forEach(function (k) { var v = params.get(k); if (v !== null && v !== '') out[k] = v; });
    return out;
  }
  function hashOf(s) {
    var params = new URLSearchParams();
    KEYS.forEach(function (k) { if (s[k] !== undefined && s[k] !== '') params.set(k, s[k]); });
    return params.toString();
  }
  function writeHash() {
    var text = hashOf(state);
    lastHash = text;
    var url = location.href.split('#')[0] + (text ? '#' + text : '');
    try { history.replaceState(null, '', url); } catch (e) { location.replace(url); }
  }

  function matcher(s) {
    var notes = [];
    function index(list, key) {
      if (s[key] === undefined) return -1;
      var i = list.indexOf(s[key]);
      if (i < 0) notes.push('no ' + key + ' "' + s[key] + '" here; ' + key + 's: ' + list.join(', '));
      return i < 0 ? -2 : i;
    }
    var model = index(models, 'model'), vs = index(models, 'vs'), task = index(tasks, 'task');
    var lo = s.min !== undefined ? parseFloat(s.min) : null, hi = s.max !== undefined ? parseFloat(s.max) : null;
    if (lo !== null && isNaN(lo)) { notes.push('min "' + s.min + '" is not a number'); lo = null; }
    if (hi !== null && isNaN(hi)) { notes.push('max "' + s.max + '" is not a number'); hi = null; }
    if (s.status !== undefined && ['pass', 'fail', 'partial', 'error', 'unscored'].indexOf(s.status) < 0) {
      notes.push('status "' + s.status + '" is not one of pass, fail, partial, error, unscored');
    }
    var words = (s.q || '').toLowerCase().split(/\s+/).filter(Boolean);
    var test = function (r, n) {
      var it = items[r.i];
      if (model !== -1 && r.m !== model) return false;
      if (task !== -1 && it.t !== task) return false;
      if (s.item !== undefined && it.id !== s.item) return false;
      if (s.variant !== undefined && String(it.var) !== s.variant) return false;
      if (s.level !== undefined && String(it.lvl) !== s.level) return false;
      var score = r.s;
      switch (s.status) {
        case 'pass': if (score === null || score < 1) return false; break;
        case 'fail': if (score === null || score > 0) return false; break;
        case 'partial': if (score === null || score <= 0 || score >= 1) return false; break;
        case 'error': if (!r.e) return false; break;
        case 'unscored': if (score !== null) return false; break;
      }
      if (lo !== null && (score === null || score < lo)) return false;
      if (hi !== null && (score === null || score > hi)) return false;
      if (vs !== -1) {
        if (vs === r.m) return false;
        var other = byItem[r.i][vs];
        if (other === undefined) return false;
        var theirs = rows[other].s;
        if (theirs === score || (theirs !== null && score !== null && Math.abs(theirs - score) < 1e-12)) return false;
      }
      if (words.length) {
        var hay = haystack(n);
        for (var w = 0; w < words.length; w++) if (hay.indexOf(words[w]) < 0) return false;
      }
      return true;
    };
    return {test: test, notes: notes};
  }

  // ---- one row and its detail ----
  function sampleBlock(s, showPrompt) {
    var box = el('div', 'sample');
    var head = add(box, el('h4', null, 'Sample ' + s.k));
    (s.sc || []).forEach(function (c) {
      var tag = add(head, el('span', 'tag', c[0] + ' ' + fmt(c[1]) + (c[2] !== null && c[2] !== undefined ? ' · ' + c[2] : '')));
      tag.title = 'scorer ' + c[0] + ': value ' + fmt(c[1]) + (c[2] !== null ? '; detail: ' + c[2] : '');
    });
    var facts = [];
    if (s.f) facts.push('finish: ' + s.f);
    if (s.ti || s.to) facts.push('tokens ' + (s.ti || 0) + ' in, ' + (s.to || 0) + ' out');
    if (s.l) facts.push(s.l + ' s');
    if (facts.length) add(head, el('span', 'tag', facts.join(' · ')));
    if (showPrompt && s.p !== undefined) { add(box, el('h4', null, 'Prompt')); add(box, el('pre', null, texts[s.p])); }
    if (s.e !== undefined) { add(box, el('h4', null, 'Error')); add(box, el('pre', 'error', s.e)); }
    if (s.o !== undefined) { add(box, el('h4', null, 'Output')); add(box, el('pre', 'output', s.o)); }
    else if (s.e === undefined && s.p !== undefined) add(box, el('p', 'none', 'No text (a log-likelihood request: see its scores).'));
    return box;
  }

  function verdictTable(r) {
    var table = el('table', 'verdicts');
    var head = add(table, el('tr'));
    ['judge', 'protocol', 'order', 'outputs', 'verdict', 'score', 'explanation', 'raw reply'].forEach(function (h) { add(head, el('th', null, h)); });
    r.v.forEach(function (k) {
      var v = verdicts[k], tr = add(table, el('tr'));
      tr.className = 'verdict';
      add(tr, el('td', null, v.j));
      add(tr, el('td', null, v.p));
      add(tr, el('td', null, v.o));
      add(tr, el('td', null, v.b !== undefined ? v.a + ' vs ' + v.b : v.a));
      add(tr, el('td', v.bad ? 'fail' : null, v.e !== undefined ? 'error: ' + v.e : (v.v !== undefined ? v.v : '—') + (v.bad ? ' (invalid)' : '')));
      add(tr, el('td', null, fmt(v.s)));
      add(tr, el('td', null, v.x || ''));
      var cell = add(tr, el('td'));
      if (v.r !== undefined) {
        var details = add(cell, el('details'));
        add(details, el('summary', null, 'raw (' + v.r.length + ' chars)'));
        add(details, el('pre', 'raw', v.r));
      }
    });
    return table;
  }

  function detail(n) {
    var r = rows[n], it = items[r.i];
    var tr = el('tr', 'detail'), td = add(tr, el('td'));
    td.colSpan = 6;
    var dl = add(td, el('dl'));
    function fact(k, v) { if (v !== undefined && v !== null && v !== '') { add(dl, el('dt', null, k)); add(dl, el('dd', null, v)); } }
    fact('item', it.id);
    if (tasks.length > 1 || tasks[0]) fact('task', tasks[it.t]);
    fact('model', models[r.m]);
    fact('target', it.y);
    fact('variant', it.var);
    fact('base item', it.base);
    fact('difficulty', it.lvl);
    var scorer = D.scorers[tasks[it.t]];
    fact('score', fmt(r.s) + (scorer ? ' (' + scorer + ', mean over ' + (r.x.length - (r.e || 0)) + ' scored sample(s))' : ''));
    var others = byItem[r.i], links = [];
    Object.keys(others).forEach(function (m) {
      if (+m !== r.m) links.push([models[m], rows[others[m]].s]);
    });
    if (links.length) {
      var dd = el('dd');
      add(dl, el('dt', null, 'other models'));
      add(dl, dd);
      links.forEach(function (l, j) {
        if (j) dd.appendChild(document.createTextNode(', '));
        var a = add(dd, el('a', null, l[0] + ' ' + fmt(l[1])));
        a.href = '#' + hashOf({task: tasks[it.t] || undefined, item: it.id});
      });
    }
    var prompts = {};
    r.x.forEach(function (s) { if (s.p !== undefined) prompts[s.p] = 1; });
    var shared = Object.keys(prompts).length === 1;
    if (shared) { add(td, el('h4', null, 'Prompt')); add(td, el('pre', 'prompt', texts[+Object.keys(prompts)[0]])); }
    r.x.forEach(function (s) { if (s.o !== undefined || s.e !== undefined || s.sc || !shared) add(td, sampleBlock(s, !shared)); });
    if (r.v && r.v.length) { add(td, el('h4', null, 'Verdicts (' + r.v.length + ')')); add(td, verdictTable(r)); }
    return tr;
  }

  function rowElement(n) {
    var r = rows[n], it = items[r.i];
    var tr = el('tr', 'row' + (r.i % 2 ? ' band' : ''));
    tr.setAttribute('data-row', String(n));
    tr.setAttribute('data-model', models[r.m]);
    tr.setAttribute('data-task', tasks[it.t]);
    tr.setAttribute('data-item', it.id);
    var cell = add(tr, el('td', null, tasks[it.t] || '—'));
    cell = add(tr, el('td', null, it.id));
    if (it.var !== undefined) add(cell, el('span', 'tag', it.var));
    if (it.lvl !== undefined) cell.title = 'difficulty ' + it.lvl;
    add(tr, el('td', null, models[r.m]));
    var score = add(tr, el('td', 'score ' + grade(r.s), fmt(r.s)));
    if (r.x.length > 1) add(score, el('span', 'tag', r.x.length + ' samples'));
    if (r.e) add(score, el('span', 'tag err', r.e + ' failed'));
    var first = r.x[0] || {}, text = first.e !== undefined ? 'error: ' + first.e : first.o;
    if (text === undefined && first.sc) text = first.sc.map(function (c) { return c[0] + ' ' + fmt(c[1]); }).join(', ');
    add(tr, el('td', first.e !== undefined ? 'fail' : null, (text || '').replace(/\s+/g, ' ').slice(0, 200)));
    var judged = add(tr, el('td'));
    if (r.v && r.v.length) {
      var v = verdicts[r.v[0]];
      judged.textContent = v.j + ': ' + (v.v !== undefined ? v.v : v.e !== undefined ? 'error' : fmt(v.s)) + (r.v.length > 1 ? ' +' + (r.v.length - 1) : '');
    }
    return tr;
  }

  // ---- the list ----
  function render() {
    var started = performance.now();
    var found = matcher(state), shown = [];
    for (var n = 0; n < rows.length; n++) if (found.test(rows[n], n)) shown.push(n);
    var pages = Math.max(1, Math.ceil(shown.length / D.page_rows));
    var page = Math.min(Math.max(1, parseInt(state.page || '1', 10) || 1), pages);
    var first = (page - 1) * D.page_rows, slice = shown.slice(first, first + D.page_rows);
    var body = $('rows');
    body.textContent = '';
    slice.forEach(function (n) {
      var tr = body.appendChild(rowElement(n));
      tr.addEventListener('click', function () {
        if (opened[n]) { delete opened[n]; } else { opened[n] = 1; }
        render();
      });
      if (opened[n] || state.item !== undefined) body.appendChild(detail(n));
    });
    var count = shown.length ? 'Rows ' + (first + 1).toLocaleString() + '–' + (first + slice.length).toLocaleString() +
      ' of ' + shown.length.toLocaleString() : 'No rows match';
    count += ' (' + rows.length.toLocaleString() + ' in all: ' + items.length.toLocaleString() + ' items × ' + models.length + ' model' + (models.length === 1 ? '' : 's') + ')';
    document.querySelectorAll('.pager .count').forEach(function (e) { e.textContent = count; });
    document.querySelectorAll('.pager .where').forEach(function (e) { e.textContent = 'page ' + page + ' of ' + pages; });
    document.querySelectorAll('.pager button').forEach(function (b) {
      var go = b.getAttribute('data-go');
      b.disabled = (go === 'first' || go === 'prev') ? page <= 1 : page >= pages;
    });
    $('notice').textContent = found.notes.join('; ');
    root.setAttribute('data-rows-matched', String(shown.length));
    root.setAttribute('data-rows-shown', String(slice.length));
    root.setAttribute('data-page', String(page));
    root.setAttribute('data-pages', String(pages));
    root.setAttribute('data-render-ms', String(Math.round(performance.now() - started)));
    state.page = page > 1 ? String(page) : undefined;
  }

  // ---- filters ----
  var controls = {task: 'f-task', model: 'f-model', vs: 'f-vs', status: 'f-status', min: 'f-min', max: 'f-max',
                  variant: 'f-variant', level: 'f-level', q: 'f-q'};
  function fill(id, values, all) {
    var select = $(id);
    add(select, el('option', null, all)).value = '';
    values.forEach(function (v) { add(select, el('option', null, v)).value = v; });
  }
  function syncControls() {
    Object.keys(controls).forEach(function (k) {
      var c = $(controls[k]);
      var v = state[k] === undefined ? '' : state[k];
      if (c.tagName === 'SELECT' && v !== '' && !Array.prototype.some.call(c.options, function (o) { return o.value === v; })) {
        add(c, el('option', null, v)).value = v;  // a value the hash names but the data lacks: shown, and noted
      }
      c.value = v;
    });
    $('item-filter').style.display = state.item !== undefined ? '' : 'none';
    $('item-name').textContent = state.item || '';
  }
  function fromControls() {
    var next = {item: state.item};
    Object.keys(controls).forEach(function (k) { var v = $(controls[k]).value; if (v !== '') next[k] = v; });
    state = next;
    writeHash();
    render();
  }

  fill('f-task', tasks.filter(function (t) { return t; }), 'all tasks');
  fill('f-model', models, 'all models');
  fill('f-vs', models, '—');
  fill('f-status', ['pass', 'fail', 'partial', 'error', 'unscored'], 'any');
  var variants = distinct('var'), levels = distinct('lvl');
  fill('f-variant', variants, 'all variants');
  fill('f-level', levels, 'all levels');
  if (tasks.filter(function (t) { return t; }).length < 2) $('f-task').parentNode.style.display = 'none';
  if (!variants.length) $('f-variant').parentNode.style.display = 'none';
  if (!levels.length) $('f-level').parentNode.style.display = 'none';
  if (models.length < 2) $('f-vs').parentNode.style.display = 'none';
  ['f-task', 'f-model', 'f-vs', 'f-status', 'f-variant', 'f-level', 'f-min', 'f-max'].forEach(function (id) {
    $(id).addEventListener('change', fromControls);
  });
  var typing = null;
  $('f-q').addEventListener('input', function () { clearTimeout(typing); typing = setTimeout(fromControls, 250); });
  $('filters').addEventListener('submit', function (e) { e.preventDefault(); fromControls(); });
  $('clear').addEventListener('click', function () { state = {}; opened = {}; syncControls(); writeHash(); render(); });
  $('item-clear').addEventListener('click', function (e) { e.preventDefault(); delete state.item; syncControls(); writeHash(); render(); });
  document.querySelectorAll('.pager button').forEach(function (b) {
    b.addEventListener('click', function () {
      var page = parseInt(state.page || '1', 10), pages = parseInt(root.getAttribute('data-pages'), 10);
      var go = b.getAttribute('data-go');
      page = go === 'first' ? 1 : go === 'prev' ? page - 1 : go === 'next' ? page + 1 : pages;
      state.page = String(page);
      writeHash();
      render();
      window.scrollTo(0, 0);
    });
  });
  window.addEventListener('hashchange', function () {
    var text = location.hash.replace(/^#/, '');
    if (text === lastHash) return;
    state = readHash();
    opened = {};
    syncControls();
    render();
  });
  state = readHash();
  syncControls();
  render();
  root.setAttribute('data-samples-ready', '1');
  root.setAttribute('data-ready-ms', String(Math.round(performance.now())));  // since the page began to load
})();
"""


def _json_block(value) -> str:
    """JSON safe inside <script type="application/json">: "<" only occurs in strings, written \\u003c there."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _pager() -> str:
    return (
        '<div class="pager"><span class="count"></span>'
        '<button type="button" data-go="first">« first</button><button type="button" data-go="prev">‹ previous</button>'
        '<span class="where"></span>'
        '<button type="button" data-go="next">next ›</button><button type="button" data-go="last">last »</button></div>'
    )


def samples_page(data: SamplesData, *, title: str, subtitle: str = "") -> str:
    """The samples page as one HTML document (data, styles and script inlined)."""
    filters = (
        '<form class="filters" id="filters" autocomplete="off">'
        '<label>task<select id="f-task"></select></label>'
        '<label>model<select id="f-model"></select></label>'
        '<label title="rows whose score differs from this model\'s on the same item">differs from'
        '<select id="f-vs"></select></label>'
        '<label title="pass: score 1; fail: score 0; partial: between; error: a request failed">score'
        '<select id="f-status"></select></label>'
        '<label>score ≥<input type="number" id="f-min" step="any"></label>'
        '<label>score ≤<input type="number" id="f-max" step="any"></label>'
        '<label>variant<select id="f-variant"></select></label>'
        '<label>difficulty<select id="f-level"></select></label>'
        '<label>search<input type="search" id="f-q" placeholder="item, prompt, output, detail, verdict"></label>'
        '<button type="button" id="clear">clear filters</button>'
        '<span id="item-filter" style="display:none">item <b id="item-name"></b> '
        '<a href="#" id="item-clear">show all items</a></span>'
        "</form>"
    )
    table = (
        '<table class="samples"><colgroup><col style="width:10%"><col style="width:14%"><col style="width:12%">'
        '<col style="width:12%"><col style="width:36%"><col style="width:16%"></colgroup>'
        "<thead><tr><th>task</th><th>item</th><th>model</th><th>score</th><th>output (first sample)</th>"
        '<th>verdicts</th></tr></thead><tbody id="rows"></tbody></table>'
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<script>{ERROR_HOOK}</script>
<style>{CSS}{PAGE_CSS}</style>
</head>
<body>
<div id="assay-errors"></div>
<header class="top"><h1>{esc(title)}</h1><p>{subtitle}</p></header>
<main>
{filters}
<p id="notice"></p>
{_pager()}
{table}
{_pager()}
</main>
<script type="application/json" id="samples-data">{_json_block(data.to_dict())}</script>
<script>{PAGE_JS}</script>
</body>
</html>
"""


def write_samples(
    sources,
    out: str | Path,
    *,
    metric: str | None = None,
    title: str = "Samples",
    report_href: str | None = None,
) -> SamplesResult:
    """Write the samples page of ``sources`` (run directories or score files) to ``out``."""
    start = time.perf_counter()
    data = collect_samples(list(sources), metric=metric)
    if not data.rows:
        raise DataError("no samples to show: the sources hold no stored samples or scores")
    back = f' <a href="{esc(quote(report_href))}">Back to the report</a>.' if report_href else ""
    n_samples = sum(len(r["x"]) for r in data.rows)
    subtitle = (
        f"{len(data.items):,} items × {len(data.models)} model(s), {n_samples:,} samples, {len(data.verdicts):,} "
        f"verdicts. Click a row for its prompt, outputs, scorer detail and verdicts; filters are kept in the "
        f"address, so a filtered list is a link.{back}"
    )
    document = samples_page(data, title=title, subtitle=subtitle)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{out}: cannot write the samples page ({exc.strerror or exc})") from None
    return SamplesResult(
        path=str(out),
        n_items=len(data.items),
        n_rows=len(data.rows),
        n_samples=n_samples,
        n_verdicts=len(data.verdicts),
        n_bytes=len(document.encode()),
        seconds=time.perf_counter() - start,
        models=list(data.models),
        tasks=list(data.tasks),
        counts=_counts(data),
        notes=list(data.notes),
    )


# ---- links from the report -----------------------------------------------------------------------


def samples_query(**filters) -> str:
    """The hash of a filtered samples page, in the form the page reads (``URLSearchParams``)."""
    return urlencode({k: v for k, v in filters.items() if v not in (None, "")})


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "task"


def _strings(values) -> list[str] | None:
    return list(values) if isinstance(values, list) and values and all(isinstance(v, str) for v in values) else None


def _model_named(name: str, models: list[str]) -> str | None:
    """The model a trace is named after: its exact name, or the longest model name it starts with ("m coverage")."""
    if name in models:
        return name
    return next((m for m in sorted(models, key=len, reverse=True) if name.startswith(m + " ")), None)


def _pair_named(label: str, models: list[str]) -> tuple[str, str] | None:
    """The two models of a difference's label, "a − b (p adj …)"."""
    for a in sorted(models, key=len, reverse=True):
        if label.startswith(a + " − "):
            rest = label[len(a) + 3 :]
            b = _model_named(rest.split("  (")[0].strip(), models)
            if b is not None:
                return a, b
    return None


def _trace_links(trace: dict, models: list[str], base: dict, by_level: bool):
    """The samples query of each point of a trace (a list), of the whole trace (a string), or None."""
    ys, xs = _strings(trace.get("y")), _strings(trace.get("x"))
    if ys and all(y in models for y in ys):
        return [samples_query(**base, model=y) for y in ys]
    if ys:
        pairs = [_pair_named(y, models) for y in ys]
        if all(pairs):
            return [samples_query(**base, model=a, vs=b) for a, b in pairs]
    if xs and all(x in models for x in xs):
        return [samples_query(**base, model=x) for x in xs]
    model = _model_named(str(trace.get("name") or ""), models)
    if model is None:
        return None
    # Difficulty points sit a little off their level (dodged); the level's name is in customdata[4].
    custom = trace.get("customdata")
    levels = [row[4] for row in custom] if isinstance(custom, list) and all(len(r) > 4 for r in custom) else xs
    if by_level and levels:
        return [samples_query(**base, model=model, level=str(level)) for level in levels]
    return samples_query(**base, model=model)


def figure_links(sections: list[Section], models: list[str], tasks: list[str]) -> dict[str, dict[str, object]]:
    """For each figure with points that stand for a model: per trace, the samples query of its points.

    A point links when its label is a model (leaderboards), a difference "a − b" (the rows of a where b scored
    differently), or its trace is named after a model (difficulty: at that level; pass@k). A section of one task
    in a suite (its id ends with the task) filters to that task."""
    slugs = {_slug(t): t for t in tasks if t}
    links: dict[str, dict[str, object]] = {}
    for section in sections:
        task = next((t for slug, t in slugs.items() if section.id.endswith("-" + slug)), None)
        base = {"task": task} if task and len(slugs) > 1 else {}
        for block in section.blocks:
            if not isinstance(block, Figure):
                continue
            try:
                spec = json.loads(block.spec)
            except ValueError:
                continue
            traces = {}
            for n, trace in enumerate(spec.get("data") or []):
                found = _trace_links(trace, models, base, section.id.startswith("difficulty"))
                if found is not None:
                    traces[str(n)] = found
            if traces:
                links[block.div_id] = traces
    return links


# Wires every linked figure: a click on a point opens the samples page filtered to it.
LINK_JS = r"""
(function () {
  var links = JSON.parse(document.getElementById('samples-links').textContent);
  var href = JSON.parse(document.getElementById('samples-href').textContent);
  function wire() {
    Object.keys(links).forEach(function (id) {
      var div = document.getElementById(id);
      if (!div) return;
      Promise.resolve(div._assayDrawn).then(function () {
        div.on('plotly_click', function (event) {
          var point = event && event.points && event.points[0];
          if (!point) return;
          var target = links[id][String(point.curveNumber)];
          var query = typeof target === 'string' ? target : target && target[point.pointNumber];
          if (query) window.location.href = href + '#' + query;
        });
      });
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', wire); else wire();
})();
"""


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{max(1, round(n_bytes / 1e3))} kB"


def samples_link(result: SamplesResult) -> str:
    """A sentence for the report's header: where every sample can be read."""
    href = quote(Path(result.path).name)
    return f'Every sample, with prompts, outputs and verdicts: <a href="{esc(href)}">{esc(Path(result.path).name)}</a>.'


def samples_section(result: SamplesResult, sections: list[Section]) -> Section:
    """The report's link to its samples page: counts per task and model, each a filtered link; and the script that
    makes a click on a model's point in the report's figures open its items."""
    href = quote(Path(result.path).name)
    several = len([t for t in result.tasks if t]) > 1
    head = (
        '<table class="data"><tr>'
        + ('<th class="name">task</th>' if several else "")
        + '<th class="name">model</th><th>items</th><th>pass</th><th>fail</th><th>partial</th><th>error</th>'
        "<th>unscored</th></tr>"
    )

    def link(text, **filters) -> str:
        return f'<a href="{esc(href)}#{esc(samples_query(**filters))}">{esc(text)}</a>'

    body = []
    for c in result.counts:
        base = {"task": c["task"] if several else None, "model": c["model"]}
        cells = "".join(
            f"<td>{link(c[s], **base, status=s) if c[s] else 0}</td>"
            for s in ("pass", "fail", "partial", "error", "unscored")
        )
        body.append(
            "<tr>"
            + (f'<td class="name">{esc(c["task"])}</td>' if several else "")
            + f'<td class="name">{link(c["model"], **base)}</td><td>{c["rows"]:,}</td>{cells}</tr>'
        )
    links = figure_links(sections, result.models, result.tasks)
    caption = (
        '<p class="caption"><b>Method.</b> One row per item and model; its score is the scorer\'s mean over the '
        "item's samples that did not fail (pass: 1, fail: 0, partial: between; error: a request failed). "
        f'<a href="{esc(href)}">{esc(href)}</a>, beside this file ({_size(result.n_bytes)}), shows every item with its '
        "prompt, each model's output and score, what the scorer said of it and the judges' verdicts with their raw "
        f"replies, filtered by task, model, score, variant, difficulty and text, {PAGE_ROWS} rows a page. "
        + ("Click a model's point in a figure above to open its items." if links else "")
        + "</p>"
        + (
            "<style>" + ", ".join(f"#{i} .nsewdrag" for i in links) + " { cursor: pointer !important; }</style>"
            if links
            else ""
        )
        + f'<script type="application/json" id="samples-links">{_json_block(links)}</script>'
        f'<script type="application/json" id="samples-href">{_json_block(href)}</script>'
        f"<script>{LINK_JS}</script>"
    )
    return Section(
        "samples",
        "Samples",
        f"{result.n_items:,} items × {len(result.models)} model(s): {result.n_samples:,} samples and "
        f"{result.n_verdicts:,} verdicts, each open to read on the samples page.",
        [head + "".join(body) + "</table>", caption],
        warnings=list(result.notes),
    )

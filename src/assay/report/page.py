"""The HTML page around the report's sections: one file, scripts and styles inlined.

plotly.js is written once, in the page head; each figure is a ``<div>`` with a
small script that draws it. A page-level error handler records any script
error in ``<html data-errors>`` and shows it in a red banner, so that neither a
reader nor the browser test can miss a plot that failed to draw.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee7; --accent: #2b5fad; --bg: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 "DejaVu Sans", "Liberation Sans", Helvetica, Arial, sans-serif; }
header.top { padding: 22px 32px 14px; border-bottom: 1px solid var(--line); }
header.top h1 { margin: 0 0 4px; font-size: 24px; }
header.top p { margin: 0; color: var(--muted); font-size: 13px; }
nav.toc { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 13px; }
nav.toc a { color: var(--accent); margin-right: 16px; text-decoration: none; }
main { padding: 0 32px 40px; max-width: 1240px; }
section.part { padding: 18px 0 10px; border-bottom: 1px solid var(--line); }
section.part h2 { margin: 0 0 6px; font-size: 19px; }
p.lede { margin: 0 0 8px; color: var(--muted); max-width: 980px; }
p.caption { margin: 4px 0 0; font-size: 12.5px; color: var(--muted); max-width: 1100px; }
p.caption b { color: var(--ink); font-weight: 600; }
ul.warnings { margin: 6px 0 0; padding-left: 18px; font-size: 12.5px; color: #8a5a00; }
div.figure { width: 100%; }
/* A table wider than the page scrolls inside itself; the page never does. */
table.data { border-collapse: collapse; font-size: 13px; margin: 8px 0 4px; display: block; max-width: 100%;
             overflow-x: auto; }
table.data th, table.data td { padding: 4px 10px; white-space: nowrap; border-bottom: 1px solid var(--line); text-align: right; }
table.data th { color: var(--muted); font-weight: 600; }
table.data td.name, table.data th.name { text-align: left; }
table.data td[title] { cursor: help; text-decoration: underline dotted #9aa3b2; }
span.group { display: inline-block; min-width: 22px; padding: 0 6px; border-radius: 9px; color: #fff; background: #5b6575;
             font-size: 12px; text-align: center; }
#assay-errors { display: none; background: #b3261e; color: #fff; padding: 8px 32px; font-size: 13px; }
footer { padding: 12px 32px; color: var(--muted); font-size: 12px; }
@media (max-width: 1100px) {
  header.top, nav.toc, main, footer, #assay-errors { padding-left: 16px; padding-right: 16px; }
}
"""

# Runs before anything else: record script errors so the page (and the browser test) can show them.
ERROR_HOOK = """
(function () {
  var errors = [];
  function note(message) {
    errors.push(String(message));
    document.documentElement.setAttribute('data-errors', String(errors.length));
    var box = document.getElementById('assay-errors');
    if (box) { box.style.display = 'block'; box.textContent = 'Script error: ' + errors.join(' | '); }
  }
  window.addEventListener('error', function (e) { note(e.message || e); });
  window.addEventListener('unhandledrejection', function (e) { note(e.reason); });
  document.documentElement.setAttribute('data-errors', '0');
})();
"""

# Runs last: once every figure has drawn, mark the page so a reader of the DOM knows it is complete.
DONE_HOOK = """
(function () {
  var plots = document.querySelectorAll('div.figure > div');
  var pending = [];
  plots.forEach(function (div) { if (div._assayDrawn) pending.push(div._assayDrawn); });
  Promise.all(pending).then(function () {
    // What sticks out past the window's right edge once everything is drawn (a table or
    // figure that would make the page scroll sideways), for a reader of the DOM to check.
    var limit = document.documentElement.clientWidth;
    var over = [];
    document.querySelectorAll('header, nav, section.part, section.part > *, div.figure > div, table.data')
      .forEach(function (el) {
        if (el.getBoundingClientRect().right > limit + 1) {
          over.push(el.id || (el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : '')));
        }
      });
    if (document.documentElement.scrollWidth > limit + 1) { over.push('page'); }
    document.documentElement.setAttribute('data-overflow', over.join(' '));
    document.documentElement.setAttribute('data-plots-drawn', String(pending.length));
  });
})();
"""


@dataclass
class Figure:
    """A plotly figure as the JSON plotly.js draws, with the height it asks for."""

    div_id: str
    spec: str  # JSON: {"data": [...], "layout": {...}}
    height: int


@dataclass
class Section:
    """One part of the report: a heading, a lede, figures, tables and captions (HTML)."""

    id: str
    title: str
    lede: str
    blocks: list = field(default_factory=list)  # Figure or str (trusted HTML made here)
    warnings: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        """Approximate rendered height in CSS pixels (for screenshots of this section alone)."""
        total = 90 + 22 * (len(self.lede) // 120 + 1)
        for block in self.blocks:
            if isinstance(block, Figure):
                total += block.height + 10
            else:
                rows = block.count("<tr")
                text = len(html_text(block))
                total += 30 * rows + 19 * (text // 150 + 1) + 12
        total += 22 * len(self.warnings)
        return total

    def html(self) -> str:
        parts = [f'<section class="part" id="{self.id}">', f"<h2>{esc(self.title)}</h2>"]
        if self.lede:
            parts.append(f'<p class="lede">{self.lede}</p>')
        for block in self.blocks:
            if isinstance(block, Figure):
                parts.append(
                    f'<div class="figure"><div id="{block.div_id}" style="height:{block.height}px"></div></div>'
                    f'<script type="application/json" id="{block.div_id}-spec">{_json_safe(block.spec)}</script>'
                    f"<script>assayDraw({_js_string(block.div_id)});</script>"
                )
            else:
                parts.append(block)
        if self.warnings:
            parts.append('<ul class="warnings">' + "".join(f"<li>{esc(w)}</li>" for w in self.warnings) + "</ul>")
        parts.append("</section>")
        return "\n".join(parts)


DRAW = """
function assayDraw(id) {
  var div = document.getElementById(id);
  var spec = JSON.parse(document.getElementById(id + '-spec').textContent);
  var config = {displaylogo: false, responsive: true, displayModeBar: false};
  div._assayDrawn = Plotly.newPlot(div, spec.data, spec.layout, config);
}
"""


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def html_text(fragment: str) -> str:
    return re.sub(r"<[^>]+>", "", fragment)


def _script_safe(text: str) -> str:
    """JavaScript source safe inside <script>: only "</script" and "<!--" could end or confuse it.

    "<\\/script" and "<\\!--" mean the same in JavaScript strings and regular expressions.
    """
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)
    return text.replace("<!--", "<\\!--")


def _json_safe(text: str) -> str:
    """JSON safe inside <script type="application/json">: "<" only occurs in strings, as \\u003c there."""
    return text.replace("<", "\\u003c")


def _js_string(text: str) -> str:
    import json

    return _json_safe(json.dumps(text))


def page(title: str, subtitle: str, sections: list[Section], *, plotly_js: str, footer: str = "") -> str:
    """The whole report as one HTML document."""
    toc = " ".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body = "\n".join(s.html() for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<script>{ERROR_HOOK}</script>
<style>{CSS}</style>
<script>{_script_safe(plotly_js)}</script>
<script>{DRAW}</script>
</head>
<body>
<div id="assay-errors"></div>
<header class="top"><h1>{esc(title)}</h1><p>{subtitle}</p></header>
{'<nav class="toc">' + toc + "</nav>" if len(sections) > 1 else ""}
<main>
{body}
</main>
<footer>{footer}</footer>
<script>{DONE_HOOK}</script>
</body>
</html>
"""

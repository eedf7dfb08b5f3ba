"""Open a report in headless Chromium: check that every plot drew and no script failed; take screenshots.

Uses the ``chromium`` binary only (Debian's package; ``scripts/ensure_chromium.sh``
installs it): ``--dump-dom`` gives the page after its scripts ran, and
``--enable-logging=stderr`` prints the browser console, so no Python browser
driver is needed. Each call uses a fresh profile directory and turns off
everything that would reach the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from assay.errors import ConfigError, DataError

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Marks of drawn data inside a plotly figure: markers, lines, fills, bars, heatmap images.
DRAWN = re.compile(r'class="(?:point|js-line|js-fill|bars|hm|heatmaplayer|textpoint)[" ]')


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary ($CHROMIUM first), or None."""
    explicit = os.environ.get("CHROMIUM")
    if explicit and Path(explicit).is_file():
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    binary = find_chromium()
    if binary is None:
        raise ConfigError("no chromium found; install it (scripts/ensure_chromium.sh) or set CHROMIUM=/path/to/chrome")
    with tempfile.TemporaryDirectory(prefix="assay-chromium-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env={**os.environ, "HOME": profile}
            )
        except subprocess.TimeoutExpired:
            raise DataError(f"chromium did not finish within {timeout:.0f} s: {' '.join(command)}") from None


@dataclass
class FigureCheck:
    """One figure container in the rendered DOM."""

    div_id: str
    svg_count: int
    drawn_marks: int

    @property
    def ok(self) -> bool:
        return self.svg_count > 0 and self.drawn_marks > 0


@dataclass
class BrowserCheck:
    """What the browser saw: figures drawn, script errors, console errors."""

    path: str
    figures: list[FigureCheck]
    plots_drawn: int | None
    page_errors: int | None
    console_errors: list[str] = field(default_factory=list)
    error_banner: str = ""
    # What reached past the window's right edge (the page's own check; "page": it scrolls sideways).
    overflow: list[str] = field(default_factory=list)
    width: int | None = None

    @property
    def ok(self) -> bool:
        return (
            bool(self.figures)
            and all(f.ok for f in self.figures)
            and self.plots_drawn == len(self.figures)
            and self.page_errors == 0
            and not self.console_errors
            and not self.error_banner
        )

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "ok": self.ok,
            "plots_drawn": self.plots_drawn,
            "page_errors": self.page_errors,
            "figures": [{"id": f.div_id, "svg": f.svg_count, "marks": f.drawn_marks, "ok": f.ok} for f in self.figures],
            "console_errors": list(self.console_errors),
            "error_banner": self.error_banner,
            "overflow": list(self.overflow),
            "width": self.width,
        }


def _console_errors(stderr: str) -> list[str]:
    errors = []
    for line in stderr.splitlines():
        if "CONSOLE" in line and re.search(r"Uncaught|Error|error", line.split("CONSOLE", 1)[1]):
            errors.append(line.strip())
        elif ":ERROR:CONSOLE" in line:
            errors.append(line.strip())
    return errors


def check_in_browser(
    path: str | Path, *, timeout: float = 120, budget_ms: int = 20000, width: int | None = None
) -> BrowserCheck:
    """Load the report in headless Chromium and report which figures drew, any script errors,
    and (at ``width`` CSS pixels, default Chromium's) what overflows the window sideways."""
    path = Path(path).resolve()
    if not path.is_file():
        raise DataError(f"{path}: no such report file")
    size = [] if width is None else [f"--window-size={width},900"]
    done = _run(
        ["--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}", *size, "--dump-dom", path.as_uri()],
        timeout,
    )
    dom = done.stdout
    if "<html" not in dom:
        raise DataError(f"chromium returned no page for {path} (exit {done.returncode}): {done.stderr[-800:]}")
    head = re.search(r"<html[^>]*>", dom).group(0)
    drawn = re.search(r'data-plots-drawn="(\d+)"', head)
    errors = re.search(r'data-errors="(\d+)"', head)
    figures = []
    chunks = dom.split('<div class="figure">')[1:]
    for chunk in chunks:
        chunk = chunk.split('<div class="figure">')[0]
        ident = re.match(r'\s*<div id="([^"]+)"', chunk)
        figures.append(
            FigureCheck(ident.group(1) if ident else "?", chunk.count('class="main-svg"'), len(DRAWN.findall(chunk)))
        )
    banner = re.search(r'<div id="assay-errors"[^>]*>([^<]*)</div>', dom)
    overflow = re.search(r'data-overflow="([^"]*)"', head)
    return BrowserCheck(
        path=str(path),
        figures=figures,
        plots_drawn=int(drawn.group(1)) if drawn else None,
        page_errors=int(errors.group(1)) if errors else None,
        console_errors=_console_errors(done.stderr),
        error_banner=banner.group(1).strip() if banner else "",
        overflow=overflow.group(1).split() if overflow else ["(not checked: the page did not finish drawing)"],
        width=width,
    )


@dataclass
class PageDump:
    """A page as the browser left it: its DOM after the scripts ran, and any script or console error."""

    url: str
    dom: str
    page_errors: int | None
    console_errors: list[str] = field(default_factory=list)

    def attribute(self, name: str) -> str | None:
        """An attribute the page's scripts set on ``<html>`` (e.g. ``data-rows-shown``)."""
        head = re.search(r"<html[^>]*>", self.dom)
        found = re.search(rf'\s{re.escape(name)}="([^"]*)"', head.group(0)) if head else None
        return found.group(1) if found else None


def dump_dom(path: str | Path, *, fragment: str = "", timeout: float = 120, budget_ms: int | None = 20000) -> PageDump:
    """Load a page (with ``#fragment``, e.g. the samples page's filters) in headless Chromium and return its DOM.

    ``budget_ms`` None: no virtual time, so the page's clock is the real one (for timings it measures itself); the
    DOM is then taken once the page has loaded."""
    path = Path(path).resolve()
    if not path.is_file():
        raise DataError(f"{path}: no such page")
    url = path.as_uri() + (f"#{fragment}" if fragment else "")
    budget = [] if budget_ms is None else [f"--virtual-time-budget={budget_ms}"]
    done = _run(["--enable-logging=stderr", "--v=0", *budget, "--dump-dom", url], timeout)
    if "<html" not in done.stdout:
        raise DataError(f"chromium returned no page for {url} (exit {done.returncode}): {done.stderr[-800:]}")
    dump = PageDump(url, done.stdout, None, _console_errors(done.stderr))
    errors = dump.attribute("data-errors")
    dump.page_errors = int(errors) if errors is not None else None
    return dump


def screenshot(
    path: str | Path,
    png: str | Path,
    *,
    width: int = 1280,
    height: int = 900,
    timeout: float = 120,
    budget_ms: int = 20000,
) -> Path:
    """Save a PNG of the page's first ``height`` pixels at ``width``."""
    path, png = Path(path).resolve(), Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    done = _run(
        [f"--virtual-time-budget={budget_ms}", f"--window-size={width},{height}", f"--screenshot={png}", path.as_uri()],
        timeout,
    )
    if not png.is_file():
        raise DataError(f"chromium wrote no screenshot of {path} (exit {done.returncode}): {done.stderr[-800:]}")
    return png

"""The samples page: every item with each model's prompt, output, score, scorer detail and verdicts, filtered by
the URL's hash; written beside the report and linked from its figures."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from assay.records import Item, Sample, Verdict
from assay.report.samples import TEXT_LIMIT, collect_samples, figure_links, samples_path, samples_query, write_samples
from assay.run.store import RunStore, scores_frame
from tests.report import data

NASTY = 'a </script><script>document.title="pwned"</script> <!-- & "quotes" \u2028 end'


def make_synthetic_run(out: Path, *, n_items: int = 200, models=("smollm2", "gemma3"), task: str = "gsm8k") -> Path:
    """A run written through the store: items in two prompt variants with difficulty levels, one sample per item
    and model, a failed request every 97th sample of the second model, and a judge's verdicts on the first items."""
    import random

    rng = random.Random(7)
    items = []
    for i in range(n_items):
        base = f"q{i // 2:05d}"
        variant = f"v{i % 2}"
        items.append(
            Item(
                f"{base}-{variant}",
                {"question": f"Natalia sold clips to {i} of her friends; how many in all? (item {i})"},
                str(i % 50),
                {"difficulty": f"level {i % 3}", "variant": variant, "base_item": base},
            )
        )
    with RunStore(out, use_cache=False) as store:
        store.put_items(items)
        for m, model in enumerate(models):
            for n, item in enumerate(items):
                prompt = [
                    {"role": "system", "content": "Answer with a number."},
                    {"role": "user", "content": item.input["question"]},
                ]
                if m == 1 and n % 97 == 0:
                    store.record(
                        f"{model}/{item.id}", model, item.id, 0, prompt, {}, Sample(None, error="HTTP 500"), {}
                    )
                    continue
                right = rng.random() < (0.7 if m == 0 else 0.5)
                answer = item.target if right else str(int(item.target) + 1)
                text = f"Let me think step by step about item {n}. The answer is {answer}."
                sample = Sample(text, tokens_in=30, tokens_out=20, latency=0.25, finish_reason="stop")
                store.record(
                    f"{model}/{item.id}", model, item.id, 0, prompt, {}, sample, {"numeric": (float(right), answer)}
                )
        for item in items[:20]:
            store.record_verdict(
                Verdict(
                    f"judge/{item.id}",
                    item.id,
                    models[0],
                    None,
                    "judge-x",
                    "single",
                    "original",
                    "8",
                    0.8,
                    "clear reasoning",
                    False,
                    f"Rating: [[8]] for {item.id}; the steps are right.",
                    "t1",
                )
            )
    (out / "config.json").write_text(json.dumps({"task_name": task, "scorers": ["numeric"], "models": list(models)}))
    return out


def _embedded(path: str | Path) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="samples-data">(.*?)</script>', text, re.S)
    assert block is not None
    return json.loads(block.group(1))


# ---- what the page holds -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arithmetic(tmp_path_factory):
    """A run made by the runner: three models, two samples per item, difficulty levels."""
    return data.make_run(tmp_path_factory.mktemp("samples") / "run", samples=2, n=4)


def test_rows_hold_every_sample_with_its_score_and_detail(arithmetic):
    found = collect_samples([arithmetic])
    scores = scores_frame(arithmetic)
    assert found.models == ["large", "medium", "small"] and found.tasks == ["arithmetic"]
    assert found.scorers == {"arithmetic": "numeric"}
    n_items = scores["item"].nunique()
    assert len(found.items) == n_items and len(found.rows) == n_items * 3
    # A row's score is the scorer's mean over the item's samples, as the leaderboard averages them.
    expected = scores.groupby(["model", "item"])["score"].mean()
    for row in found.rows:
        model, item = found.models[row["m"]], found.items[row["i"]]["id"]
        assert row["s"] == pytest.approx(expected[(model, item)])
        assert [s["k"] for s in row["x"]] == [0, 1]
        for sample in row["x"]:
            ((name, value, detail),) = sample["sc"]
            assert name == "numeric" and detail == sample["o"].strip()  # the number the scorer read
            assert value == float(detail == found.items[row["i"]]["y"])
            assert found.texts[sample["p"]].startswith("[user]\nWhat is ")
    # One prompt text per item, shared by the models and samples that saw it.
    assert len(found.texts) == n_items
    assert {it["lvl"] for it in found.items} == {"digits=1,ops=1", "digits=2,ops=1", "digits=3,ops=1"}


def test_verdicts_failed_requests_and_variants(tmp_path):
    run = make_synthetic_run(tmp_path / "run", n_items=40)
    with RunStore(run, use_cache=False) as store:
        store.record_verdict(
            Verdict(
                key="pair/1",
                item="q00001-v0",
                model="smollm2",
                model_b="gemma3",
                judge="judge-p",
                protocol="pairwise",
                order="swapped",
                verdict=None,
                score=None,
                explanation=None,
                invalid=True,
                raw="I cannot decide </script> between them",
                template_hash="t2",
            )
        )
    found = collect_samples([run])
    rows = {(found.models[r["m"]], found.items[r["i"]]["id"]): r for r in found.rows}
    first = rows[("smollm2", "q00000-v0")]
    (verdict,) = [found.verdicts[k] for k in first["v"]]
    assert verdict["j"] == "judge-x" and verdict["v"] == "8" and verdict["r"].startswith("Rating: [[8]]")
    # A pairwise verdict shows on both models' rows, invalid and with its raw reply.
    both = [rows[(m, "q00001-v0")] for m in ("smollm2", "gemma3")]
    for row in both:
        (pair,) = [found.verdicts[k] for k in row["v"] if found.verdicts[k]["j"] == "judge-p"]
        assert pair["bad"] == 1 and pair["b"] == "gemma3" and "</script>" in pair["r"]
    failed = rows[("gemma3", "q00000-v0")]
    assert failed["e"] == 1 and failed["s"] is None and failed["x"][0]["e"] == "HTTP 500"
    item = found.items[first["i"]]
    assert (item["var"], item["base"], item["lvl"]) == ("v0", "q00000", "level 0")


def test_long_and_hostile_texts_are_cut_and_escaped(tmp_path):
    run = make_synthetic_run(tmp_path / "run", n_items=4)
    with RunStore(run, use_cache=False) as store:
        prompt = [{"role": "user", "content": "x"}]
        store.record("long", "smollm2", "q00000-v0", 0, prompt, {}, Sample("y" * (TEXT_LIMIT + 500)), {})
        store.record("nasty", "smollm2", "q00000-v1", 0, prompt, {}, Sample(NASTY), {"numeric": (0.0, NASTY)})
    result = write_samples([run], tmp_path / "s.html")
    page = Path(result.path).read_text(encoding="utf-8")
    assert "</script><script>document.title" not in page and "<!--" not in page
    embedded = _embedded(result.path)
    assert embedded["models"] == ["smollm2", "gemma3"]  # the run's order
    outputs = {embedded["items"][r["i"]]["id"]: r["x"][0] for r in embedded["rows"] if r["m"] == 0}
    assert outputs["q00000-v1"]["o"] == NASTY and outputs["q00000-v1"]["sc"][0][2] == NASTY
    cut = outputs["q00000-v0"]["o"]
    assert cut.startswith("y" * TEXT_LIMIT) and "500 more characters" in cut and len(cut) < TEXT_LIMIT + 100


def test_a_score_file_shows_its_scores(tmp_path):
    scores = data.make_scores_csv(tmp_path / "scores.csv", n=10)
    found = collect_samples([scores])
    assert found.models == ["baseline-a", "baseline-b"] and len(found.rows) == 20
    assert all(r["s"] in (0.0, 1.0) and r["x"] == [{"k": 0}] for r in found.rows)


# ---- the report links to it ----------------------------------------------------------------------


def test_the_report_writes_the_samples_page_and_links_its_figures(arithmetic, tmp_path):
    from assay.report import write_report

    out = tmp_path / "r" / "report.html"
    result = write_report([arithmetic], out=out)
    assert result.samples is not None and Path(result.samples.path) == samples_path(out)
    assert samples_path(out).name == "report.samples.html" and samples_path(out).is_file()
    assert result.to_dict()["samples"]["rows"] == 36
    section = result.sections[-1]
    assert section.id == "samples"
    text = out.read_text(encoding="utf-8")
    assert 'href="report.samples.html#model=small&amp;status=fail"' in text
    links = json.loads(re.search(r'id="samples-links">(.*?)</script>', text).group(1))
    leaderboard = next(s for s in result.sections if s.id == "leaderboard").blocks[0]
    spec = json.loads(leaderboard.spec)
    # Every point of the leaderboard opens its model's items; a difference opens the rows where the two disagree.
    for n, trace in enumerate(spec["data"]):
        assert links[leaderboard.div_id][str(n)] == [f"model={m}" for m in trace["y"]]
    differences = next(s for s in result.sections if s.id == "differences").blocks[0]
    pairs = [q for qs in links[differences.div_id].values() for q in qs]
    assert sorted(pairs) == ["model=large&vs=medium", "model=large&vs=small", "model=medium&vs=small"]
    difficulty = next(s for s in result.sections if s.id == "difficulty").blocks[0]
    assert "model=large&level=digits%3D2%2Cops%3D1" in links[difficulty.div_id]["0"]

    plain = write_report([arithmetic], out=tmp_path / "plain" / "report.html", samples=False)
    assert plain.samples is None and not samples_path(tmp_path / "plain" / "report.html").exists()
    assert "samples" not in [s.id for s in plain.sections]


def test_cli_writes_the_samples_page_unless_told_not_to(tmp_path):
    import subprocess
    import sys

    run = make_synthetic_run(tmp_path / "run", n_items=20)
    for flag, expected in (("--samples", True), ("--no-samples", False)):
        out = tmp_path / flag.strip("-") / "r.html"
        proc = subprocess.run(
            [sys.executable, "-m", "assay.cli", "report", str(run), "-o", str(out), flag, "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        found = json.loads(proc.stdout)["samples"]
        assert (found is not None) == expected and samples_path(out).is_file() == expected
        if expected:
            assert found["path"] == str(samples_path(out)) and found["rows"] == 40 and found["verdicts"] == 20


def test_a_suite_links_each_tasks_figures_to_its_task(tmp_path):
    from assay.report import write_report

    runs = [make_synthetic_run(tmp_path / t, n_items=30, task=t) for t in ("gsm8k", "math")]
    result = write_report(runs, out=tmp_path / "report.html")
    assert result.samples.tasks == ["gsm8k", "math"] and result.samples.n_rows == 120
    per_task = [s for s in result.sections if s.id.startswith("leaderboard-")]
    links = figure_links(result.sections, result.samples.models, result.samples.tasks)
    for section, task in zip(per_task, ("gsm8k", "math")):
        figure = section.blocks[0]
        queries = [q for qs in links[figure.div_id].values() for q in qs]
        assert sorted(queries) == [f"task={task}&model=gemma3", f"task={task}&model=smollm2"]


# ---- usable at 10,000 items ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """10,000 items × 2 models and the samples page written from them, with the time it took."""
    tmp = tmp_path_factory.mktemp("large")
    run = make_synthetic_run(tmp / "run", n_items=10_000)
    start = time.perf_counter()
    result = write_samples([run], tmp / "samples.html", title="large")
    return run, result, time.perf_counter() - start


def test_ten_thousand_items_are_written_in_seconds(large):
    _, result, seconds = large
    assert result.n_items == 10_000 and result.n_rows == 20_000 and result.n_verdicts == 20
    print(f"samples page of 10,000 items × 2 models: {seconds:.2f} s, {result.n_bytes / 1e6:.1f} MB")
    assert seconds < 15  # about 1 s on one core; generous for a loaded machine
    assert result.n_bytes < 20e6


# ---- in a browser ---------------------------------------------------------------------------------


def _shown(dump) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="row[^"]*" data-row="\d+" data-model="([^"]*)" data-task="[^"]*" data-item="([^"]*)"',
                      dump.dom)  # fmt: skip


@pytest.mark.slow
def test_ten_thousand_items_page_and_filter_in_chromium(large, chromium):
    from assay.report.browser import dump_dom

    run, result, _ = large
    frame = scores_frame(run)
    start = time.perf_counter()
    first = dump_dom(result.path)
    seconds = time.perf_counter() - start
    print(f"first page of 20,000 rows in chromium: {seconds:.1f} s (load, parse, filter and draw)")
    assert first.page_errors == 0 and first.console_errors == []
    assert first.attribute("data-samples-ready") == "1"
    assert (first.attribute("data-rows-matched"), first.attribute("data-rows-shown")) == ("20000", "50")
    assert first.attribute("data-pages") == "400" and len(_shown(first)) == 50
    assert _shown(first)[:2] == [("smollm2", "q00000-v0"), ("gemma3", "q00000-v0")]
    # On the real clock: from the start of loading to the first page drawn (reading 20,000 rows' JSON included).
    timed = dump_dom(result.path, budget_ms=None)
    ready, render = int(timed.attribute("data-ready-ms")), int(timed.attribute("data-render-ms"))
    print(f"in the page: ready {ready} ms after the load began, first page drawn in {render} ms")
    assert ready < 10_000 and render < 2_000  # about 300 ms and 20 ms on one core

    # The hash filters: one model's failures, at one difficulty level, in one variant.
    failed = frame[(frame["model"] == "gemma3") & (frame["score"] == 0)]
    dump = dump_dom(result.path, fragment="model=gemma3&status=fail")
    assert dump.page_errors == 0 and dump.console_errors == []
    assert dump.attribute("data-rows-matched") == str(len(failed))
    assert {m for m, _ in _shown(dump)} == {"gemma3"} and len(_shown(dump)) == 50
    assert {i for _, i in _shown(dump)} <= set(failed["item"])

    level = dump_dom(result.path, fragment="model=smollm2&level=level+1&variant=v1&page=3")
    rows = _shown(level)
    expected = [f"q{i // 2:05d}-v1" for i in range(10_000) if i % 3 == 1 and i % 2 == 1]
    assert level.attribute("data-rows-matched") == str(len(expected)) and level.attribute("data-page") == "3"
    assert [i for _, i in rows] == expected[100:150]

    errors = dump_dom(result.path, fragment="status=error")
    assert errors.attribute("data-rows-matched") == str(len(range(0, 10_000, 97)))

    # Free text reaches the verdicts' raw replies; an item filter opens its rows with prompt, output and verdict.
    found = dump_dom(result.path, fragment=samples_query(q="rating: [[8]] for q00003-v1"))
    assert found.attribute("data-rows-matched") == "1" and _shown(found) == [("smollm2", "q00003-v1")]
    item = dump_dom(result.path, fragment="item=q00003-v1")
    assert item.page_errors == 0 and item.attribute("data-rows-matched") == "2"
    assert "Rating: [[8]] for q00003-v1; the steps are right." in item.dom
    assert "Natalia sold clips to 7 of her friends" in item.dom and "[system]" in item.dom

    # A filter naming what the data lacks says so rather than showing an empty list without a word.
    missing = dump_dom(result.path, fragment="model=nobody")
    assert missing.attribute("data-rows-matched") == "0" and 'no model "nobody"' in missing.dom


@pytest.mark.slow
def test_hostile_text_shows_as_text_in_chromium(tmp_path, chromium):
    from assay.report.browser import dump_dom

    run = make_synthetic_run(tmp_path / "run", n_items=4)
    with RunStore(run, use_cache=False) as store:
        store.record("nasty", "smollm2", "q00000-v1", 0, [{"role": "user", "content": NASTY}], {}, Sample(NASTY), {})
    result = write_samples([run], tmp_path / "s.html", title="hostile")
    dump = dump_dom(result.path, fragment="item=q00000-v1&model=smollm2")
    assert dump.page_errors == 0 and dump.console_errors == []
    assert "<title>hostile</title>" in dump.dom  # the output's script did not run
    assert "a &lt;/script&gt;&lt;script&gt;document.title" in dump.dom


@pytest.mark.slow
def test_a_click_on_a_leaderboard_point_opens_its_items(arithmetic, tmp_path, chromium):
    """Plotly's click event on the second point of the leaderboard takes the reader to that model's items."""
    from assay.report import write_report
    from assay.report.browser import check_in_browser, dump_dom

    out = tmp_path / "report.html"
    result = write_report([arithmetic], out=out)
    check = check_in_browser(out)
    assert check.ok, check.to_dict()
    board = next(s for s in result.sections if s.id == "leaderboard").blocks[0]
    trace = json.loads(board.spec)["data"][0]
    click = (
        "<script>(function poll() {"
        " if (!document.documentElement.getAttribute('data-plots-drawn')) return setTimeout(poll, 50);"
        f" setTimeout(function () {{ var div = document.getElementById('{board.div_id}');"
        " div.emit('plotly_click', {points: [{curveNumber: 0, pointNumber: 0, data: div.data[0]}]}); }, 50);"
        "})();</script></body>"
    )
    clicked = out.with_name("clicked.html")
    clicked.write_text(out.read_text(encoding="utf-8").replace("</body>", click), encoding="utf-8")
    dump = dump_dom(clicked)
    assert dump.attribute("data-samples-ready") == "1", "the click did not open the samples page"
    assert dump.page_errors == 0 and dump.console_errors == []
    assert {m for m, _ in _shown(dump)} == {trace["y"][0]} and dump.attribute("data-rows-matched") == "12"

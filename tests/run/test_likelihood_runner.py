"""Likelihood runs around a fake scorer of text: metrics, resume, cache, export,
and continuous metrics in compare (the real models are in tests/models/test_likelihood.py)."""

import json

import pandas as pd
import pytest

from assay.errors import ConfigError
from assay.records import Logprob, Sample
from assay.run.export import export_run
from assay.run.runner import run_eval
from assay.run.store import scores_frame
from assay.tasks.registry import get_task


class LengthScorer:
    """Log-probability = −(length of the continuation) × rate: short choices win."""

    def __init__(self, name="fake", rate=1.0, fail_on=None):
        self.name, self.chat, self.family = name, False, "fake"
        self.rate = rate
        self.fail_on = fail_on
        self.calls = 0

    @property
    def identity(self):
        return {"backend": "fake-scorer", "name": self.name, "rate": self.rate}

    async def generate(self, prompt, params, sample_index):
        raise AssertionError("a likelihood run must not generate")

    async def loglikelihood(self, context, continuations):
        self.calls += 1
        if self.fail_on and self.fail_on in context:
            return Sample(text=None, error="HTTP 500 from fake")
        return Sample(
            text=None,
            tokens_in=len(context),
            logprobs=[Logprob(-self.rate * len(c), len(c), i == 0) for i, c in enumerate(continuations)],
        )

    async def loglikelihood_rolling(self, text, stride=0):
        self.calls += 1
        return Sample(text=None, tokens_in=len(text), logprobs=[Logprob(-0.5 * len(text.split()), len(text.split()))])

    def close(self):
        pass


def test_choices_run_reports_every_metric_with_intervals(tmp_path):
    task = get_task("arc_easy", data="sample")
    model = LengthScorer()
    result = run_eval(task, [model], out=tmp_path / "r", progress=False)
    summary = result.models["fake"]
    assert result.metric == "acc" and summary.n_items == 4 and model.calls == 4
    assert set(summary.metrics) == {"acc", "acc_norm", "acc_bytes", "p_correct", "logprob_correct", "brier"}
    # The shortest choice wins (the first of equals): oxygen yes, soil (not rain) no, a scale no, the roots yes.
    expected = [1.0, 0.0, 0.0, 1.0]
    assert summary.score == pytest.approx(sum(expected) / 4)
    for name, entry in summary.metrics.items():
        assert entry["n"] == 4 and entry["method"] and entry["ci_low"] <= entry["value"] <= entry["ci_high"], name
    # Per character, −(n+1)/n favours the longest choice: salt water, soil, a thermometer, the flower: none right.
    assert summary.metrics["acc_norm"]["value"] == 0.0
    again = run_eval(task, [LengthScorer()], out=tmp_path / "r", progress=False)
    assert again.models["fake"].model_calls == 0 and again.models["fake"].cache_hits == 4
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["mode"] == "choices" and config["target_delimiter"] == " "


def test_partial_scoring_asks_once_per_context(tmp_path):
    task = get_task("winogrande", data="sample")
    model = LengthScorer()
    result = run_eval(task, [model], out=tmp_path / "r", progress=False)
    assert model.calls == 8  # two contexts per item
    assert result.models["fake"].n_items == 4


def test_export_choices_and_documents(tmp_path):
    task = get_task("piqa", data="sample")
    run_eval(task, [LengthScorer()], out=tmp_path / "r", progress=False)
    export_run(tmp_path / "r", tmp_path / "c.csv", what="choices")
    frame = pd.read_csv(tmp_path / "c.csv")
    assert list(frame.columns) == [
        "item",
        "model",
        "choice",
        "text",
        "logprob",
        "tokens",
        "chars",
        "bytes",
        "is_correct",
        "greedy",
    ]
    assert len(frame) == 8 and frame["is_correct"].sum() == 4
    assert (frame["logprob"] == -(frame["chars"] + 1)).all()  # the delimiter is scored too
    with pytest.raises(Exception, match="--mode perplexity"):
        export_run(tmp_path / "r", tmp_path / "d.csv", what="documents")

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two three\nfour five\nsix seven eight nine\n")
    result = run_eval(get_task(str(corpus), mode="perplexity"), [LengthScorer()], out=tmp_path / "p", progress=False)
    metrics = result.models["fake"].metrics
    # −Σ log p / Σ bytes / ln 2, by hand: log p = −0.5 per word, 9 words, 13+9+20 bytes.
    import math

    assert metrics["bits_per_byte"]["value"] == pytest.approx(4.5 / 42 / math.log(2))
    assert metrics["perplexity"]["value"] == pytest.approx(math.exp(0.5))
    assert result.metric == "bits_per_byte" and result.models["fake"].score == metrics["bits_per_byte"]["value"]
    export_run(tmp_path / "p", tmp_path / "d.csv", what="documents")
    assert len(pd.read_csv(tmp_path / "d.csv")) == 3


def test_a_failed_request_is_an_error_not_a_wrong_answer(tmp_path):
    task = get_task("piqa", data="sample")
    result = run_eval(task, [LengthScorer(fail_on="jar")], out=tmp_path / "r", progress=False)
    assert result.models["fake"].errors == 1 and result.models["fake"].n_items == 3
    fixed = run_eval(task, [LengthScorer()], out=tmp_path / "r", progress=False)
    assert fixed.models["fake"].model_calls == 1 and fixed.models["fake"].n_items == 4


def test_continuous_metrics_flow_into_scores(tmp_path):
    task = get_task("sciq", data="sample")
    run_eval(task, [LengthScorer("a", 1.0), LengthScorer("b", 0.5)], out=tmp_path / "r", progress=False)
    brier = scores_frame(tmp_path / "r", metric="brier")
    assert set(brier["model"]) == {"a", "b"} and brier["score"].between(0, 2).all()
    assert not set(brier["score"]) <= {0.0, 1.0}


def test_likelihood_options_are_checked(tmp_path):
    task = get_task("piqa", data="sample")
    with pytest.raises(ConfigError, match="--samples"):
        run_eval(task, [LengthScorer()], samples=2, out=tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="--stride"):
        run_eval(task, [LengthScorer()], stride=5, out=tmp_path / "r", progress=False)


def test_a_run_directory_is_a_scaling_table(tmp_path):
    import math

    from assay.scaling.table import load_table

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two three\nfour five\n")
    run_eval(
        get_task(str(corpus), mode="perplexity"),
        [LengthScorer("smollm2"), LengthScorer("other")],
        out=tmp_path / "p",
        progress=False,
    )
    table = load_table(tmp_path / "p").set_index("model")
    assert table.loc["smollm2", "params"] == 135e6 and math.isnan(table.loc["other", "params"])
    assert table.loc["smollm2", "bits_per_byte"] == pytest.approx(2.5 / 22 / math.log(2))
    assert table.loc["smollm2", "loss"] == pytest.approx(0.5)

    run_eval(get_task("piqa", data="sample"), [LengthScorer("a")], out=tmp_path / "c", progress=False)
    choices = load_table(tmp_path / "c").set_index("model")
    assert {"acc", "acc_norm", "brier", "p_correct"} <= set(choices.columns)
    assert choices.loc["a", "n_items"] == 4


def test_the_report_shows_likelihood_metrics(tmp_path):
    from assay.report.report import write_report

    run_eval(
        get_task("piqa", data="sample"), [LengthScorer("a"), LengthScorer("b", 0.5)], out=tmp_path / "c", progress=False
    )
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two three\nfour five\nsix\n")
    run_eval(get_task(str(corpus), mode="perplexity"), [LengthScorer("c")], out=tmp_path / "p", progress=False)
    result = write_report([tmp_path / "c", tmp_path / "p"], out=tmp_path / "report.html")
    section = next(s for s in result.sections if s.id == "likelihood")
    html = "".join(b for b in section.blocks if isinstance(b, str))
    assert "acc_norm" in html and "bits_per_byte" in html and str(tmp_path / "p") in html


def test_an_incomplete_run_names_its_first_failed_item(tmp_path):
    from assay.errors import IncompleteRunError
    from assay.run.runner import check_complete

    result = run_eval(
        get_task("piqa", data="sample"), [LengthScorer(fail_on="jar")], out=tmp_path / "r", progress=False
    )
    with pytest.raises(IncompleteRunError, match=r"piqa.jsonl line 3: HTTP 500 from fake"):
        check_complete(result)


def test_apply_chat_template_needs_a_model_with_one(tmp_path):
    task = get_task("piqa", data="sample", apply_chat_template=True)
    with pytest.raises(ConfigError, match="--apply-chat-template needs a model with its own chat template"):
        run_eval(task, [LengthScorer()], out=tmp_path / "r", progress=False)

"""Retries with backoff on 429/5xx, and requests that still fail are errors,
never wrong answers. The scripted server of tests/servers.py on 127.0.0.1
plays the misbehaving endpoint (its other faults: test_server_faults.py)."""

import pytest

from assay.errors import IncompleteRunError
from assay.models.registry import get_model
from assay.run.runner import check_complete, run_eval
from assay.tasks.arithmetic import arithmetic_task

from ..servers import fault_server


def test_429_and_5xx_are_retried_then_succeed(tmp_path):
    with fault_server([429, 503]) as server:
        model = get_model("openai:m", base_urls=[server.url], max_retries=3)
        result = run_eval(arithmetic_task({"n": "1"}), [model], concurrency=1, out=tmp_path / "r", progress=False)
    assert server.seen == [429, 503, "ok"]
    summary = result.models["openai:m"]
    assert summary.errors == 0 and summary.score == 1.0 and summary.model_calls == 1


def test_persistent_failure_is_an_error_not_a_wrong_score(tmp_path):
    with fault_server([500] * 6) as server:
        model = get_model("openai:m", base_urls=[server.url], max_retries=1)
        result = run_eval(arithmetic_task({"n": "3"}), [model], concurrency=1, out=tmp_path / "r", progress=False)
    summary = result.models["openai:m"]
    # 3 items x 2 attempts: the first item gets 500, 500 -> error; the next 500s likewise
    assert summary.errors == 3 and summary.n_items == 0 and summary.score is None
    with pytest.raises(IncompleteRunError, match="3 request"):
        check_complete(result)


def test_replies_without_an_answer_are_errors_not_wrong_answers(tmp_path):
    with fault_server(["no choices", "null content"]) as server:
        url = server.url
        model = get_model("openai:m", base_urls=[url], max_retries=0)
        task = arithmetic_task({"n": "2"})
        result = run_eval(task, [model], concurrency=1, out=tmp_path / "r", progress=False, use_cache=False)
        summary = result.models["openai:m"]
        assert (summary.errors, summary.n_items) == (2, 0)
        again = run_eval(
            task,
            [get_model("openai:m", base_urls=[url])],
            concurrency=1,
            out=tmp_path / "r",
            progress=False,
            use_cache=False,
        )
    assert again.models["openai:m"].model_calls == 2 and again.models["openai:m"].score == 1.0

"""The OpenAI-compatible backend against real servers on 127.0.0.1: llama.cpp's
server with the SmolLM2 file, and the instant stub server (for load balancing)."""

import json
import urllib.request

import pytest

from assay.models.registry import get_model
from assay.run.runner import run_eval
from assay.tasks.arithmetic import arithmetic_task

from ..servers import stub_server

pytestmark = pytest.mark.slow


@pytest.fixture
def llama_url(smollm2_server):
    return smollm2_server()


def test_chat_and_completion_endpoints_of_llama_server(llama_url, tmp_path):
    task = arithmetic_task({"digits": "1", "n": "3"})
    models = [
        get_model("openai:smollm2", base_urls=[llama_url]),
        get_model("openai-completion:smollm2", base_urls=[llama_url]),
    ]
    result = run_eval(task, models, max_tokens=12, out=tmp_path / "r", progress=False)
    for summary in result.models.values():
        assert summary.n_items == 3 and summary.errors == 0 and summary.model_calls == 3
        assert summary.tokens > 0
    again = run_eval(
        task, [get_model("openai:smollm2", base_urls=[llama_url])], max_tokens=12, out=tmp_path / "r", progress=False
    )
    assert again.models["openai:smollm2"].model_calls == 0


def test_requests_are_balanced_over_endpoints(tmp_path):
    with stub_server() as first, stub_server() as second:
        model = get_model("openai:stub", base_urls=[first + "/v1", second + "/v1"])
        task = arithmetic_task({"digits": "2", "n": "40"})
        result = run_eval(task, [model], concurrency=8, max_tokens=4, out=tmp_path / "r", progress=False)
        counts = [json.load(urllib.request.urlopen(url + "/stats"))["requests"] for url in (first, second)]
    assert sum(counts) == 40 and min(counts) >= 10
    assert result.models["openai:stub"].model_calls == 40


def test_one_model_serves_successive_event_loops():
    # Judge probes call asyncio.run once per probe with the same model.
    import asyncio

    from assay.models.base import GenParams

    with stub_server() as url:
        model = get_model("openai:stub", base_urls=[url + "/v1"])
        prompt = [{"role": "user", "content": "hi"}]
        texts = [asyncio.run(model.generate(prompt, GenParams(0.0, 8, 0), 0)).text for _ in range(3)]
    assert texts == ["42", "42", "42"]


def test_an_unreachable_replica_leaves_the_work_to_the_others(tmp_path):
    from assay.errors import IncompleteRunError
    from assay.run.runner import check_complete

    from ..servers import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    with stub_server() as live:
        model = get_model("openai:stub", base_urls=[dead, live + "/v1"], max_retries=0)
        task = arithmetic_task({"digits": "2", "n": "12"})
        result = run_eval(task, [model], concurrency=4, max_tokens=4, out=tmp_path / "r", progress=False)
        served = json.load(urllib.request.urlopen(live + "/stats"))["requests"]
    s = result.models["openai:stub"]
    assert (s.model_calls, s.not_run, s.errors, served) == (12, 0, 0, 12)
    check_complete(result)
    alone = get_model("openai:stub", base_urls=[dead, f"http://127.0.0.1:{free_port()}/v1"], max_retries=0)
    down = run_eval(task, [alone], max_tokens=4, out=tmp_path / "d", progress=False, use_cache=False)
    with pytest.raises(IncompleteRunError, match="cannot reach any of http://127.0.0.1"):
        check_complete(down)

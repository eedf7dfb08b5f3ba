"""Retries with backoff on 429/5xx, and requests that still fail are errors,
never wrong answers. A small scripted HTTP server on 127.0.0.1 plays the
misbehaving endpoint."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assay.errors import IncompleteRunError
from assay.models.registry import get_model
from assay.run.runner import check_complete, run_eval
from assay.tasks.arithmetic import arithmetic_task


def scripted_server(statuses):
    """Answer with the given statuses in turn (then 200 forever); 200 says the right answer,
    "no choices" and "null content" are 200 replies without an answer."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = statuses[len(seen)] if len(seen) < len(statuses) else 200
            seen.append(status)
            broken, status = (status, 200) if isinstance(status, str) else (None, status)
            question = body["messages"][0]["content"]
            answer = str(eval(question.split("What is ")[1].split("?")[0]))
            payload = (
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
                }
                if status == 200
                else {"error": {"message": f"status {status}"}}
            )
            if broken == "no choices":
                payload["choices"] = []
            elif broken == "null content":
                payload["choices"][0]["message"]["content"] = None
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1", seen


def test_429_and_5xx_are_retried_then_succeed(tmp_path):
    server, url, seen = scripted_server([429, 503])
    try:
        model = get_model("openai:m", base_urls=[url], max_retries=3)
        result = run_eval(arithmetic_task({"n": "1"}), [model], concurrency=1, out=tmp_path / "r", progress=False)
    finally:
        server.shutdown()
    assert seen == [429, 503, 200]
    summary = result.models["openai:m"]
    assert summary.errors == 0 and summary.score == 1.0 and summary.model_calls == 1


def test_persistent_failure_is_an_error_not_a_wrong_score(tmp_path):
    server, url, seen = scripted_server([500] * 6)
    try:
        model = get_model("openai:m", base_urls=[url], max_retries=1)
        result = run_eval(arithmetic_task({"n": "3"}), [model], concurrency=1, out=tmp_path / "r", progress=False)
    finally:
        server.shutdown()
    summary = result.models["openai:m"]
    # 3 items x 2 attempts: the first item gets 500, 500 -> error; the next 500s likewise
    assert summary.errors == 3 and summary.n_items == 0 and summary.score is None
    with pytest.raises(IncompleteRunError, match="3 request"):
        check_complete(result)


def test_replies_without_an_answer_are_errors_not_wrong_answers(tmp_path):
    server, url, seen = scripted_server(["no choices", "null content"])
    try:
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
    finally:
        server.shutdown()
    assert again.models["openai:m"].model_calls == 2 and again.models["openai:m"].score == 1.0

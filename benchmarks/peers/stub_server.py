"""An instant OpenAI-compatible server: answers "42" at once and counts requests.

A bare ASGI app (no framework, so the server is never the bottleneck) under
uvicorn. GET /stats returns {"requests": N, "by_path": {...}, "first": T0,
"last": T1}, with T0 and T1 the wall-clock times (``time.time()``) of the first
and last model request since start or reset (null before any); POST /reset
zeroes the counters. A benchmark takes a harness's start-up as T0 minus the
time it launched the harness.

    python benchmarks/peers/stub_server.py --port 8642
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

COUNTS: Counter = Counter()
TIMES: dict = {"first": None, "last": None}


def _count(path: str) -> None:
    now = time.time()
    if TIMES["first"] is None:
        TIMES["first"] = now
    TIMES["last"] = now
    COUNTS["requests"] += 1
    COUNTS[path] += 1


def _usage(prompt_chars: int) -> dict:
    prompt_tokens = max(1, prompt_chars // 4)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _send_json(send, payload: dict, status: int = 200) -> None:
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"].rstrip("/")
    body = await _read_body(receive)
    if path.endswith("/chat/completions"):
        _count(path)
        request = json.loads(body)
        await _send_json(
            send,
            {
                "id": f"chatcmpl-{COUNTS['requests']}",
                "object": "chat.completion",
                "created": 0,
                "model": request.get("model", "stub"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "42"}, "finish_reason": "stop"}],
                "usage": _usage(len(body)),
            },
        )
    elif path.endswith("/completions"):
        _count(path)
        request = json.loads(body)
        await _send_json(
            send,
            {
                "id": f"cmpl-{COUNTS['requests']}",
                "object": "text_completion",
                "created": 0,
                "model": request.get("model", "stub"),
                "choices": [{"index": 0, "text": "42", "finish_reason": "stop", "logprobs": None}],
                "usage": _usage(len(body)),
            },
        )
    elif path.endswith("/models"):
        await _send_json(send, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
    elif path == "/stats":
        await _send_json(
            send,
            {"requests": COUNTS["requests"], "by_path": {k: v for k, v in COUNTS.items() if k != "requests"}, **TIMES},
        )
    elif path == "/reset":
        COUNTS.clear()
        TIMES.update(first=None, last=None)
        await _send_json(send, {"ok": True})
    else:
        await _send_json(send, {"error": {"message": f"no route {path}"}}, status=404)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8642)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

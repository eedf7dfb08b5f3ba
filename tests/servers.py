"""Start and stop real local servers for tests: the llama.cpp OpenAI-compatible
server and the instant stub server of benchmarks/peers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"server at {url} did not come up in {timeout} s")


@contextlib.contextmanager
def serve(argv: list[str], ready_path: str):
    port = free_port()
    # The server's log goes to a file: a pipe nobody reads would fill and block it.
    log = Path(tempfile.mkstemp(prefix="assay-server-", suffix=".log")[1])
    with log.open("w") as sink:
        process = subprocess.Popen([*argv, "--port", str(port)], stdout=sink, stderr=sink)
    try:
        wait_for(f"http://127.0.0.1:{port}{ready_path}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.unlink(missing_ok=True)


def llama_server(model_path: Path):
    return serve(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--n_ctx",
            "2048",
        ],
        "/v1/models",
    )


def stub_server():
    return serve([sys.executable, str(REPO / "benchmarks" / "peers" / "stub_server.py")], "/v1/models")


# --------------------------------------------------------------------------- a server that misbehaves on cue

HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
    "<p>nginx</p><!-- {echo} --></body></html>"
)


def arithmetic_answer(prompt: str) -> str:
    """The right answer to the arithmetic task's "What is A+B?" (42 to anything else)."""
    import re

    found = re.search(r"What is ([0-9+\-* ()]+)\?", prompt)
    return str(eval(found.group(1))) if found else "42"  # digits and operators only


class FaultServer:
    """An OpenAI-compatible server on 127.0.0.1 that serves each request by a
    scripted plan, one entry per request in the order they arrive, then
    ``then`` for every later one. Entries:

    - ``"ok"``: the right answer (``answer(prompt)``); an int: that HTTP status
      with a JSON error body (``Retry-After: 0`` on 429);
    - ``"malformed json"``, ``"html 500"``, ``"html 200"`` (a proxy's page
      where JSON was due), ``"no choices"``, ``"null content"``,
      ``"number content"``, ``"list content"``, ``"object content"``,
      ``"text parts"`` (the answer as content parts), ``"empty"``;
    - ``"drop"``: the connection is closed without a reply;
    - ``("slow", seconds)``: the answer, that late; ``"hang"``: no answer until
      the server is closed (every wait is bounded by ``max_wait``).

    ``echo_credentials``: error replies quote the request's ``Authorization``
    header and ``echo_key``, as careless servers do. ``seen`` holds each
    request's entry, ``answered`` the number of answers sent in full, and
    ``authorization`` the headers received."""

    def __init__(self, plan=(), *, then="ok", answer=arithmetic_answer, echo_key=None, max_wait=30.0):
        import threading
        from http.server import ThreadingHTTPServer

        self.plan = list(plan)
        self.then = then
        self.answer = answer
        self.echo_key = echo_key
        self.max_wait = max_wait
        self.seen: list = []
        self.answered = 0
        self.authorization: list[str] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self) -> "FaultServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def count(self, entry) -> int:
        with self.lock:
            return sum(1 for e in self.seen if e == entry)

    def _next(self, authorization: str):
        with self.lock:
            entry = self.plan[len(self.seen)] if len(self.seen) < len(self.plan) else self.then
            self.seen.append(entry)
            self.authorization.append(authorization)
            return entry

    def _handler(self):
        import json
        from http.server import BaseHTTPRequestHandler

        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                authorization = self.headers.get("Authorization", "")
                entry = server._next(authorization)
                if entry == "drop":
                    self.close_connection = True
                    return
                if entry == "hang":
                    server.released.wait(server.max_wait)
                    return self._send(200, self._completion(body, "ok"))
                if isinstance(entry, tuple) and entry[0] == "slow":
                    if server.released.wait(min(entry[1], server.max_wait)):
                        return
                    entry = "ok"
                echo = f"Authorization: {authorization}; key {server.echo_key}" if server.echo_key else ""
                if isinstance(entry, int):
                    payload = {"error": {"message": f"status {entry}. {echo}".strip(), "type": "server_error"}}
                    return self._send(entry, json.dumps(payload).encode())
                if entry in ("html 500", "html 200"):
                    title = "500 Internal Server Error" if entry == "html 500" else "Sign in to continue"
                    page = HTML_PAGE.format(title=title, echo=echo).encode()
                    return self._send(500 if entry == "html 500" else 200, page, "text/html; charset=utf-8")
                if entry == "malformed json":
                    return self._send(200, b'{"id": "x", "object": "chat.completion", "choices": [{"index": 0,')
                self._send(200, self._completion(body, entry))

            def _completion(self, body, entry) -> bytes:
                chat = "messages" in body
                prompt = body["messages"][-1]["content"] if chat else body["prompt"]
                text = server.answer(prompt)
                content = {
                    "null content": None,
                    "number content": 42,
                    "list content": [4, 2],
                    "object content": {"answer": text},
                    "text parts": [{"type": "text", "text": text}],
                    "empty": "",
                }.get(entry, text)
                choice = (
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                    if chat
                    else {"index": 0, "finish_reason": "stop", "text": content, "logprobs": None}
                )
                payload = {
                    "id": "x",
                    "object": "chat.completion" if chat else "text_completion",
                    "created": 0,
                    "model": body.get("model", "m"),
                    "choices": [] if entry == "no choices" else [choice],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
                }
                return json.dumps(payload).encode()

            def _send(self, status, data, content_type="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:  # the client gave up (a timeout, a stopped run)
                    return
                with server.lock:
                    server.answered += status == 200

            def log_message(self, *args):
                pass

        return Handler


def fault_server(plan=(), **options) -> FaultServer:
    """A ``FaultServer`` (use it in a ``with`` block)."""
    return FaultServer(plan, **options)

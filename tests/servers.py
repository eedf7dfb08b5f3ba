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

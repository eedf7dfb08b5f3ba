"""Credentials stay out of everything assay writes or prints: a password
inside --base-url, the Authorization header and the API key that a careless
server quotes in its error messages. A run, a judge pass, every export and
the report are made against tests/servers.py's FaultServer (on 127.0.0.1,
echoing what it was sent), and every file and stream is searched for them."""

import base64
import json
import os
import subprocess
import sys

from assay.redact import MASK, redact, redact_url, register_secret, register_url

from ..servers import fault_server, free_port

ASSAY = [sys.executable, "-m", "assay.cli"]
KEY = "sk-test-FAKEKEY-0123456789abcdef"
PASSWORD = "s3cr3t-KEY"
BASIC = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
SECRETS = (KEY, PASSWORD, BASIC, KEY[len("sk-") :])


def with_password(url: str) -> str:
    return url.replace("http://", f"http://user:{PASSWORD}@")


def test_no_credential_reaches_the_store_config_exports_report_or_stderr(tmp_path):
    run_dir, cache = tmp_path / "r", tmp_path / "cache"
    env = {**os.environ, "OPENAI_API_KEY": KEY, "ASSAY_CACHE_DIR": str(cache)}
    streams = []

    def assay(*args, expect=0):
        proc = subprocess.run([*ASSAY, *map(str, args)], capture_output=True, text=True, timeout=120, env=env)
        streams.extend([proc.stdout, proc.stderr])
        assert proc.returncode == expect and "Traceback" not in proc.stderr, proc.stderr
        return proc

    run = ["run", "arithmetic", "--param", "n=6", "-m", "openai:m", "--concurrency", "1", "--max-retries", "0"]
    # Errors that quote the Basic credentials of the URL, then the Bearer key.
    with fault_server([500, "ok", 401], echo_key=KEY) as server:
        failed = assay(*run, "--base-url", with_password(server.url), "--out", run_dir, expect=2)
        shown = with_password(server.url).replace(f"user:{PASSWORD}", MASK)
    assert server.authorization[0] == f"Basic {BASIC}"  # the password was used, and echoed
    assert f"from {shown}: status 401. Authorization: Basic {MASK}; key {MASK}" in " ".join(failed.stderr.split())
    with fault_server([403], echo_key=KEY) as server:
        assay(*run, "--base-url", server.url, "--out", tmp_path / "bearer", expect=2)
    assert server.authorization[0] == f"Bearer {KEY}"
    # Nothing listening: the URL is named in the error line, without its password.
    dead = with_password(f"http://127.0.0.1:{free_port()}/v1")
    refused = assay(*run, "--base-url", dead, "--out", tmp_path / "dead", expect=2)
    assert f"cannot reach {redact_url(dead)}" in " ".join(refused.stderr.split())
    # A judge pass whose server quotes the key back (twice: the schema probe asks again without).
    with fault_server([401, 401], echo_key=KEY, answer=lambda prompt: "Rating: 7") as server:
        assay(
            "judge", run_dir, "--judge", "openai:j", "--protocol", "pointwise", "--base-url", with_password(server.url),
            "--max-retries", "0", "--limit", "2", "--no-cache", expect=2,
        )  # fmt: skip
    outputs = [tmp_path / name for name in ("samples.csv", "samples.jsonl", "verdicts.csv", "report.html")]
    assay("export", run_dir, "-o", outputs[0])
    assay("export", run_dir, "-o", outputs[1])
    assay("export", run_dir, "--what", "verdicts", "-o", outputs[2])
    assay("export", run_dir, "--format", "every-eval-ever", "-o", tmp_path / "eee")
    assay("report", run_dir, "-o", outputs[3])

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"assay.db", "config.json", "responses.db", *(p.name for p in outputs)} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} in {path}"
    for text in streams:
        for secret in SECRETS:
            assert secret not in text
    # Redacted, not dropped: the errors and the provenance still say where.
    for directory, url in ((run_dir, shown), (tmp_path / "dead", redact_url(dead))):
        config = json.loads((directory / "config.json").read_text())
        assert config["provenance"]["models"]["openai:m"]["base_urls"] == [url]
    assert MASK in outputs[0].read_text() and MASK in outputs[2].read_text()


def test_redact_masks_credentials_by_shape_and_by_value():
    register_secret("opaque-value-42")
    register_url("https://alice:pa55word-x@example.com/v1?api_key=QUERYKEY99&model=m")
    cases = {
        "GET https://alice:pa55word-x@example.com/v1 failed": f"GET https://{MASK}@example.com/v1 failed",
        "see http://TOKEN123456@host/x": f"see http://{MASK}@host/x",
        "Authorization: Bearer abc.def-123": f"Authorization: Bearer {MASK}",
        '{"authorization": "Basic Zm9vOmJhcg=="}': f'{{"authorization": "Basic {MASK}"}}',
        "header Bearer eyJhbGciOiJIUzI1NiJ9.x rejected": f"header Bearer {MASK} rejected",
        "Incorrect API key provided: sk-proj-AbC123xyz789. Find yours": f"Incorrect API key provided: {MASK}. Find yours",
        "api_key=abc123&x=1": f"api_key={MASK}&x=1",
        '"x-api-key": "k-1"': f'"x-api-key": "{MASK}"',
        "token hf_abcdefghijklmnop used": f"token {MASK} used",
        "the value opaque-value-42 leaked": f"the value {MASK} leaked",
        "the query key QUERYKEY99 leaked": f"the query key {MASK} leaked",
    }
    for text, expected in cases.items():
        assert redact(text) == expected, text
        assert redact(expected) == expected  # idempotent
    # Ordinary diagnostics keep their words.
    for text in (
        "Basic authentication failed",
        "max_tokens: 5 is too small",
        "Bearer token required",
        "HTTP 500 from http://127.0.0.1:8000/v1: status 500",
        "the prompt has 3000 tokens; n_ctx is 2048",
    ):
        assert redact(text) == text
    assert redact(None) is None
    assert redact_url("https://u:p@h:1/v1?key=abc&model=m") == f"https://{MASK}@h:1/v1?key={MASK}&model=m"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"

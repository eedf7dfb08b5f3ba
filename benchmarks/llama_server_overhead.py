"""Harness overhead against the local llama.cpp server.

``assay run`` and a bare loop of ``openai`` client calls send the same chat
requests (same messages, max_tokens, temperature and seed) to one
``python -m llama_cpp.server`` serving SmolLM2-135M-Instruct, at concurrency
1 and 4; runs are interleaved, each arm repeated (median of 3 by default).

Throughput is items per second over the request phase (first request sent to
last response received, as each harness measures it) and over the whole
process (launch to exit). Each assay run has a fresh --out and --no-cache, so
every item is a model call; the two arms' answers are compared.

    .venv/bin/python benchmarks/llama_server_overhead.py [--items 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_TOKENS = 16


def write_items(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(n):
            a, b = rng.randint(10, 99), rng.randint(10, 99)
            handle.write(
                json.dumps({"input": f"What is {a} + {b}? Answer with the number only.", "target": str(a + b)}) + "\n"
            )
    return path


def start_server(model: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = workdir / "llama_server.log"  # a file: a pipe nobody reads would block the server
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--n_ctx",
                "2048",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=sink,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"llama.cpp server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)


def run_arm(arm: str, concurrency: int, rep: int, items: Path, url: str, workdir: Path) -> dict:
    from assay.models.base import sample_seed

    tag = f"{arm}-c{concurrency}-r{rep}"
    out = workdir / tag
    if arm == "bare":
        argv = [
            sys.executable,
            str(HERE / "peers" / "bare_loop.py"),
            str(items),
            "--base-url",
            f"{url}/v1",
            "--model",
            "smollm2",
            "--concurrency",
            str(concurrency),
            "--max-tokens",
            str(MAX_TOKENS),
            "--seed",
            str(sample_seed(0, 0)),
            "--outputs",
            str(out.with_suffix(".outputs")),
        ]
    else:
        assay = Path(sys.executable).parent / "assay"
        argv = [
            *([str(assay)] if assay.is_file() else [sys.executable, "-m", "assay.cli"]),
            "run",
            str(items),
            "-m",
            "openai:smollm2",
            "--base-url",
            f"{url}/v1",
            "--concurrency",
            str(concurrency),
            "--max-tokens",
            str(MAX_TOKENS),
            "--out",
            str(out),
            "--json",
            "--no-cache",
        ]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{tag} failed ({done.returncode}): {done.stderr[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    n = sum(1 for line in items.read_text().splitlines() if line.strip())
    if arm == "bare":
        span = data["span"]
        texts = [json.loads(line) for line in out.with_suffix(".outputs").read_text().splitlines()]
        calls = data["total"]
    else:
        summary = data["models"]["openai:smollm2"]
        span, calls = summary["seconds"], summary["model_calls"]
        with sqlite3.connect(out / "assay.db") as conn:
            by_prompt = {
                json.loads(prompt)[0]["content"]: text
                for prompt, text in conn.execute("SELECT prompt, output FROM samples")
            }
        texts = [by_prompt.get(json.loads(line)["input"]) for line in items.read_text().splitlines()]
    if calls != n:
        raise RuntimeError(f"{tag}: {calls} model calls, expected {n}")
    record = {
        "arm": arm,
        "concurrency": concurrency,
        "rep": rep,
        "wall": wall,
        "span": span,
        "items_per_s": n / span,
        "items_per_s_process": n / wall,
        "texts": texts,
    }
    print(
        f"{tag:<12} {span:6.2f} s requests ({n / span:5.2f} items/s), {wall:6.2f} s process",
        file=sys.stderr,
        flush=True,
    )
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    from assay.models.registry import smollm2_path

    workdir = Path(tempfile.mkdtemp(prefix="assay-llama-overhead-"))
    items = write_items(workdir / "items.jsonl", args.items)
    levels = [int(c) for c in args.concurrency.split(",")]
    process, url = start_server(smollm2_path(), workdir)
    runs = []
    try:
        # One warm-up request per arm so neither pays for the server's first-call set-up.
        run_arm("bare", 1, -1, write_items(workdir / "warm.jsonl", 2, seed=1), url, workdir)
        for rep in range(args.repeats):
            for concurrency in levels:
                for arm in ("bare", "assay") if rep % 2 == 0 else ("assay", "bare"):
                    runs.append(run_arm(arm, concurrency, rep, items, url, workdir))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    rows = []
    for concurrency in levels:
        entry = {"concurrency": concurrency}
        for arm in ("bare", "assay"):
            mine = [r for r in runs if r["arm"] == arm and r["concurrency"] == concurrency]
            for key in ("items_per_s", "items_per_s_process"):
                values = [r[key] for r in mine]
                entry[f"{arm}_{key}"] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
        entry["ratio"] = entry["assay_items_per_s"]["median"] / entry["bare_items_per_s"]["median"]
        entry["ratio_process"] = (
            entry["assay_items_per_s_process"]["median"] / entry["bare_items_per_s_process"]["median"]
        )
        reference = next(r["texts"] for r in runs if r["arm"] == "bare" and r["concurrency"] == concurrency)
        same = [sum(a == b for a, b in zip(reference, r["texts"])) for r in runs if r["concurrency"] == concurrency]
        entry["same_answers"] = f"{min(same)}-{max(same)} of {args.items}"
        rows.append(entry)

    def cell(s: dict) -> str:
        return f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"

    print(
        "| concurrency | bare loop items/s | assay items/s | assay / bare | "
        "bare items/s, whole process | assay items/s, whole process | assay / bare, whole process | "
        "answers equal to the bare loop's |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for e in rows:
        print(
            f"| {e['concurrency']} | {cell(e['bare_items_per_s'])} | {cell(e['assay_items_per_s'])} | "
            f"{e['ratio']:.3f} | {cell(e['bare_items_per_s_process'])} | "
            f"{cell(e['assay_items_per_s_process'])} | {e['ratio_process']:.3f} | {e['same_answers']} |"
        )
    if args.json_out:
        for r in runs:
            r.pop("texts")
        args.json_out.write_text(
            json.dumps(
                {
                    "date": time.strftime("%Y-%m-%d"),
                    "items": args.items,
                    "max_tokens": MAX_TOKENS,
                    "rows": rows,
                    "runs": runs,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

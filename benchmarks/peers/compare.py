"""Harness speed against the peers, side by side, against an instant server.

Every arm sends the same chat requests (one per item, concurrency 8,
max_tokens 16) to the stub server of this directory, which answers "42" at
once and counts requests. The arms:

- ``bare``: a bare ``openai.AsyncOpenAI`` loop with a semaphore (bare_loop.py)
- ``assay``: ``assay run ITEMS.jsonl -m openai:stub ... --no-cache`` with a fresh --out
- ``inspect``: ``inspect eval inspect_task.py --model openai-api/local/stub``, defaults
- ``inspect-lean``: the same with ``--display none --no-log-samples --no-log-realtime``
- ``lm-eval``: ``lm_eval --model local-chat-completions --include_path`` with a YAML task

Runs are interleaved (every arm once per round, the order rotated each
round) and each run is checked, not just timed: the server counted exactly
one request per item, and the harness scored every item correct. Wall, CPU
and peak memory come from GNU ``time -v``; start-up is the time from launch to
the server's first request. Per-item cost and start-up are also fitted from
the 100- and 1,000-item runs (slope and intercept of the medians).

The peers are installed into their own venvs under benchmarks/.venvs/ (the
project's venv is left alone); GNU time is installed with apt-get if missing.

    .venv/bin/python benchmarks/peers/compare.py                 # everything
    .venv/bin/python benchmarks/peers/compare.py --arms bare,assay --sizes 100 --repeats 1 --no-install

``--assay-extras`` adds, for assay only: a 10,000-item run per round (per-item
cost and peak memory at scale) and a re-run of the 1,000-item run directory
(every response from the store, no model call).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENVS = REPO / "benchmarks" / ".venvs"
ARMS = ("bare", "assay", "inspect", "inspect-lean", "lm-eval")
# venv name, pip requirements, distribution whose version is reported
PEERS = {
    "inspect": ("inspect", ["inspect-ai>=0.3,<0.4", "openai"], "inspect_ai"),
    "lm-eval": ("lm-eval", ["lm-eval[api]>=0.4,<0.5"], "lm_eval"),
}
GNU_TIME = "/usr/bin/time"
CONCURRENCY = 8
MAX_TOKENS = 16
MODEL = "stub"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- set-up --------------------------------------------------------------------
def write_items(path: Path, n: int) -> Path:
    """n items with unique prompts, every answer "42"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(
                json.dumps(
                    {
                        "input": f"Question {i + 1} of {n}: what is six times seven? Reply with the number only.",
                        "target": "42",
                    }
                )
                + "\n"
            )
    return path


def ensure_gnu_time(install: bool) -> bool:
    if Path(GNU_TIME).is_file():
        return True
    if install and shutil.which("apt-get"):
        log("installing GNU time (apt-get install time)")
        subprocess.run(["apt-get", "update"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "time"], check=False, stdout=subprocess.DEVNULL)
    return Path(GNU_TIME).is_file()


def venv_bin(peer: str) -> Path:
    return VENVS / PEERS[peer][0] / "bin"


def ensure_peer(peer: str, install: bool) -> Path:
    """The peer's venv bin directory, created and filled with pip if needed."""
    name, requirements, _ = PEERS[peer]
    root = VENVS / name
    marker = root / ".installed"
    if marker.is_file() and marker.read_text() == json.dumps(requirements):
        return root / "bin"
    if not install:
        raise SystemExit(f"{peer}: not installed in {root}; run without --no-install")
    log(f"installing {' '.join(requirements)} into {root}")
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", str(root)], check=True)
    subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", *requirements], check=True)
    marker.write_text(json.dumps(requirements))
    return root / "bin"


def versions(arms: list[str]) -> dict[str, str]:
    found = {"python": platform.python_version()}
    probe = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"
    for dist in ("assay", "openai"):
        found[dist] = subprocess.run([sys.executable, "-c", probe, dist], capture_output=True, text=True).stdout.strip()
    for peer, (_, _, dist) in PEERS.items():
        if any(arm.startswith(peer) for arm in arms):
            found[dist] = subprocess.run(
                [str(venv_bin(peer) / "python"), "-c", probe, dist], capture_output=True, text=True
            ).stdout.strip()
    return found


# -- the stub server -------------------------------------------------------------
class StubServer:
    def __init__(self, workdir: Path):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # The log goes to a file: a pipe nobody reads would fill and block the server.
        self.log = workdir / "stub_server.log"
        with self.log.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, str(HERE / "stub_server.py"), "--port", str(self.port)], stdout=sink, stderr=sink
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/v1/models")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"stub server did not start: {self.log.read_text()[-2000:]}")
                time.sleep(0.1)

    def get(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self.get("/reset", method="POST")

    def stats(self) -> dict:
        return self.get("/stats")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- measuring one process ------------------------------------------------------
def parse_time_v(text: str) -> dict[str, float]:
    """Wall (s), user and system CPU (s) and peak RSS (MB) from GNU ``time -v``."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")
        fields[key] = value.strip()
    wall = 0.0
    for part in fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        wall = wall * 60 + float(part)
    return {
        "wall": wall,
        "user": float(fields["User time (seconds)"]),
        "sys": float(fields["System time (seconds)"]),
        "max_rss_mb": int(fields["Maximum resident set size (kbytes)"]) / 1024,
    }


def measure(
    argv: list[str], *, cwd: Path, env: dict[str, str], stdout: Path, stderr: Path, gnu_time: bool
) -> dict[str, float]:
    """Run argv to completion; return wall, CPU, peak RSS and the launch time."""
    time_file = stdout.with_suffix(".time")
    full = [GNU_TIME, "-v", "-o", str(time_file), *argv] if gnu_time else argv
    with stdout.open("w") as out, stderr.open("w") as err:
        launched = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(full, cwd=cwd, env=env, stdout=out, stderr=err)
        if gnu_time:
            code = process.wait()
            usage = None
        else:
            _, status, usage = os.wait4(process.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            process.returncode = code
        elapsed = time.perf_counter() - started
    if gnu_time:
        text = time_file.read_text()
        try:
            figures = parse_time_v(text)
        except KeyError:  # time could not run the command at all
            figures = {"wall": elapsed, "user": 0.0, "sys": 0.0, "max_rss_mb": 0.0}
    else:
        figures = {"wall": elapsed, "user": usage.ru_utime, "sys": usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}
    figures.update(exit_code=code, launched=launched)
    return figures


# -- the arms -------------------------------------------------------------------
def assay_command() -> list[str]:
    script = Path(sys.executable).parent / "assay"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "assay.cli"]


def lm_eval_task(workdir: Path, items: Path, n: int) -> tuple[Path, str]:
    """A YAML task reading the JSONL; returns (include path, task name)."""
    name = f"assay_peer_answer42_{n}"
    folder = workdir / "lm_eval_tasks" / str(n)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(f"""task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {json.dumps(str(items))}
test_split: test
output_type: generate_until
doc_to_text: "{{{{input}}}}"
doc_to_target: "{{{{target}}}}"
generation_kwargs:
  until: []
  max_gen_toks: {MAX_TOKENS}
  do_sample: false
  temperature: 0
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: true
metadata:
  version: 1.0
""")
    return folder, name


def arm_command(
    arm: str, items: Path, n: int, server: StubServer, out: Path, workdir: Path
) -> tuple[list[str], Path, dict[str, str]]:
    """(argv, cwd, env) for one run of an arm; ``out`` is the run's fresh output directory."""
    env = dict(os.environ)
    base_url = f"{server.url}/v1"
    if arm == "bare":
        return (
            [
                sys.executable,
                str(HERE / "bare_loop.py"),
                str(items),
                "--base-url",
                base_url,
                "--concurrency",
                str(CONCURRENCY),
                "--max-tokens",
                str(MAX_TOKENS),
            ],
            REPO,
            env,
        )
    if arm in ("assay", "assay-rerun"):
        return (
            [
                *assay_command(),
                "run",
                str(items),
                "-m",
                f"openai:{MODEL}",
                "--base-url",
                base_url,
                "--concurrency",
                str(CONCURRENCY),
                "--max-tokens",
                str(MAX_TOKENS),
                "--out",
                str(out),
                "--json",
                "--no-cache",
            ],
            REPO,
            env,
        )
    if arm in ("inspect", "inspect-lean"):
        env.update(LOCAL_BASE_URL=base_url, LOCAL_API_KEY="none")
        argv = [
            str(venv_bin("inspect") / "inspect"),
            "eval",
            "inspect_task.py",
            "-T",
            f"items={items}",
            "--model",
            f"openai-api/local/{MODEL}",
            "--max-connections",
            str(CONCURRENCY),
            "--max-tokens",
            str(MAX_TOKENS),
            "--log-dir",
            str(out),
        ]
        if arm == "inspect-lean":
            argv += ["--display", "none", "--no-log-samples", "--no-log-realtime"]
        # Inspect takes task files relative to the working directory.
        return argv, HERE, env
    if arm == "lm-eval":
        include, task = lm_eval_task(workdir, items, n)
        # The dataset is a local file: nothing to look up on the hub.
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        model_args = (
            f"model={MODEL},base_url={base_url}/chat/completions,num_concurrent={CONCURRENCY},"
            "max_retries=1,tokenized_requests=False"
        )
        return (
            [
                str(venv_bin("lm-eval") / "lm_eval"),
                "--model",
                "local-chat-completions",
                "--model_args",
                model_args,
                "--include_path",
                str(include),
                "--tasks",
                task,
                "--apply_chat_template",
                "--output_path",
                str(out),
            ],
            REPO,
            env,
        )
    raise ValueError(f"unknown arm {arm}")


def arm_outcome(arm: str, out: Path, stdout: str) -> dict:
    """What the harness itself reports: items scored correct, items total, model calls."""
    if arm == "bare":
        data = json.loads(stdout.strip().splitlines()[-1])
        return {"correct": data["correct"], "total": data["total"]}
    if arm in ("assay", "assay-rerun"):
        summary = json.loads(stdout)["models"][f"openai:{MODEL}"]
        return {
            "correct": round(summary["score"] * summary["n_items"]) if summary["score"] is not None else 0,
            "total": summary["n_items"],
            "model_calls": summary["model_calls"],
            "reused": summary["cache_hits"],
        }
    if arm in ("inspect", "inspect-lean"):
        logs = sorted(out.glob("*.eval")) + sorted(out.glob("*.json"))
        if len(logs) != 1:
            raise ValueError(f"expected one log in {out}, found {len(logs)}")
        # Read with Inspect itself (its .eval archive may use a compression zipfile lacks).
        dumped = subprocess.run(
            [str(venv_bin("inspect") / "inspect"), "log", "dump", "--header-only", str(logs[0])],
            capture_output=True,
            text=True,
        )
        if dumped.returncode != 0:
            raise ValueError(f"inspect log dump failed: {dumped.stderr[-500:]}")
        header = json.loads(dumped.stdout)
        if header.get("status") != "success":
            raise ValueError(f"inspect log status {header.get('status')}")
        results = header["results"]
        score = results["scores"][0]
        return {
            "correct": round(score["metrics"]["mean"]["value"] * score["scored_samples"]),
            "total": results["completed_samples"],
        }
    if arm == "lm-eval":
        files = sorted(out.rglob("results_*.json"))
        if len(files) != 1:
            raise ValueError(f"expected one results file in {out}, found {len(files)}")
        data = json.loads(files[0].read_text())
        ((task, result),) = data["results"].items()
        total = data["n-samples"][task]["effective"]
        return {"correct": round(result["exact_match,none"] * total), "total": total}
    raise ValueError(f"unknown arm {arm}")


def check(record: dict) -> list[str]:
    """Why a run does not count; empty when it does."""
    problems = []
    n = record["n"]
    expected_requests = 0 if record["arm"] == "assay-rerun" else n
    if record.get("exit_code") != 0:
        problems.append(f"exit code {record.get('exit_code')}")
    if record.get("requests") != expected_requests:
        problems.append(f"server counted {record.get('requests')} requests, expected {expected_requests}")
    if record.get("total") != n or record.get("correct") != n:
        problems.append(f"scored {record.get('correct')} of {record.get('total')} correct, expected {n} of {n}")
    if record["arm"] == "assay-rerun" and record.get("model_calls") != 0:
        problems.append(f"re-run made {record.get('model_calls')} model calls, expected 0")
    return problems


def run_once(arm: str, n: int, rep: int, items: Path, server: StubServer, workdir: Path, gnu_time: bool) -> dict:
    tag = f"{arm}-{n}-r{rep}"
    out = workdir / "out" / (f"assay-{n}-r{rep}" if arm == "assay-rerun" else tag)
    if arm != "assay-rerun":
        shutil.rmtree(out, ignore_errors=True)
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv, cwd, env = arm_command(arm, items, n, server, out, workdir)
    server.reset()
    figures = measure(argv, cwd=cwd, env=env, stdout=logs / f"{tag}.out", stderr=logs / f"{tag}.err", gnu_time=gnu_time)
    stats = server.stats()
    record = {
        "arm": arm,
        "n": n,
        "rep": rep,
        **figures,
        "cpu": figures["user"] + figures["sys"],
        "requests": stats["requests"],
        "startup": (stats["first"] - figures["launched"]) if stats.get("first") else None,
    }
    try:
        record.update(arm_outcome(arm, out, (logs / f"{tag}.out").read_text()))
    except Exception as exc:  # noqa: BLE001 - any failure to read the outcome fails the run's check
        record["outcome_error"] = f"{type(exc).__name__}: {exc}"
    record["problems"] = check(record)
    if record.get("outcome_error"):
        record["problems"].append(record["outcome_error"])
    record["ok"] = not record["problems"]
    status = "ok" if record["ok"] else "FAILED: " + "; ".join(record["problems"])
    start = f", first request at {record['startup']:.2f} s" if record["startup"] is not None else ""
    log(
        f"{tag:<24} {record['wall']:7.2f} s wall, {record['cpu']:6.2f} s CPU, "
        f"{record['max_rss_mb']:6.0f} MB{start}  {status}"
    )
    return record


# -- summary --------------------------------------------------------------------
def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(runs: list[dict]) -> dict:
    groups: dict[tuple[str, int], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["arm"], run["n"]), []).append(run)
    table = {}
    for (arm, n), group in sorted(groups.items()):
        good = [r for r in group if r["ok"]]
        entry = {"arm": arm, "n": n, "runs": len(group), "ok": len(good)}
        if good:
            for key in ("wall", "cpu", "max_rss_mb"):
                entry[key] = spread([r[key] for r in good])
            starts = [r["startup"] for r in good if r["startup"] is not None]
            entry["startup"] = spread(starts) if starts else None
        table[f"{arm}/{n}"] = entry
    fits = {}
    arms = sorted({arm for arm, _ in groups})
    for arm in arms:
        sizes = sorted(n for a, n in groups if a == arm and "wall" in table[f"{a}/{n}"])
        if len(sizes) >= 2:
            small, large = sizes[0], sizes[1]
            w_small = table[f"{arm}/{small}"]["wall"]["median"]
            w_large = table[f"{arm}/{large}"]["wall"]["median"]
            per_item = (w_large - w_small) / (large - small)
            fits[arm] = {
                "per_item_ms": per_item * 1000,
                "startup_s": w_small - small * per_item,
                "sizes": [small, large],
            }
            if len(sizes) >= 3:
                w_top = table[f"{arm}/{sizes[2]}"]["wall"]["median"]
                fits[arm]["per_item_ms_large"] = (w_top - w_large) / (sizes[2] - large) * 1000
                fits[arm]["sizes"].append(sizes[2])
    return {"table": table, "fits": fits}


def fmt(entry: dict | None, key: str, digits: int = 2) -> str:
    if not entry or not entry.get(key):
        return "—"
    s = entry[key]
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def markdown(summary: dict, size: int) -> str:
    lines = [
        f"| harness ({size:,} items) | wall s | CPU s | peak RSS MB | launch → first request s | "
        "per item ms (fit) | start-up s (fit) | checked runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, entry in summary["table"].items():
        if entry["n"] != size:
            continue
        fit = summary["fits"].get(entry["arm"], {})
        per_item = f"{fit['per_item_ms']:.2f}" if fit else "—"
        startup = f"{fit['startup_s']:.2f}" if fit else "—"
        lines.append(
            f"| {entry['arm']} | {fmt(entry, 'wall')} | {fmt(entry, 'cpu')} | "
            f"{fmt(entry, 'max_rss_mb', 0)} | {fmt(entry, 'startup')} | {per_item} | {startup} | "
            f"{entry['ok']}/{entry['runs']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from {', '.join(ARMS)}")
    parser.add_argument("--sizes", default="100,1000", help="item counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--assay-extras",
        action="store_true",
        help="also a 10,000-item assay run and a re-run of the 1,000-item run directory",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="default: a fresh temporary directory")
    parser.add_argument("--json-out", type=Path, default=None, help="write every run and the summary here")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get or pip install anything")
    args = parser.parse_args(argv)

    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = set(arms) - set(ARMS)
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(sorted(unknown))}; valid: {', '.join(ARMS)}")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    gnu_time = ensure_gnu_time(not args.no_install)
    if not gnu_time:
        log("GNU time not available: measuring with wait4 instead")
    for peer in PEERS:
        if any(arm.startswith(peer) for arm in arms):
            ensure_peer(peer, not args.no_install)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="assay-peers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    items = {n: write_items(workdir / f"items-{n}.jsonl", n) for n in sizes}
    big = 10_000
    if args.assay_extras:
        items.setdefault(big, write_items(workdir / f"items-{big}.jsonl", big))
    found = versions(arms)
    log(f"workdir {workdir}; versions {found}")

    server = StubServer(workdir)
    runs = []
    try:
        for rep in range(args.repeats):
            order = arms[rep % len(arms) :] + arms[: rep % len(arms)]
            for n in sizes:
                for arm in order:
                    runs.append(run_once(arm, n, rep, items[n], server, workdir, gnu_time))
                    if arm == "assay" and args.assay_extras and n == max(sizes):
                        runs.append(run_once("assay-rerun", n, rep, items[n], server, workdir, gnu_time))
            if args.assay_extras and "assay" in arms:
                runs.append(run_once("assay", big, rep, items[big], server, workdir, gnu_time))
    finally:
        server.stop()

    summary = summarise(runs)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "versions": found,
        "concurrency": CONCURRENCY,
        "max_tokens": MAX_TOKENS,
        "sizes": sizes,
        "repeats": args.repeats,
        "timer": "GNU time -v" if gnu_time else "wait4",
        "summary": summary,
        "runs": runs,
    }
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=1))
    for n in sorted({r["n"] for r in runs}):
        print(markdown(summary, n) + "\n")
    failed = [r for r in runs if not r["ok"]]
    if failed:
        log(f"{len(failed)} run(s) failed their checks; logs in {workdir / 'logs'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

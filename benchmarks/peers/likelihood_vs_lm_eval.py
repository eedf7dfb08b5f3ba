"""Multiple choice by log-likelihood: lm-evaluation-harness against assay, side by side.

Items: the first N GSM8K questions of ../shared/data as four-choice items (the
gold number and three others; ``make_items`` of benchmarks/likelihood_speed.py),
in the generic ``choices`` + ``answer`` shape, prompt ``Question: {{question}}
\\nAnswer:``, target delimiter ``" "``, no few-shot examples, in every arm. The arms,
interleaved round by round (the order rotated), each a fresh process timed
from launch to exit:

- ``lm-eval``: ``lm_eval --model local-completions`` (string prompts,
  ``tokenized_requests=False``, ``num_concurrent=4`` as assay's default
  ``--concurrency``, ``--log_samples``)
  with a YAML task reading the items, against a local server of the Gemma 3
  270M GGUF. lm-eval needs a tokenizer to find where each continuation starts.
  The one transformers builds offline from the GGUF
  (``AutoTokenizer.from_pretrained(DIR, gguf_file=...)``) is checked against
  llama.cpp's token ids on every context and context+continuation first; for
  Gemma 3 it does not match (it splits words llama.cpp keeps whole), so this arm
  uses lm-eval's ``remote`` tokenizer backend instead: the server's own
  tokenizer through vLLM's ``/tokenize`` routes, which echo_server.py serves.
  A short extra run (``--pitfall-items``) shows what lm-eval reports with the
  GGUF-built tokenizer.
- ``assay``: ``assay run ITEMS -m gemma3-270m --no-cache`` in-process.
- ``assay-server``: ``assay run ITEMS -m openai-completion:gemma --base-url ... --no-cache``,
  the same server as lm-eval.

The server (``--server``): ``echo`` (default) is echo_server.py of this directory,
which answers ``/v1/completions`` with ``echo=true, logprobs=1`` in
``llama_cpp.server``'s format but computes the prompt log-probabilities
without that server's per-position Python sort of the whole vocabulary;
``llama-cpp`` is ``python -m llama_cpp.server`` itself (with Gemma 3's 262,144-token
vocabulary, about a minute per request on this machine); it has no tokenizer
routes, so lm-eval then gets the GGUF-built tokenizer, wrong for Gemma 3.

Both servers answer one request at a time and evaluate with as many threads
as assay's embedded model (all cores).

Each run is checked: every arm scored every item. After the rounds the
per-choice log-probabilities of the first round are compared (lm-eval's
``--log_samples`` against ``assay export --what choices``).

Then SmolLM2 (a GGUF without a BOS token) behind the real ``llama_cpp.server``,
whose echoed prompt log-probabilities are shifted by one position for such
models: what lm-eval reports from it, against assay in-process on the same
items, and assay's answer when pointed at that server.

lm-eval, transformers, gguf and torch (CPU) go into their own venv
(``--lm-eval-venv``, default benchmarks/.venvs/lm-eval-likelihood), never the project's.

    .venv/bin/python benchmarks/peers/likelihood_vs_lm_eval.py --items 10 --rounds 3 --smollm2-items 10
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from likelihood_speed import make_items  # noqa: E402

DEFAULT_VENV = REPO / "benchmarks" / ".venvs" / "lm-eval-likelihood"
REQUIREMENTS = ["lm-eval[api]>=0.4,<0.5", "transformers>=4.45,<5", "gguf>=0.10", "torch", "sentencepiece", "protobuf"]
IMPORTS = ["lm_eval", "transformers", "gguf", "torch", "sentencepiece", "google.protobuf"]
ARMS = ("lm-eval", "assay", "assay-server")
TASK = "assay_gsm8k_choices"
THREADS = os.cpu_count() or 1  # what assay's embedded models use
CONCURRENCY = 4  # assay run's default --concurrency, given to lm-eval too
TEMPLATE = "Question: {{question}}\\nAnswer:"  # YAML double-quoted: \\n is a newline


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- set-up ----------------------------------------------------------------------
def ensure_venv(root: Path, install: bool) -> Path:
    """The venv's python, created or completed with pip where an import fails."""
    python = root / "bin" / "python"
    if not python.is_file():
        if not install:
            raise SystemExit(f"no venv at {root}; run without --no-install")
        log(f"creating {root}")
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(root)], check=True)
    missing = [
        req
        for req, module in zip(REQUIREMENTS, IMPORTS)
        if subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode
    ]
    if missing:
        if not install:
            raise SystemExit(f"{root} lacks {', '.join(missing)}; run without --no-install")
        log(f"installing {' '.join(missing)} into {root}")
        subprocess.run([str(python), "-m", "pip", "install", "-q", *missing], check=True)
    return python


def gguf_paths() -> dict[str, Path]:
    from assay.models.registry import get_model

    return {name: Path(get_model(name).path) for name in ("gemma3-270m", "smollm2")}


TOKENIZER_SCRIPT = """
import json, sys
from transformers import AutoTokenizer
gguf, out, texts_file, ids_file = sys.argv[1:5]
directory, _, name = gguf.rpartition("/")
tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
tokenizer.save_pretrained(out)
tokenizer = AutoTokenizer.from_pretrained(out)  # what lm-eval will load
texts = json.load(open(texts_file))
ids = [tokenizer(t, add_special_tokens=False).input_ids for t in texts]
json.dump({"ids": ids, "bos": tokenizer.bos_token, "class": type(tokenizer).__name__}, open(ids_file, "w"))
"""


def build_tokenizer(python: Path, gguf: Path, out: Path, texts: list[str]) -> dict:
    """A Hugging Face tokenizer built from the GGUF (no hub), saved to ``out``; and
    how many of ``texts`` it tokenizes exactly as llama.cpp does (without BOS,
    as lm-eval's API models encode)."""
    from llama_cpp import Llama

    work = out.parent
    (work / "texts.json").write_text(json.dumps(texts))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [str(python), "-c", TOKENIZER_SCRIPT, str(gguf), str(out), str(work / "texts.json"), str(work / "ids.json")],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        raise RuntimeError(f"could not build a tokenizer from {gguf}: {done.stderr[-2000:]}")
    theirs = json.loads((work / "ids.json").read_text())
    llama = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    ours = [llama.tokenize(t.encode(), add_bos=False, special=False) for t in texts]
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs["ids"])) if a != b]
    return {
        "class": theirs["class"],
        "texts": len(texts),
        "differ": len(differ),
        "example": {"text": texts[differ[0]][:40], "llama.cpp": ours[differ[0]][:8], "hf": theirs["ids"][differ[0]][:8]}
        if differ
        else None,
    }


def task_texts(items: Path) -> list[str]:
    """Every context and context+continuation the arms tokenize."""
    from assay.tasks.registry import get_task

    task = get_task(str(items))
    texts = []
    for item in task.items:
        prompt = task.choice_prompt(item)
        for context, continuation in zip(prompt.contexts, prompt.continuations):
            texts += [context, context + continuation]
    return sorted(set(texts))


def write_task(folder: Path, items: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{TASK}.yaml").write_text(f"""task: {TASK}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {json.dumps(str(items))}
test_split: test
output_type: multiple_choice
doc_to_text: "{TEMPLATE}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
""")
    return folder


# -- servers --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A model server on 127.0.0.1, up within ``timeout`` seconds or an error."""

    def __init__(self, kind: str, gguf: Path, workdir: Path, timeout: float = 180.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"server-{kind}-{gguf.stem}.log"
        if kind == "echo":
            argv = [sys.executable, str(HERE / "echo_server.py"), "--model", str(gguf)]
        else:
            argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
        # As many threads as assay's embedded model uses (llama_cpp.server's default is half the cores).
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", str(THREADS)]
        # The log goes to a file: a pipe nobody reads would fill and block the server.
        with self.log.open("w") as sink:
            self.process = subprocess.Popen(argv, stdout=sink, stderr=sink)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"server at {self.url} did not come up in {timeout:.0f} s") from None
                time.sleep(0.3)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


# -- arms ------------------------------------------------------------------------------
def assay_argv(items: Path, model: str, out: Path, base_url: str | None) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "assay.cli",
        "run",
        str(items),
        "-m",
        model,
        "--no-cache",
        "--out",
        str(out),
        "--json",
    ]
    return argv + (["--base-url", base_url] if base_url else [])


def lm_eval_argv(
    python: Path, base_url: str, tokenizer: Path | None, tasks: Path, out: Path, limit: int | None = None
) -> list[str]:
    """``tokenizer``: a saved Hugging Face tokenizer, or None for the server's own (``remote``)."""
    backend = f"tokenizer={tokenizer},tokenizer_backend=huggingface" if tokenizer else "tokenizer_backend=remote"
    model_args = (
        f"model=local,base_url={base_url}/v1/completions,{backend},tokenized_requests=False,"
        f"num_concurrent={CONCURRENCY},max_retries=1,timeout=3600"
    )
    argv = [
        str(python),
        "-m",
        "lm_eval",
        "--model",
        "local-completions",
        "--model_args",
        model_args,
        "--include_path",
        str(tasks),
        "--tasks",
        TASK,
        "--output_path",
        str(out),
        "--log_samples",
    ]
    return argv + (["--limit", str(limit)] if limit else [])


def run_arm(argv: list[str], out: Path, logs: Path, tag: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    stdout, stderr = logs / f"{tag}.out", logs / f"{tag}.err"
    with stdout.open("w") as out_file, stderr.open("w") as err_file:
        started = time.perf_counter()
        code = subprocess.run(argv, cwd=REPO, env=env, stdout=out_file, stderr=err_file).returncode
        wall = time.perf_counter() - started
    return {"wall": wall, "exit_code": code, "stdout": stdout, "stderr": stderr}


def lm_eval_outcome(out: Path) -> dict:
    files = sorted(out.rglob("results_*.json"))
    if len(files) != 1:
        raise ValueError(f"expected one results file in {out}, found {len(files)}")
    data = json.loads(files[0].read_text())
    result = data["results"][TASK]
    per_choice = {}
    for sample_file in out.rglob(f"samples_{TASK}_*.jsonl"):
        for line in sample_file.read_text().splitlines():
            sample = json.loads(line)
            per_choice[sample["doc_id"]] = [float(r[0]) for r in sample["filtered_resps"]]
    return {
        "acc": result["acc,none"],
        "acc_norm": result["acc_norm,none"],
        "total": data["n-samples"][TASK]["effective"],
        "logprobs": per_choice,
    }


def assay_outcome(stdout: Path, model: str, out: Path) -> dict:
    summary = json.loads(stdout.read_text())["models"][model]
    metrics = summary["metrics"]
    return {
        "acc": metrics["acc"]["value"],
        "acc_norm": metrics["acc_norm"]["value"],
        "total": summary["n_items"],
        "errors": summary.get("errors", 0),
    }


def assay_choices(run: Path, model: str, workdir: Path, items: Path) -> dict[int, list[float]]:
    """Per item (in file order, from 0), each choice's log-probability, from ``assay export``."""
    from assay.tasks.registry import get_task

    target = workdir / f"choices-{run.name}.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run(
        [sys.executable, "-m", "assay.cli", "export", str(run), "--what", "choices", "-o", str(target)],
        check=True,
        env=env,
        capture_output=True,
    )
    rows = [r for r in csv.DictReader(target.open()) if r["model"] == model]
    out: dict[int, list[float]] = {}
    for index, item in enumerate(item.id for item in get_task(str(items)).items):
        chosen = sorted((r for r in rows if r["item"] == item), key=lambda r: int(r["choice"]))
        out[index] = [float(r["logprob"]) for r in chosen]
    return out


def compare_choices(a: dict[int, list[float]], b: dict[int, list[float]], choices: list[list[str]]) -> dict:
    """Largest per-choice difference and the items where the pick differs (by
    log-probability, and by log-probability per character)."""

    def pick(values: list[float], lengths: list[int] | None = None) -> int:
        scored = [v / n for v, n in zip(values, lengths)] if lengths else values
        return max(range(len(scored)), key=lambda i: (scored[i], -i))

    common = sorted(set(a) & set(b))
    diffs = [abs(x - y) for i in common for x, y in zip(a[i], b[i])]
    acc_items = [i for i in common if pick(a[i]) != pick(b[i])]
    lengths = {i: [len(c) for c in choices[i]] for i in common}
    norm_items = [i for i in common if pick(a[i], lengths[i]) != pick(b[i], lengths[i])]
    return {
        "items": len(common),
        "max_abs_diff": max(diffs) if diffs else None,
        "median_abs_diff": statistics.median(diffs) if diffs else None,
        "acc_pick_differs": acc_items,
        "acc_norm_pick_differs": norm_items,
    }


# -- main ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--server",
        choices=("echo", "llama-cpp"),
        default="echo",
        help="what serves Gemma 3 to lm-eval and assay-server (see above)",
    )
    parser.add_argument(
        "--smollm2-items", type=int, default=None, help="items for the SmolLM2 part (default: --items; 0 skips it)"
    )
    parser.add_argument(
        "--pitfall-items",
        type=int,
        default=3,
        help="items for the lm-eval run with the GGUF-built tokenizer (0 skips it)",
    )
    parser.add_argument("--lm-eval-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a fresh temporary directory")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--no-install", action="store_true", help="do not pip install anything")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))

    python = ensure_venv(args.lm_eval_venv, not args.no_install)
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('lm_eval'), m.version('transformers'))"],
        capture_output=True,
        text=True,
    ).stdout.split()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="assay-lm-eval-"))
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    items = workdir / "items.jsonl"
    make_items(args.items, items)
    choices = [json.loads(line)["choices"] for line in items.read_text().splitlines()]
    tasks = write_task(workdir / "tasks", items)
    ggufs = gguf_paths()
    texts = task_texts(items)
    (workdir / "tok-gemma").mkdir(exist_ok=True)
    tokenizer_check = {
        "gemma3-270m": build_tokenizer(python, ggufs["gemma3-270m"], workdir / "tok-gemma" / "tok", texts)
    }
    log(f"workdir {workdir}; lm_eval {version}; tokenizer check {tokenizer_check}")

    runs: list[dict] = []
    per_choice: dict[str, dict] = {}
    server = Server(args.server, ggufs["gemma3-270m"], workdir)
    try:
        for round_index in range(args.rounds):
            order = list(ARMS[round_index % 3 :] + ARMS[: round_index % 3])
            for arm in order:
                tag = f"{arm}-r{round_index}"
                out = workdir / "out" / tag
                if arm == "lm-eval":
                    argv = lm_eval_argv(
                        python, server.url, None if args.server == "echo" else workdir / "tok-gemma" / "tok", tasks, out
                    )
                elif arm == "assay":
                    argv = assay_argv(items, "gemma3-270m", out, None)
                else:
                    argv = assay_argv(items, "openai-completion:gemma", out, server.url + "/v1")
                record = {"arm": arm, "round": round_index, **run_arm(argv, out, logs, tag)}
                try:
                    if arm == "lm-eval":
                        outcome = lm_eval_outcome(out)
                    else:
                        model = "gemma3-270m" if arm == "assay" else "openai-completion:gemma"
                        outcome = assay_outcome(record["stdout"], model, out)
                        if round_index == 0:
                            outcome["logprobs"] = assay_choices(out, model, workdir, items)
                    if round_index == 0:
                        per_choice[arm] = outcome.pop("logprobs")
                    outcome.pop("logprobs", None)
                    record.update(outcome)
                    record["ok"] = (
                        record["exit_code"] == 0 and record["total"] == args.items and not record.get("errors")
                    )
                except Exception as exc:  # noqa: BLE001 - a run whose outcome cannot be read does not count
                    record.update(ok=False, problem=f"{type(exc).__name__}: {exc}")
                record["stdout"], record["stderr"] = str(record["stdout"]), str(record["stderr"])
                runs.append(record)
                log(
                    f"{tag:<18} {record['wall']:8.1f} s  acc {record.get('acc')}  acc_norm {record.get('acc_norm')}"
                    f"  {'ok' if record['ok'] else 'FAILED ' + record.get('problem', str(record['exit_code']))}"
                )
        pitfall = None
        if args.pitfall_items:
            out = workdir / "out" / "lm-eval-gguf-tokenizer"
            record = run_arm(
                lm_eval_argv(python, server.url, workdir / "tok-gemma" / "tok", tasks, out, limit=args.pitfall_items),
                out,
                logs,
                "lm-eval-gguf-tokenizer",
            )
            pitfall = {"items": args.pitfall_items, "exit_code": record["exit_code"]}
            if record["exit_code"] == 0:
                outcome = lm_eval_outcome(out)
                pitfall.update(acc=outcome["acc"], acc_norm=outcome["acc_norm"], logprobs=outcome["logprobs"])
            log(f"lm-eval with the GGUF-built tokenizer: {pitfall}")
    finally:
        server.stop()

    agreement = {}
    if "lm-eval" in per_choice:
        for arm in ("assay-server", "assay"):
            if arm in per_choice:
                agreement[f"lm-eval vs {arm}"] = compare_choices(per_choice["lm-eval"], per_choice[arm], choices)
    ratios = {}
    for arm in ("assay", "assay-server"):
        per_round = []
        for r in range(args.rounds):
            mine = [x for x in runs if x["arm"] == arm and x["round"] == r and x["ok"]]
            theirs = [x for x in runs if x["arm"] == "lm-eval" and x["round"] == r and x["ok"]]
            if mine and theirs:
                per_round.append(theirs[0]["wall"] / mine[0]["wall"])
        ratios[f"lm-eval / {arm}"] = {
            "per_round": per_round,
            "median": statistics.median(per_round) if per_round else None,
        }
    walls = {arm: [x["wall"] for x in runs if x["arm"] == arm and x["ok"]] for arm in ARMS}

    smollm2 = None
    n_small = args.items if args.smollm2_items is None else args.smollm2_items
    if n_small:
        smollm2 = smollm2_part(python, ggufs["smollm2"], n_small, workdir, logs)

    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "lm_eval": version,
        "items": args.items,
        "rounds": args.rounds,
        "server": args.server,
        "tokenizer_check": tokenizer_check,
        "gguf_tokenizer_pitfall": pitfall,
        "runs": runs,
        "wall_median": {arm: statistics.median(w) if w else None for arm, w in walls.items()},
        "wall_ratios": ratios,
        "per_choice_agreement": agreement,
        "smollm2": smollm2,
    }
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1, default=str))
    return 0 if all(r["ok"] for r in runs) else 1


def smollm2_part(python: Path, gguf: Path, n: int, workdir: Path, logs: Path) -> dict:
    """lm-eval and assay against llama_cpp.server serving SmolLM2 (no BOS token),
    and assay in-process on the same items."""
    items = workdir / "items-smollm2.jsonl"
    make_items(n, items)
    tasks = write_task(workdir / "tasks-smollm2", items)
    (workdir / "tok-smollm2").mkdir(exist_ok=True)
    check = build_tokenizer(python, gguf, workdir / "tok-smollm2" / "tok", task_texts(items))
    found: dict = {"items": n, "tokenizer_check": check}
    server = Server("llama-cpp", gguf, workdir)
    try:
        out = workdir / "out" / "smollm2-lm-eval"
        record = run_arm(
            lm_eval_argv(python, server.url, workdir / "tok-smollm2" / "tok", tasks, out), out, logs, "smollm2-lm-eval"
        )
        found["lm-eval"] = {"wall": record["wall"], "exit_code": record["exit_code"]}
        if record["exit_code"] == 0:
            outcome = lm_eval_outcome(out)
            found["lm-eval"].update({k: outcome[k] for k in ("acc", "acc_norm", "total")})
            per_choice = outcome["logprobs"]
        out = workdir / "out" / "smollm2-assay-server"
        record = run_arm(
            assay_argv(items, "openai-completion:smollm2", out, server.url + "/v1"), out, logs, "smollm2-assay-server"
        )
        message = [line for line in record["stderr"].read_text().splitlines() if line.strip()]
        found["assay-server"] = {
            "wall": record["wall"],
            "exit_code": record["exit_code"],
            "message": message[-1] if message else "",
        }
    finally:
        server.stop()
    out = workdir / "out" / "smollm2-assay"
    record = run_arm(assay_argv(items, "smollm2", out, None), out, logs, "smollm2-assay")
    found["assay"] = {"wall": record["wall"], "exit_code": record["exit_code"]}
    if record["exit_code"] == 0:
        found["assay"].update(assay_outcome(record["stdout"], "smollm2", out))
        if "acc" in found["lm-eval"]:
            choices = [json.loads(line)["choices"] for line in items.read_text().splitlines()]
            found["lm-eval vs assay"] = compare_choices(
                per_choice, assay_choices(out, "smollm2", workdir, items), choices
            )
    log(f"smollm2: {json.dumps(found, default=str)}")
    return found


if __name__ == "__main__":
    sys.exit(main())

"""Likelihood scoring speed of the embedded models against llama.cpp's raw rate.

Items: the first N GSM8K questions of ../shared/data as four-choice items
(the gold number and three others), in the generic ``choices`` shape. The arms,
interleaved round by round (the order rotated), each on a freshly loaded model:

- ``assay``: ``run_eval`` in-process (no response cache, a fresh run
  directory), wall time of the whole run: tokenizing, evaluating, log-softmax
  of the scored rows, storing every result and its metrics.
- ``raw``: the physical limit: the very token sequences assay evaluates
  (context + choice, for every choice), each evaluated by one ``Llama.eval``
  call (logits at its last row only), nothing else. (Concatenating them into
  windows of the context size would not be the same computation: attention
  over 2,048 earlier tokens costs more than over a hundred; measured, that
  made the "limit" 1.4 times slower than assay itself on Gemma 3.)

Tokens per second = the tokens of all the sequences / wall time, in both arms.

    .venv/bin/python benchmarks/likelihood_speed.py --items 100 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GSM8K = REPO.parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def make_items(n: int, path: Path) -> None:
    rows = []
    for line in GSM8K.read_text().splitlines()[:n]:
        doc = json.loads(line)
        gold = int(doc["answer"].split("####")[-1].strip().replace(",", ""))
        choices = [str(gold), str(gold + 1), str(gold * 2 + 3), str(max(0, gold - 7))]
        if len(set(choices)) < 4:
            choices = [str(gold), str(gold + 1), str(gold + 2), str(gold + 3)]
        rows.append({"question": doc["question"], "choices": choices, "answer": 0})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def sequences(task, llama) -> list[list[int]]:
    out = []
    for item in task.items:
        prompt = task.choice_prompt(item)
        for context, continuation in zip(prompt.contexts, prompt.continuations):
            out.append(llama.tokenize((context + continuation).encode(), add_bos=True, special=False))
    return out


def raw_arm(model_name: str, task) -> tuple[float, int]:
    from llama_cpp import Llama

    from assay.models.registry import get_model

    path = get_model(model_name).path
    # The same threads as the embedded backend (llama-cpp-python defaults to half the cores).
    llama = Llama(model_path=str(path), n_ctx=2048, verbose=False, seed=0, n_threads=os.cpu_count() or 1)
    tokens = [t for seq in sequences(task, llama) for t in seq[:-1]]  # the last token of each predicts nothing
    started = time.perf_counter()
    for start in range(0, len(tokens), 2048):
        llama.reset()
        llama.eval(tokens[start : start + 2048])
    seconds = time.perf_counter() - started
    llama.close()
    return seconds, len(tokens)


def assay_arm(model_name: str, task, out: Path) -> float:
    from assay.models.registry import get_model
    from assay.run.runner import run_eval

    model = get_model(model_name)
    model._load()  # loading time is not scoring time in either arm
    started = time.perf_counter()
    result = run_eval(task, [model], out=out, progress=False, use_cache=False)
    seconds = time.perf_counter() - started
    assert result.models[model_name].n_items == len(task.items), result.to_dict()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="gemma3-270m,smollm2")
    args = parser.parse_args()
    from assay.tasks.registry import get_task

    with tempfile.TemporaryDirectory() as tmp:
        items = Path(tmp) / "items.jsonl"
        make_items(args.items, items)
        task = get_task(str(items))
        for model_name in args.models.split(","):
            ratios, assay_rates, raw_rates = [], [], []
            for round_index in range(args.rounds):
                arms = ["assay", "raw"] if round_index % 2 == 0 else ["raw", "assay"]
                times = {}
                for arm in arms:
                    if arm == "raw":
                        times["raw"], n_tokens = raw_arm(model_name, task)
                    else:
                        times["assay"] = assay_arm(model_name, task, Path(tmp) / f"run-{model_name}-{round_index}")
                raw_rates.append(n_tokens / times["raw"])
                assay_rates.append(n_tokens / times["assay"])
                ratios.append(times["raw"] / times["assay"])
                print(
                    f"{model_name} round {round_index + 1}: {n_tokens} tokens, raw {times['raw']:.2f} s, "
                    f"assay {times['assay']:.2f} s, assay/raw rate {ratios[-1]:.2f}",
                    flush=True,
                )
            print(
                f"{model_name}: median tokens/s raw {statistics.median(raw_rates):.0f}, assay "
                f"{statistics.median(assay_rates):.0f}; median ratio {statistics.median(ratios):.2f} "
                f"(range {min(ratios):.2f}-{max(ratios):.2f}) over {args.rounds} rounds",
                flush=True,
            )


if __name__ == "__main__":
    main()

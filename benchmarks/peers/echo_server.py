"""An OpenAI-compatible ``/v1/completions`` server that returns prompt-token
log-probabilities (``echo=true, logprobs=N, max_tokens=1``) in
``llama_cpp.server``'s format, computed the cheap way.

Why it exists: ``llama_cpp.server`` (llama-cpp-python 0.3.x) answers such a
request by log-softmaxing its whole score buffer (context size × vocabulary)
and sorting every prompt position's full vocabulary in Python; with Gemma 3's
262,144-token vocabulary one 73-token prompt took 74 s on this machine, so
400 requests take hours. This server evaluates the prompt once with
``logits_all=True`` and log-softmaxes only the rows that predict a prompt
token (numpy, float64), so a likelihood benchmark measures the harnesses, not
that server's post-processing. Its answers follow ``llama_cpp.server``'s
format (the BOS token left out of the echo, the first token's log-probability
``null``, text offsets from the detokenized prefix, ``top_logprobs`` holding
the top ``N`` and the prompt's own token), with one difference on purpose: each
token's log-probability is the one predicting *it*, also for models without a
BOS token, where ``llama_cpp.server`` shifts them by one position.

It also answers vLLM's tokenizer routes (``GET /tokenizer_info``, ``POST
/tokenize``, ``POST /detokenize``) with llama.cpp's own tokenizer, which
lm-eval's ``local-completions`` uses when they exist (its ``remote`` tokenizer
backend) to find where each continuation starts.

One request at a time, like ``llama_cpp.server``.

    python benchmarks/peers/echo_server.py --model PATH --port 8000 [--n-ctx 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def log_normalisers(rows: np.ndarray) -> np.ndarray:
    """log Σ exp over each row (float32 exponentials, float64 sums)."""
    peak = rows.max(axis=1, keepdims=True)
    sums = np.exp(rows - peak).sum(axis=1, dtype=np.float64)
    return peak[:, 0].astype(np.float64) + np.log(sums)


class Scorer:
    def __init__(self, model_path: str, n_ctx: int, n_threads: int):
        from llama_cpp import Llama

        self.llama = Llama(
            model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, logits_all=True, verbose=False, seed=0
        )
        self.name = model_path
        self.lock = threading.Lock()

    def tokenizer_info(self) -> dict:
        llama = self.llama
        with self.lock:

            def text(token: int) -> str | None:
                return llama.detokenize([token], special=True).decode("utf-8", errors="ignore") if token >= 0 else None

            return {"bos_token": text(llama.token_bos()), "eos_token": text(llama.token_eos()), "pad_token": None}

    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]:
        with self.lock:
            return self.llama.tokenize(text.encode("utf-8"), add_bos=add_special_tokens, special=True)

    def detokenize(self, tokens: list[int]) -> str:
        with self.lock:
            return self.llama.detokenize(tokens, special=True).decode("utf-8", errors="ignore")

    def completion(self, prompt: str, top_n: int, echo: bool) -> dict:
        # The whole answer under the lock: one request at a time, post-processing included, as
        # llama_cpp.server; concurrent clients gain nothing from overlapping requests.
        with self.lock:
            return self._completion(prompt, top_n, echo)

    def _completion(self, prompt: str, top_n: int, echo: bool) -> dict:
        llama = self.llama
        # As llama_cpp.server: special tokens parsed, BOS added where the model's metadata asks.
        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) >= llama.n_ctx():
            raise ValueError(f"prompt of {len(tokens)} tokens exceeds the context window of {llama.n_ctx()}")
        llama.reset()
        llama.eval(tokens)
        rows = np.array(llama.scores[: len(tokens)])
        normalisers = log_normalisers(rows)
        generated = int(np.argmax(rows[-1]))
        bos = llama.token_bos()
        start = 1 if tokens and tokens[0] == bos else 0
        shown = tokens[start:] + [generated]
        text = llama.detokenize(shown).decode("utf-8", errors="ignore")
        result: dict = {"text": text if echo else text[len(prompt) :], "index": 0, "finish_reason": "length"}
        if top_n is None:
            result["logprobs"] = None
            return result
        strings, offsets, values, tops = [], [], [], []
        for index, token in enumerate(shown):
            position = start + index  # the token's place in the evaluated sequence
            strings.append(llama.detokenize([token], prev_tokens=shown[:index]).decode("utf-8", errors="ignore"))
            offsets.append(len(llama.detokenize(shown[:index]).decode("utf-8", errors="ignore")))
            if position == 0:  # nothing predicts the first token of a model without BOS
                values.append(None)
                tops.append(None)
                continue
            row, normaliser = rows[position - 1], normalisers[position - 1]
            k = max(top_n, 1)
            best = [int(np.argmax(row))] if k == 1 else np.argpartition(row, -k)[-k:]
            top = {
                llama.detokenize([int(i)], prev_tokens=shown[:index]).decode("utf-8", errors="ignore"): float(row[i])
                - normaliser
                for i in best
            }
            top[strings[-1]] = float(row[token]) - normaliser
            values.append(float(row[token]) - normaliser)
            tops.append(top)
        if echo:  # llama_cpp.server (like OpenAI) gives the first echoed token no log-probability
            values[0], tops[0] = None, None
        else:
            keep = len(shown) - 1
            strings, offsets, values, tops = strings[keep:], offsets[keep:], values[keep:], tops[keep:]
        result["logprobs"] = {"tokens": strings, "text_offset": offsets, "token_logprobs": values, "top_logprobs": tops}
        return result


def make_handler(scorer: Scorer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
            pass

        def send_json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.rstrip("/") == "/tokenizer_info":
                self.send_json(200, scorer.tokenizer_info())
            elif self.path.rstrip("/") == "/v1/models":
                self.send_json(200, {"object": "list", "data": [{"id": scorer.name, "object": "model"}]})
            else:
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path.rstrip("/") == "/tokenize":
                self.send_json(
                    200, {"tokens": scorer.tokenize(body.get("prompt", ""), bool(body.get("add_special_tokens", True)))}
                )
                return
            if self.path.rstrip("/") == "/detokenize":
                self.send_json(200, {"prompt": scorer.detokenize([int(t) for t in body.get("tokens", [])])})
                return
            if self.path.rstrip("/") != "/v1/completions":
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            prompts = body.get("prompt")
            prompts = prompts if isinstance(prompts, list) else [prompts]
            if not all(isinstance(p, str) for p in prompts):
                self.send_json(400, {"error": {"message": "prompt must be a string or a list of strings"}})
                return
            try:
                choices = []
                for index, prompt in enumerate(prompts):
                    choice = scorer.completion(prompt, body.get("logprobs"), bool(body.get("echo")))
                    choice["index"] = index
                    choices.append(choice)
            except ValueError as exc:
                self.send_json(400, {"error": {"message": str(exc)}})
                return
            self.send_json(
                200,
                {
                    "id": f"cmpl-{time.time_ns()}",
                    "object": "text_completion",
                    "created": int(time.time()),
                    "model": body.get("model", scorer.name),
                    "choices": choices,
                    "usage": {"prompt_tokens": 0, "completion_tokens": len(choices), "total_tokens": len(choices)},
                },
            )

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--n-ctx", "--n_ctx", type=int, default=2048)
    parser.add_argument("--n-threads", "--n_threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Scorer(args.model, args.n_ctx, args.n_threads)))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()

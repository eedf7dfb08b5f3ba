"""Embedded GGUF models run in-process with llama-cpp-python.

One generation at a time across all embedded models: llama.cpp already uses
every core for one sequence, and two models generating at once on a small
machine only thrash each other.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from assay.errors import ModelError
from assay.models.base import GenParams, Prompt, sample_seed
from assay.records import Logprob, Sample

_GENERATION_LOCK = threading.Lock()


FINGERPRINT_SAMPLES = 64  # evenly spaced 64 KiB blocks, besides the first and last MiB


def file_fingerprint(path: Path) -> str:
    """A fast content fingerprint: SHA-256 of the size, the first and last MiB
    and 64 blocks of 64 KiB spread evenly through the file.

    Hashing a whole multi-hundred-megabyte file on every start would cost more
    than the evaluation of a few items. The ends of a GGUF (header, tensor
    index, last tensors) tell real models apart; the blocks in between also
    tell apart files edited in the middle (a fine-tune that left the first
    and last tensors alone).
    """
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            step = (size - (2 << 20)) // (FINGERPRINT_SAMPLES + 1)
            for index in range(1, FINGERPRINT_SAMPLES + 1):
                handle.seek((1 << 20) + index * step)
                digest.update(handle.read(1 << 16))
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


class LlamaCppModel:
    """A GGUF file loaded with ``llama_cpp.Llama`` (loaded on first use)."""

    def __init__(
        self, name: str, path: str | Path, *, chat: bool | None = None, family: str = "unknown", n_ctx: int = 2048
    ):
        if n_ctx < 16:
            raise ModelError(f"--n-ctx {n_ctx}: give a context window of at least 16 tokens")
        self.name = name
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"GGUF file not found: {self.path}")
        self.family = family
        self.n_ctx = n_ctx
        self._chat = chat
        self._llama: Any = None
        self._fingerprint = file_fingerprint(self.path)

    @property
    def identity(self) -> dict[str, Any]:
        return {"backend": "llama_cpp", "file": self.path.name, "fingerprint": self._fingerprint}

    @property
    def chat(self) -> bool:
        if self._chat is None:
            # A GGUF without a chat template is a base model: chat prompts give
            # it nothing useful, so it gets completion prompts.
            metadata = getattr(self._load(), "metadata", {}) or {}
            self._chat = bool(metadata.get("tokenizer.chat_template"))
        return self._chat

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ModelError("llama-cpp-python is not installed; install assay with the 'embedded' extra") from exc
            try:
                self._llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=os.cpu_count() or 1,
                    verbose=False,
                    seed=0,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"cannot load GGUF file {self.path}: {exc}") from exc
        return self._llama

    def _generate_sync(self, prompt: Prompt, params: GenParams, sample_index: int) -> Sample:
        with _GENERATION_LOCK:
            llama = self._load()
            # llama.cpp would reuse the state of a prompt prefix it evaluated
            # last; a shorter evaluation rounds differently, so the same
            # request could answer differently with the order of the items
            # (a resume, --limit, another concurrency). Start from nothing.
            llama.reset()
            kwargs: dict[str, Any] = {
                "max_tokens": params.max_tokens,
                "temperature": params.temperature,
                "seed": sample_seed(params.seed, sample_index),
                "stop": list(params.stop) or None,
            }
            started = time.perf_counter()
            try:
                if isinstance(prompt, str):
                    if params.json_schema is not None:
                        from llama_cpp import LlamaGrammar

                        kwargs["grammar"] = LlamaGrammar.from_json_schema(json.dumps(params.json_schema), verbose=False)
                    out = llama.create_completion(prompt, **kwargs)
                    text = out["choices"][0]["text"]
                else:
                    if params.json_schema is not None:
                        kwargs["response_format"] = {"type": "json_object", "schema": params.json_schema}
                    out = llama.create_chat_completion(messages=prompt, **kwargs)
                    text = out["choices"][0]["message"]["content"] or ""
            except (ValueError, RuntimeError) as exc:
                # e.g. a prompt longer than the context window: this request
                # failed; it is recorded as an error, not as a wrong answer.
                needed = self._prompt_tokens(prompt)
                hint = (
                    f"; the prompt takes {needed} tokens and the window holds {self.n_ctx}: a re-run fails the same "
                    f"way: give a larger --n-ctx (now {self.n_ctx}) or a shorter prompt"
                    if "context window" in str(exc) or (needed is not None and needed >= self.n_ctx)
                    else ""
                )
                return Sample(
                    text=None, error=f"{type(exc).__name__}: {exc}{hint}", latency=time.perf_counter() - started
                )
            usage = out.get("usage") or {}
            return Sample(
                text=text,
                tokens_in=int(usage.get("prompt_tokens", 0)),
                tokens_out=int(usage.get("completion_tokens", 0)),
                latency=time.perf_counter() - started,
                finish_reason=out["choices"][0].get("finish_reason"),
            )

    async def generate(self, prompt: Prompt, params: GenParams, sample_index: int) -> Sample:
        return await asyncio.to_thread(self._generate_sync, prompt, params, sample_index)

    def _prompt_tokens(self, prompt: Prompt) -> int | None:
        """How many tokens a prompt takes (a chat prompt with the model's own template), or None."""
        try:
            text = prompt if isinstance(prompt, str) else self.format_chat(prompt)
            return len(self._load().tokenize(text.encode("utf-8"), add_bos=True, special=not isinstance(prompt, str)))
        except (ModelError, ValueError, RuntimeError):
            return None

    # -- log-likelihoods ---------------------------------------------------
    # Computed from the model's logits, not with create_completion(echo=True,
    # logprobs=N): in llama-cpp-python 0.3.x that shifts prompt log-probabilities
    # by one position for models without a BOS token and is several times slower.

    async def loglikelihood(self, context: str, continuations: Sequence[str], chat_formatted: bool = False) -> Sample:
        return await asyncio.to_thread(self._locked, self._choices_sync, context, list(continuations), chat_formatted)

    def format_chat(self, messages: list[dict[str, str]]) -> str:
        """Messages rendered with the model's own chat template (from its GGUF
        metadata), ending where the assistant's reply would begin."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llama = self._load()
        template = (getattr(llama, "metadata", {}) or {}).get("tokenizer.chat_template")
        if not template:
            raise ModelError(
                f"model '{self.name}' has no chat template in its GGUF file; leave out --apply-chat-template for it"
            )

        def text(token: int) -> str:
            return llama.detokenize([token], special=True).decode("utf-8", errors="ignore") if token >= 0 else ""

        formatter = Jinja2ChatFormatter(template, text(llama.token_eos()), text(llama.token_bos()))
        return formatter(messages=messages).prompt

    async def loglikelihood_rolling(self, text: str, stride: int = 0) -> Sample:
        return await asyncio.to_thread(self._locked, self._rolling_sync, text, stride)

    def _locked(self, work: Any, *args: Any) -> Sample:
        with _GENERATION_LOCK:
            llama = self._load()
            started = time.perf_counter()
            try:
                sample = work(ScoringContext(llama), *args)
            except (ValueError, RuntimeError) as exc:
                return Sample(text=None, error=f"{type(exc).__name__}: {exc}", latency=time.perf_counter() - started)
            finally:
                # Generation starts from an empty state (see _generate_sync); so does scoring.
                llama.reset()
            sample.latency = time.perf_counter() - started
            return sample

    def _too_long(self, needed: int, what: str) -> Sample:
        return Sample(
            text=None,
            error=f"{what} takes {needed} tokens, {needed - self.n_ctx} more than the context "
            f"window ({self.n_ctx}); give --n-ctx {needed} or more, or shorten it",
        )

    def _choices_sync(
        self, scoring: "ScoringContext", context: str, continuations: list[str], chat_formatted: bool = False
    ) -> Sample:
        context_tokens = scoring.tokenize(context, special=chat_formatted)
        wholes = [scoring.tokenize(context + c, special=chat_formatted) for c in continuations]
        longest = max(len(w) for w in wholes)
        if longest > self.n_ctx:
            return self._too_long(longest, "the context with its longest choice")
        # Each continuation's tokens: those of context+continuation after the
        # longest prefix they share with the context's own tokens (a word split
        # differently at the boundary belongs to the continuation, as in lm-eval).
        starts = [max(1, min(common_prefix(context_tokens, w), len(w) - 1)) for w in wholes]
        if min(len(w) for w in wholes) < 2:
            # Nothing to condition on (an empty context without a BOS token):
            # condition on the model's BOS (or EOS) token, as lm-eval does.
            prefix = [scoring.bos]
            wholes = [prefix + w for w in wholes]
            context_tokens = prefix + context_tokens
            starts = [max(1, min(common_prefix(context_tokens, w), len(w) - 1)) for w in wholes]
        # Each choice is evaluated in full, in batches laid out as one plain
        # evaluation of context and choice would be. Reusing the context's
        # cached state across choices was tried and dropped: llama.cpp's matrix
        # kernels group a batch's rows, so a row's logits depend on where it sits
        # in its batch (measured up to 0.09 nats on both embedded models), and a
        # choice's number would then depend on its sibling choices.
        results, evaluated = [], 0
        for whole, start in zip(wholes, starts):
            targets = {j - 1: whole[j] for j in range(start, len(whole))}
            scoring.clear()
            rows = scoring.decode(whole[:-1], targets)
            evaluated += len(whole) - 1
            scored = [rows[j] for j in sorted(targets)]
            results.append(Logprob(float(sum(lp for lp, _ in scored)), len(scored), all(g for _, g in scored)))
        return Sample(text=None, tokens_in=evaluated, logprobs=results, finish_reason="scored")

    def _rolling_sync(self, scoring: "ScoringContext", text: str, stride: int) -> Sample:
        tokens = scoring.tokenize(text, add_bos=False)
        if not tokens:
            return Sample(text=None, error="the document tokenizes to nothing (empty text)")
        # Every token is scored once, the first conditioned on the BOS (or EOS)
        # token. A window feeds up to n_ctx tokens and scores those of its
        # predictions not scored before; the next starts ``stride`` tokens on
        # (default n_ctx: windows meet end to end, lm-eval's rolling windows).
        sequence = [scoring.bos] + tokens
        window = self.n_ctx
        step = stride if stride > 0 else window
        if step > window:
            raise ValueError(f"--stride {stride} is larger than the context window ({window}): tokens would be skipped")
        total, greedy, scored_upto, begin, evaluated = 0.0, True, 0, 0, 0
        while scored_upto < len(tokens):
            end = min(begin + window + 1, len(sequence))
            targets = {p - 1 - begin: sequence[p] for p in range(max(scored_upto, begin) + 1, end)}
            scoring.clear()
            rows = scoring.decode(sequence[begin : end - 1], targets)
            evaluated += end - 1 - begin
            for lp, is_greedy in rows.values():
                total += lp
                greedy = greedy and is_greedy
            scored_upto = end - 1
            begin += step
        return Sample(
            text=None, tokens_in=evaluated, logprobs=[Logprob(total, len(tokens), greedy)], finish_reason="scored"
        )

    def close(self) -> None:
        if self._llama is not None:
            self._llama.close() if hasattr(self._llama, "close") else None
            self._llama = None


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def pick(row: Any, target: int) -> tuple[float, bool]:
    """A target token's log-probability under one row of logits, and whether it is the row's argmax."""
    import numpy as np

    logits = np.asarray(row, dtype=np.float64)
    top = float(logits.max())
    log_norm = top + float(np.log(np.exp(logits - top).sum()))
    return float(logits[target] - log_norm), bool(logits[target] >= top)


class ScoringContext:
    """llama.cpp's context used directly, for scoring: one sequence, logits
    asked for only at the positions that predict a scored token (a 262k-token
    vocabulary makes every other row a waste of time and memory)."""

    def __init__(self, llama: Any):
        self.llama = llama
        self.ctx = llama._ctx
        self.batch = llama._batch
        self.n_batch = llama.n_batch
        self.n_vocab = llama.n_vocab()
        bos = llama.token_bos()
        self.bos = bos if bos is not None and bos >= 0 else llama.token_eos()

    def tokenize(self, text: str, add_bos: bool = True, special: bool = False) -> list[int]:
        # add_bos=True adds the model's BOS only where its metadata asks for one;
        # special=True reads a chat template's markers as the special tokens they name.
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def clear(self) -> None:
        self.ctx.kv_cache_seq_rm(-1, 0, -1)

    def decode(self, tokens: Sequence[int], targets: dict[int, int]) -> dict[int, tuple[float, bool]]:
        """Evaluate ``tokens`` from position 0 and return, for each index in
        ``targets``, the log-probability of the token it predicts and whether
        that token was the most probable one."""
        import numpy as np

        out: dict[int, tuple[float, bool]] = {}
        b = self.batch.batch
        # Batches of n_batch tokens from position 0, as one full evaluation (Llama.eval)
        # lays them out, so each row sits where it would there.
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            b.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                b.token[i] = token
                b.pos[i] = start + i
                b.seq_id[i][0] = 0
                b.n_seq_id[i] = 1
                b.logits[i] = (start + i) in targets
            self.ctx.decode(self.batch)
            for i in range(len(chunk)):
                if start + i in targets:
                    row = np.ctypeslib.as_array(self.ctx.get_logits_ith(i), shape=(self.n_vocab,))
                    out[start + i] = pick(row, targets[start + i])
        return out

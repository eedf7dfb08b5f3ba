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
import sys
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
        self._split_exact: bool | None = None  # see split_matches_full_evaluation
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
        if self._split_exact is None:
            exact = split_matches_full_evaluation(scoring, self.n_ctx)
            self._split_exact = bool(exact)
            if exact is False:
                print(
                    f"note: {self.name}: a split evaluation does not reproduce a full one on this model and CPU; "
                    "each choice is evaluated in full (slower, same numbers)",
                    file=sys.stderr,
                )
        results, evaluated = score_continuations(scoring, wholes, starts, reuse_prefix=self._split_exact)
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


# Prefix reuse. An item's choices share their context, so the context's rows
# can be evaluated once and each choice continued from the cached state. A row's
# logits depend on the batch it is computed in: llama.cpp's CPU matrix kernels
# take a batch's rows in groups of four, and a batch of fewer than eight rows
# takes other kernels (measured: cutting anywhere else moves a choice's
# log-probability by up to 0.3 nats on Gemma 3). So the shared part is cut only
# where one full evaluation would compute every row the same way: at a multiple
# of ROW_GROUP, with every batch on either side of the cut at least MIN_BATCH rows
# long. On both shipped models such a split reproduces a full evaluation bit for
# bit (every such cut of 1,288 tried on one text, every item of the sample tasks);
# each model is checked once per load (split_matches_full_evaluation), and where a
# model or CPU behaves otherwise every choice is evaluated in full.
ROW_GROUP = 4
MIN_BATCH = 8


def shared_prefix_cut(wholes: Sequence[Sequence[int]], starts: Sequence[int], n_batch: int) -> int:
    """How many leading tokens of every sequence in ``wholes`` can be evaluated
    once for all of them with each row computed exactly as in a full
    evaluation of each sequence (0: none). ``starts[i]`` is the first scored
    token of ``wholes[i]``, so rows from ``starts[i] - 1`` on must be evaluated
    with that sequence."""
    if len(wholes) < 2:
        return 0
    shared = min(common_prefix(wholes[0], w) for w in wholes[1:])
    cut = min(shared, min(starts) - 1) // ROW_GROUP * ROW_GROUP

    def batches_long_enough(cut: int) -> bool:
        tail_of_prefix = cut % n_batch
        if 0 < tail_of_prefix < MIN_BATCH:
            return False
        next_boundary = (cut // n_batch + 1) * n_batch
        return all(min(next_boundary, len(w) - 1) - cut >= MIN_BATCH for w in wholes)

    while cut >= MIN_BATCH and not batches_long_enough(cut):
        cut -= ROW_GROUP
    return cut if cut >= MIN_BATCH else 0


def score_continuations(
    scoring: "ScoringContext", wholes: Sequence[Sequence[int]], starts: Sequence[int], reuse_prefix: bool
) -> tuple[list[Logprob], int]:
    """Each sequence's summed log-probability of its tokens from ``starts[i]`` on
    (with their count and whether each was the greedy pick), and how many
    tokens were evaluated. With ``reuse_prefix``, the tokens the sequences share
    up to ``shared_prefix_cut`` are evaluated once."""
    cut = shared_prefix_cut(wholes, starts, scoring.n_batch) if reuse_prefix else 0
    scoring.clear()
    if cut:
        scoring.decode(wholes[0][:cut], {})
    results, evaluated = [], cut
    for whole, start in zip(wholes, starts):
        targets = {j - 1: whole[j] for j in range(start, len(whole))}
        scoring.truncate(cut)
        rows = scoring.decode(whole[:-1], targets, begin=cut)
        evaluated += len(whole) - 1 - cut
        scored = [rows[j] for j in sorted(targets)]
        results.append(Logprob(float(sum(lp for lp, _ in scored)), len(scored), all(g for _, g in scored)))
    return results, evaluated


PROBE_TEXT = (
    "The committee met on a cold Tuesday morning to review the budget, the schedule and the list of "
    "repairs that the old library needed before winter. Question: which repair came first?\nAnswer:"
)
PROBE_CHOICES = (" the roof", " the heating system in the reading room", " windows", " none of them, as it turned out")


def split_matches_full_evaluation(scoring: "ScoringContext", n_ctx: int) -> bool | None:
    """Whether prefix reuse reproduces full evaluations exactly on this model
    and CPU, tried on a few choices of different lengths after one context
    (None: the probe does not fit a context window of ``n_ctx`` tokens)."""
    context = scoring.tokenize(PROBE_TEXT)
    wholes = [scoring.tokenize(PROBE_TEXT + choice) for choice in PROBE_CHOICES]
    if max(len(w) for w in wholes) > n_ctx:
        return None
    starts = [max(1, min(common_prefix(context, w), len(w) - 1)) for w in wholes]
    if not shared_prefix_cut(wholes, starts, scoring.n_batch):
        return True  # nothing would be reused at this batch size
    split, _ = score_continuations(scoring, wholes, starts, reuse_prefix=True)
    full, _ = score_continuations(scoring, wholes, starts, reuse_prefix=False)
    scoring.clear()
    return split == full


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

    def truncate(self, n_tokens: int) -> None:
        """Forget every position from ``n_tokens`` on."""
        self.ctx.kv_cache_seq_rm(-1, n_tokens, -1)

    def decode(self, tokens: Sequence[int], targets: dict[int, int], begin: int = 0) -> dict[int, tuple[float, bool]]:
        """Evaluate ``tokens[begin:]`` at positions ``begin`` on (the state holds
        the positions before it) and return, for each index in ``targets``, the
        log-probability of the token it predicts and whether that token was the
        most probable one."""
        import numpy as np

        out: dict[int, tuple[float, bool]] = {}
        b = self.batch.batch
        # Batches end at multiples of n_batch counted from position 0, as one
        # full evaluation (Llama.eval) lays them out, so each row sits where it would there.
        position = begin
        while position < len(tokens):
            end = min((position // self.n_batch + 1) * self.n_batch, len(tokens))
            chunk = tokens[position:end]
            b.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                b.token[i] = token
                b.pos[i] = position + i
                b.seq_id[i][0] = 0
                b.n_seq_id[i] = 1
                b.logits[i] = (position + i) in targets
            self.ctx.decode(self.batch)
            for i in range(len(chunk)):
                if position + i in targets:
                    row = np.ctypeslib.as_array(self.ctx.get_logits_ith(i), shape=(self.n_vocab,))
                    out[position + i] = pick(row, targets[position + i])
            position = end
        return out

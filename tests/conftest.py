"""Shared fixtures: a private response cache per test, paths to shared data,
and one local llama.cpp server for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own shared-response cache, so cache hits are its own."""
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smollm2_server():
    """The local OpenAI-compatible endpoint (llama_cpp.server with SmolLM2): a function giving its
    ``/v1`` URL. The server starts on the first call and serves every later test of the session,
    so the suite starts it once whichever tests need it."""
    from assay.models.registry import smollm2_path
    from tests.servers import llama_server

    started = {}

    def url() -> str:
        if "url" not in started:
            context = llama_server(smollm2_path())
            started["url"] = context.__enter__() + "/v1"
            started["context"] = context
        return started["url"]

    yield url
    if "context" in started:
        started["context"].__exit__(None, None, None)

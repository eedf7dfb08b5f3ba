"""Where a run's numbers came from: versions, git state, machine, hashes.

Written into a run's ``config.json`` so a number can be traced to the code,
packages and inputs that made it, and shown by ``assay report``. Each probe
is cheap and fails soft: a missing package or a directory outside git is
recorded as such, never an error.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

# Packages whose versions change results: the embedded runtime, the client, the numerics.
KEY_PACKAGES = ("llama-cpp-python", "openai", "numpy", "scipy", "pandas")


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_state(directory: str | Path | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the repository holding ``directory`` (default: the working
    directory), or None outside a repository or without git."""
    where = str(directory or os.getcwd())
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def environment(directory: str | Path | None = None) -> dict[str, Any]:
    """The software and machine a run was made (or imported) with."""
    from assay import __version__

    return {
        "assay": __version__,
        "python": platform.python_version(),
        "packages": {name: package_version(name) for name in KEY_PACKAGES},
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "git": git_state(directory),
    }


def file_sha256(path: str | Path) -> str:
    stat = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and modification time too: a file changed in place is hashed afresh.
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_provenance(model: Any) -> dict[str, Any]:
    """What identifies a model's outputs: a GGUF file's SHA-256 (the whole file: the run's
    cache key uses a faster sampled fingerprint), or the endpoints and served model id."""
    found: dict[str, Any] = {}
    identity = getattr(model, "identity", None)
    if isinstance(identity, dict):
        found.update(identity)
    path = getattr(model, "path", None)
    if path is not None and Path(path).is_file():
        found["gguf_sha256"] = file_sha256(path)
    if getattr(model, "base_urls", None) is not None:
        from assay.redact import redact_url

        # A user and password inside a URL are credentials, not provenance.
        found["base_urls"] = [redact_url(url) for url in model.base_urls]
    if getattr(model, "model_id", None) is not None:
        found["model_id"] = model.model_id
    return found


def data_sha256(items: list[Any]) -> str:
    """SHA-256 of a task's items (ids, inputs, targets) in order: the data a run saw."""
    import hashlib
    import json

    digest = hashlib.sha256()
    for item in items:
        digest.update(
            json.dumps([item.id, item.input, item.target], sort_keys=True, ensure_ascii=False, default=str).encode(
                "utf-8"
            )
        )
        digest.update(b"\n")
    return digest.hexdigest()


def run_provenance(models: list[Any], items: list[Any], directory: str | Path | None = None) -> dict[str, Any]:
    """The ``provenance`` of a run's config.json: environment, models, data."""
    return {
        **environment(directory),
        "models": {getattr(m, "name", str(m)): model_provenance(m) for m in models},
        "data_sha256": data_sha256(items),
    }

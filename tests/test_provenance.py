"""Provenance: versions, git state, model and data hashes."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess

from assay.provenance import data_sha256, environment, git_state, model_provenance, run_provenance
from assay.records import Item


def test_environment_reports_this_interpreter_and_packages():
    env = environment()
    assert env["python"] == platform.python_version() and env["cpu_count"] == os.cpu_count()
    assert env["packages"]["numpy"] == importlib.metadata.version("numpy")


def test_git_state_commit_and_dirty_flag(tmp_path):
    assert git_state(tmp_path) is None  # not a repository

    def run(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    run("init", "-q")
    (tmp_path / "f.txt").write_text("a")
    run("add", "f.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "f.txt").write_text("b")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}


def test_model_and_data_hashes(tmp_path):
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"GGUF" + bytes(range(256)) * 100)

    class Local:
        name = "gguf:m"
        path = weights

        def identity(self):
            return {"backend": "llama_cpp", "file": "m.gguf"}

    class Remote:
        name = "openai:x"
        base_urls = ["http://127.0.0.1:1/v1"]
        model_id = "x"

    assert model_provenance(Local())["gguf_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert model_provenance(Remote()) == {"base_urls": ["http://127.0.0.1:1/v1"], "model_id": "x"}
    a = [Item("1", {"input": "q"}, "a"), Item("2", {"input": "r"}, "b")]
    assert data_sha256(a) == data_sha256(list(a)) != data_sha256(a[::-1])
    assert data_sha256(a) != data_sha256([Item("1", {"input": "q"}, "A"), a[1]])
    full = run_provenance([Local(), Remote()], a)
    assert set(full["models"]) == {"gguf:m", "openai:x"} and full["data_sha256"] == data_sha256(a)

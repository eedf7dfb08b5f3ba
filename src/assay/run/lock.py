"""One writer per run directory.

A process that writes a run directory (``assay run``, ``assay import``,
``assay import-pairs``, ``assay judge`` and the self-preference probe of
``assay audit``, which judges) holds an exclusive ``flock`` on
``RUN_DIR/.lock`` for the life of its store: from before it reads the
directory (its ``config.json``, or the outputs a judge reads) until its last
row is written. The lock file names what its holder is writing (task and
generation settings, or a judge pass's settings, as a key). A second writer
whose key differs fails at once, naming the holder: two tasks never mix their
items in one store, and a judge never reads outputs a run is still writing. A
second writer with the same key waits (bounded, with a line on stderr) and
then finds the first's samples or verdicts done, so two identical commands
into one directory pay for each request once. Readers (compare, report,
export, passk) never take the lock.

The kernel drops a ``flock`` when its process ends, however it ends, so a
killed run leaves no stale lock behind. On systems without ``fcntl`` there is
no lock.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from assay.errors import ConfigError

LOCK_NAME = ".lock"
# Seconds a writer with the same key waits for the holder (ASSAY_LOCK_WAIT overrides; 0: do not wait).
DEFAULT_WAIT = 3600.0
# A holder writes its description right after taking the lock; an empty file
# for longer than this means a holder that does not say what it does.
UNDESCRIBED_GRACE = 5.0
POLL = 0.2


def lock_wait() -> float:
    """How long a writer waits for an identical one (``ASSAY_LOCK_WAIT`` seconds, default one hour)."""
    setting = os.environ.get("ASSAY_LOCK_WAIT")
    if setting is None or not setting.strip():
        return DEFAULT_WAIT
    try:
        seconds = float(setting)
    except ValueError:
        raise ConfigError(f"ASSAY_LOCK_WAIT={setting!r}: give a number of seconds (0: do not wait)") from None
    if not seconds >= 0:
        raise ConfigError(f"ASSAY_LOCK_WAIT={setting!r}: give 0 or more seconds")
    return seconds


@dataclass
class RunDirLock:
    """A held lock; ``release`` (or the process's end) frees it."""

    path: Path
    fd: int | None

    def __enter__(self) -> "RunDirLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        if self.fd is None:
            return
        import fcntl

        try:
            # Cleared before unlocking: a description in the file always belongs to the live holder.
            os.ftruncate(self.fd, 0)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _holder(path: Path) -> dict[str, Any] | None:
    """What the current holder says it writes; None while it has not said (or is gone)."""
    try:
        text = path.read_text(encoding="utf-8")
        holder = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict) or not _alive(holder.get("pid")):
        return None
    return holder


def _since(holder: dict[str, Any]) -> str:
    try:
        return datetime.fromtimestamp(float(holder["since"])).strftime("%Y-%m-%d %H:%M:%S")
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return "an unknown time"


def acquire(
    run_dir: str | Path,
    *,
    key: str,
    description: str,
    wait: float | None = None,
) -> RunDirLock:
    """Take the run directory's lock for a writer of ``key`` (what must match
    to share the directory) described as ``description`` ("a run of task X").

    A holder of another key: ``ConfigError`` at once, naming it. A holder of
    the same key: wait up to ``wait`` seconds (default ``lock_wait()``), then
    ``ConfigError``."""
    try:
        import fcntl
    except ImportError:  # no flock here (Windows): one writer per directory is then the user's to keep
        return RunDirLock(Path(run_dir) / LOCK_NAME, None)
    wait = lock_wait() if wait is None else wait
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    undescribed_since: float | None = None
    announced = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            holder = _holder(path)
            now = time.monotonic()
            if holder is None:
                # The holder has only just taken the lock: give it a moment to say what it writes.
                undescribed_since = undescribed_since if undescribed_since is not None else now
                if now - undescribed_since > UNDESCRIBED_GRACE:
                    raise ConfigError(
                        f"{run_dir} is busy: another process holds {path} without saying what it writes; "
                        "choose another --out, or wait for it to finish"
                    )
            elif holder.get("key") != key:
                raise ConfigError(
                    f"{run_dir} is busy: process {holder.get('pid')} has been writing "
                    f"{holder.get('description', 'another run')} there since {_since(holder)}; "
                    f"{description} cannot be written there at the same time (one writer per run directory). "
                    "Run this once that one has finished, or, for a new run, choose another --out"
                )
            else:
                undescribed_since = None
                if now - started >= wait:
                    raise ConfigError(
                        f"{run_dir} is busy: process {holder.get('pid')} has been writing "
                        f"{holder.get('description', 'the same run')} there since {_since(holder)}, and it did not finish "
                        f"within {wait:g} s; run this again once it has (its results are then reused), or set "
                        "ASSAY_LOCK_WAIT to wait longer"
                    )
                if not announced:
                    announced = True
                    print(
                        f"{run_dir}: process {holder.get('pid')} is already writing {holder.get('description')} "
                        f"there; waiting for it to finish (up to {wait:g} s, ASSAY_LOCK_WAIT), then its results "
                        "are reused",
                        file=sys.stderr,
                        flush=True,
                    )
            time.sleep(POLL)
        os.ftruncate(fd, 0)
        text = json.dumps({"pid": os.getpid(), "since": time.time(), "key": key, "description": description})
        os.pwrite(fd, text.encode("utf-8"), 0)
    except BaseException:
        os.close(fd)
        raise
    return RunDirLock(path, fd)

"""The store: one SQLite database per run directory, plus a response cache
shared by all runs.

Every request and its response is a row of ``samples``; scores and judge
verdicts are rows beside them. Writes are batched into transactions (WAL, one
commit per batch), so a run killed at any moment loses at most the last batch,
which the next run simply recomputes. The shared cache (``ASSAY_CACHE_DIR``,
default ``~/.cache/assay``) holds successful responses only, keyed like the
run's samples, so nothing is computed twice even across run directories.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from assay.errors import DataError
from assay.records import EMPTY_REPLY, Item, Logprob, Sample, Verdict
from assay.redact import redact

DB_NAME = "assay.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS items(
    id TEXT PRIMARY KEY, input TEXT NOT NULL, target TEXT, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples(
    key TEXT PRIMARY KEY, model TEXT NOT NULL, item TEXT NOT NULL, sample INTEGER NOT NULL,
    prompt TEXT NOT NULL, params TEXT NOT NULL, output TEXT, tokens_in INTEGER, tokens_out INTEGER,
    latency REAL, finish_reason TEXT, error TEXT, created REAL NOT NULL, logprobs TEXT);
-- One row per model, item and sample: a request made again with a new prompt or
-- target (a corrected template or gold answer) replaces the old row.
CREATE UNIQUE INDEX IF NOT EXISTS samples_by_model ON samples(model, item, sample);
CREATE TABLE IF NOT EXISTS scores(
    key TEXT NOT NULL, scorer TEXT NOT NULL, value REAL NOT NULL, detail TEXT,
    PRIMARY KEY(key, scorer));
CREATE TABLE IF NOT EXISTS verdicts(
    key TEXT PRIMARY KEY, item TEXT NOT NULL, model TEXT NOT NULL, model_b TEXT,
    judge TEXT NOT NULL, protocol TEXT NOT NULL, "order" TEXT NOT NULL, verdict TEXT, score REAL,
    explanation TEXT, invalid INTEGER NOT NULL, raw TEXT, template_hash TEXT NOT NULL,
    tokens_in INTEGER, tokens_out INTEGER, latency REAL, error TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS verdicts_unit ON verdicts(item, model, judge, protocol);
"""
CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache.responses(
    key TEXT PRIMARY KEY, output TEXT NOT NULL, tokens_in INTEGER, tokens_out INTEGER,
    latency REAL, finish_reason TEXT, logprobs TEXT);
"""
# Columns added after the first release, for databases made before them.
ADDED_COLUMNS = {"samples": [("logprobs", "TEXT")]}
ADDED_CACHE_COLUMNS = {"responses": [("logprobs", "TEXT")]}


def _logprobs_json(sample: Sample) -> str | None:
    return None if sample.logprobs is None else json.dumps([lp.to_dict() for lp in sample.logprobs])


def _logprobs_from(text: str | None) -> list[Logprob] | None:
    return None if text is None else [Logprob.from_dict(d) for d in json.loads(text)]


def _damaged(exc: sqlite3.DatabaseError, path: str, shared: bool) -> DataError:
    """A damaged database as one line naming the file and what to do."""
    if shared:
        return DataError(
            f"{path}: the shared response cache is damaged ({exc}); SQLite cannot read it. Delete it (it holds "
            "only cached responses; every run keeps its own copy) or run with --no-cache (ASSAY_CACHE_DIR=off)"
        )
    return DataError(
        f"{path}: the run's database is damaged ({exc}); SQLite cannot read it. Move it aside "
        f"(mv {path} {path}.damaged) and run the same command again: the shared response cache answers the "
        f"requests it holds, so they are not paid for twice; `sqlite3 {path}.damaged .recover` may salvage its rows"
    )


@contextlib.contextmanager
def _guard(conn: Any, sql: str | None):
    # Only SQLite's own "file is not a database" / "disk image is malformed"
    # (the bare DatabaseError): a locked database or a bad query stays a bug or
    # an OperationalError with its traceback.
    try:
        yield
    except sqlite3.DatabaseError as exc:
        # Statements on the shared cache name it: "cache.TABLE", or its ATTACH.
        shared = conn.cache_path is not None and sql is not None and ("cache." in sql or sql.startswith("ATTACH"))
        path = conn.cache_path if shared else conn.db_path
        if type(exc) is not sqlite3.DatabaseError or path is None:
            raise
        raise _damaged(exc, path, shared) from None


class _Cursor(sqlite3.Cursor):
    """A cursor whose damaged-file errors name the file (reads fail lazily, row by row)."""

    _sql: str | None = None

    def execute(self, sql, parameters=()):
        self._sql = sql
        with _guard(self.connection, sql):
            return super().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters):
        self._sql = sql
        with _guard(self.connection, sql):
            return super().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script):
        self._sql = sql_script
        with _guard(self.connection, sql_script):
            return super().executescript(sql_script)

    def __next__(self):
        with _guard(self.connection, self._sql):
            return super().__next__()

    def fetchone(self):
        with _guard(self.connection, self._sql):
            return super().fetchone()

    def fetchmany(self, *args, **kwargs):
        with _guard(self.connection, self._sql):
            return super().fetchmany(*args, **kwargs)

    def fetchall(self):
        with _guard(self.connection, self._sql):
            return super().fetchall()


class _Connection(sqlite3.Connection):
    """A connection that knows its files, so a damaged one is named (pandas reads through it too)."""

    db_path: str | None = None
    cache_path: str | None = None

    def cursor(self, factory=_Cursor):  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql, parameters=()):  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters):  # type: ignore[override]
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script):  # type: ignore[override]
        return self.cursor().executescript(sql_script)

    def __exit__(self, *exc: Any):
        with _guard(self, None):
            return super().__exit__(*exc)


def cache_path() -> Path | None:
    """The shared response cache, or None when disabled (ASSAY_CACHE_DIR=off)."""
    setting = os.environ.get("ASSAY_CACHE_DIR", str(Path.home() / ".cache" / "assay"))
    if setting.lower() in ("", "off", "none", "0"):
        return None
    return Path(setting) / "responses.db"


class RunStore:
    """Read and write one run's database. Use as a context manager."""

    def __init__(
        self,
        run_dir: str | Path | None,
        *,
        create: bool = True,
        use_cache: bool = True,
        batch_size: int = 256,
        flush_seconds: float = 0.5,
        lock: tuple[str, str] | None = None,
    ):
        # run_dir None: no run, only the shared cache (a bias probe's requests).
        # lock (key, description): hold the run directory's writer lock for the
        # store's life (assay.run.lock): another writer of the same key waits, any
        # other fails; readers pass none and are never blocked.
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.conn = None  # type: ignore[assignment]
        self._lock = None
        if self.run_dir is None:
            db: Any = ":memory:"
        else:
            db = self.run_dir / DB_NAME
            if not create and not db.is_file():
                raise DataError(f"{self.run_dir}: not a run directory (no {DB_NAME})")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if lock is not None:
                from assay.run.lock import acquire

                self._lock = acquire(self.run_dir, key=lock[0], description=lock[1])
        try:
            self._open(db, use_cache)
        except BaseException:
            self.close()
            raise
        self._pending_samples: list[tuple] = []
        self._pending_scores: list[tuple] = []
        self._pending_cache: list[tuple] = []
        self._pending_by_key: dict[str, tuple] = {}  # the same rows by key, for lookups before the flush
        self._pending_verdicts: list[tuple] = []
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._last_flush = time.monotonic()

    def _open(self, db: Any, use_cache: bool) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, factory=_Connection)
        self.conn.db_path = None if db == ":memory:" else str(db)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self._add_columns("main", ADDED_COLUMNS)
        self.cached = False
        shared = cache_path() if use_cache else None
        if shared is not None:
            shared.parent.mkdir(parents=True, exist_ok=True)
            self.conn.cache_path = str(shared)
            self.conn.execute("ATTACH DATABASE ? AS cache", (str(shared),))
            self.conn.execute("PRAGMA cache.journal_mode=WAL")
            self.conn.execute("PRAGMA cache.synchronous=NORMAL")
            self.conn.executescript(CACHE_SCHEMA)
            self._add_columns("cache", ADDED_CACHE_COLUMNS)
            self.cached = True

    def _add_columns(self, schema: str, added: dict[str, list[tuple[str, str]]]) -> None:
        for table, columns in added.items():
            have = {row[1] for row in self.conn.execute(f"PRAGMA {schema}.table_info({table})")}
            for name, kind in columns:
                if name not in have:
                    self.conn.execute(f"ALTER TABLE {schema}.{table} ADD COLUMN {name} {kind}")

    # -- context manager -------------------------------------------------
    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.conn is not None:
                try:
                    if hasattr(self, "_pending_samples"):
                        self.flush()
                finally:
                    self.conn.close()
                    self.conn = None  # type: ignore[assignment]
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    # -- items -----------------------------------------------------------
    def put_items(self, items: Iterable[Item]) -> None:
        rows = [
            (
                it.id,
                json.dumps(it.input, ensure_ascii=False, default=str),
                it.target,
                json.dumps(it.meta, ensure_ascii=False, default=str),
            )
            for it in items
        ]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO items VALUES (?,?,?,?)", rows)

    def items(self) -> dict[str, Item]:
        return {
            row[0]: Item(row[0], json.loads(row[1]), row[2], json.loads(row[3]))
            for row in self.conn.execute("SELECT id, input, target, meta FROM items")
        }

    # -- samples ---------------------------------------------------------
    def completed(self, model: str) -> dict[str, tuple[Sample, dict[str, tuple[float, str | None]]]]:
        """Successful samples of a model already in this run, with their scores, by key."""
        done: dict[str, tuple[Sample, dict[str, tuple[float, str | None]]]] = {}
        for key, output, t_in, t_out, latency, finish, logprobs in self.conn.execute(
            "SELECT key, output, tokens_in, tokens_out, latency, finish_reason, logprobs FROM samples "
            "WHERE model = ? AND error IS NULL",
            (model,),
        ):
            done[key] = (
                Sample(output, t_in or 0, t_out or 0, latency or 0.0, finish, logprobs=_logprobs_from(logprobs)),
                {},
            )
        for key, scorer, value, detail in self.conn.execute(
            "SELECT s.key, s.scorer, s.value, s.detail FROM scores s JOIN samples p ON p.key = s.key "
            "WHERE p.model = ? AND p.error IS NULL",
            (model,),
        ):
            if key in done:
                done[key][1][scorer] = (value, detail)
        return done

    def cached_response(self, key: str) -> Sample | None:
        if not self.cached:
            return None
        # A response cached moments ago may still wait for the next flush.
        pending = self._pending_by_key.get(key)
        row = (
            pending[1:]
            if pending is not None
            else self.conn.execute(
                "SELECT output, tokens_in, tokens_out, latency, finish_reason, logprobs FROM cache.responses WHERE key = ?",
                (key,),
            ).fetchone()
        )
        if row is None:
            return None
        logprobs = _logprobs_from(row[5])
        # A likelihood response has no text; the column (NOT NULL in older caches) holds "".
        text = None if logprobs is not None and row[0] == "" else row[0]
        return Sample(text, row[1] or 0, row[2] or 0, row[3] or 0.0, row[4], logprobs=logprobs)

    def record(
        self,
        key: str,
        model: str,
        item: str,
        sample_index: int,
        prompt: Any,
        params: dict[str, Any],
        sample: Sample,
        scores: dict[str, tuple[float, str | None]],
    ) -> None:
        """Store one sample of the run under ``key``, with its scores. (The
        executor puts responses in the shared cache; this never does.)"""
        prompt_text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
        self._pending_samples.append(
            (
                key,
                model,
                item,
                sample_index,
                prompt_text,
                json.dumps(params),
                sample.text,
                sample.tokens_in,
                sample.tokens_out,
                sample.latency,
                sample.finish_reason,
                # Servers quote credentials in their errors (a key, a URL with a password).
                redact(sample.error),
                time.time(),
                _logprobs_json(sample),
            )
        )
        for scorer, (value, detail) in scores.items():
            self._pending_scores.append((key, scorer, value, detail))
        self._maybe_flush()

    def cache_response(self, key: str, sample: Sample) -> None:
        """Put a successful response in the shared cache (failures are never cached)."""
        if self.cached and sample.error is None:
            row = (
                key,
                "" if sample.text is None else sample.text,
                sample.tokens_in,
                sample.tokens_out,
                sample.latency,
                sample.finish_reason,
                _logprobs_json(sample),
            )
            self._pending_cache.append(row)
            self._pending_by_key[key] = row
            self._maybe_flush()

    def record_verdict(self, verdict: Verdict) -> None:
        v = verdict
        self._pending_verdicts.append(
            (
                v.key,
                v.item,
                v.model,
                v.model_b,
                v.judge,
                v.protocol,
                v.order,
                v.verdict,
                v.score,
                v.explanation,
                int(v.invalid),
                v.raw,
                v.template_hash,
                v.tokens_in,
                v.tokens_out,
                v.latency,
                redact(v.error),
                v.created or time.time(),
            )
        )
        self._maybe_flush()

    async def flush_every(self, seconds: float | None = None) -> None:
        """Flush on a timer until cancelled: a response that arrives while the
        other requests are slow must not wait in memory for the next record."""
        import asyncio

        interval = self._flush_seconds if seconds is None else seconds
        while True:
            await asyncio.sleep(interval)
            self._maybe_flush()

    def _maybe_flush(self) -> None:
        pending = len(self._pending_samples) + len(self._pending_verdicts) + len(self._pending_cache)
        if pending >= self._batch_size or time.monotonic() - self._last_flush >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        if not (self._pending_samples or self._pending_verdicts or self._pending_cache):
            return
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT OR REPLACE INTO samples (key, model, item, sample, prompt, params, output, tokens_in, "
                "tokens_out, latency, finish_reason, error, created, logprobs) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._pending_samples,
            )
            self.conn.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?)", self._pending_scores)
            if self._pending_cache:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO cache.responses (key, output, tokens_in, tokens_out, "
                    "latency, finish_reason, logprobs) VALUES (?,?,?,?,?,?,?)",
                    self._pending_cache,
                )
            if self._pending_verdicts:
                # One verdict per judge, protocol and unit (item, models, order):
                # a re-judged unit (new outputs, template or settings) replaces
                # its old verdict rather than standing beside it.
                self.conn.executemany(
                    "DELETE FROM verdicts WHERE item = ? AND model = ? AND model_b IS ? AND judge = ? "
                    'AND protocol = ? AND "order" IS ? AND key != ?',
                    [(*row[1:7], row[0]) for row in self._pending_verdicts],
                )
                self.conn.executemany(
                    "INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._pending_verdicts,
                )
        self._pending_samples.clear()
        self._pending_scores.clear()
        self._pending_cache.clear()
        self._pending_by_key.clear()
        self._pending_verdicts.clear()
        self._last_flush = time.monotonic()

    # -- reading back ----------------------------------------------------
    def sample_scores(self, model: str) -> dict[tuple[str, int], tuple[str, str | None, str, dict[str, float]]]:
        """Every sample of a model, failed ones too: (item, sample) -> (key, error, params, scores).

        Importers check a new record against what is stored before writing it."""
        found: dict[tuple[str, int], tuple[str, str | None, str, dict[str, float]]] = {}
        by_key: dict[str, dict[str, float]] = {}
        for key, item, sample, error, params in self.conn.execute(
            "SELECT key, item, sample, error, params FROM samples WHERE model = ?", (model,)
        ):
            by_key[key] = {}
            found[(item, sample)] = (key, error, params, by_key[key])
        for key, scorer, value in self.conn.execute(
            "SELECT s.key, s.scorer, s.value FROM scores s JOIN samples p ON p.key = s.key WHERE p.model = ?", (model,)
        ):
            by_key[key][scorer] = value
        return found

    def scorers(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT scorer FROM scores ORDER BY scorer")]

    def sample_outcomes(self, model: str, scorer: str | None) -> list[SampleOutcome]:
        """Every sample of ``model`` with its ``scorer`` value (None: not scored)."""
        return [
            SampleOutcome(key, item, bool(failed), value, int(tokens or 0), bool(empty))
            for key, item, failed, value, tokens, empty in self.conn.execute(
                "SELECT p.key, p.item, p.error IS NOT NULL, s.value, p.tokens_in + p.tokens_out, "
                "(p.error IS NULL AND p.output = '') OR substr(p.error, 1, ?) = ? "
                "FROM samples p LEFT JOIN scores s ON s.key = p.key AND s.scorer = ? WHERE p.model = ?",
                (len(EMPTY_REPLY), EMPTY_REPLY, scorer, model),
            )
        ]

    def scored_texts(self) -> list[tuple[str, str, int, list[Logprob]]]:
        """(model, item, sample, logprobs) of every successful likelihood sample."""
        return [
            (model, item, sample, _logprobs_from(logprobs) or [])
            for model, item, sample, logprobs in self.conn.execute(
                "SELECT model, item, sample, logprobs FROM samples WHERE logprobs IS NOT NULL "
                "AND error IS NULL ORDER BY model, item, sample"
            )
        ]

    def errors(self, model: str) -> list[tuple[str, str, str]]:
        """(key, item, error) of every failed sample of ``model``."""
        return self.conn.execute(
            "SELECT key, item, error FROM samples WHERE model = ? AND error IS NOT NULL ORDER BY item, sample", (model,)
        ).fetchall()

    def first_samples(self) -> list[tuple[str, str, str, str | None, str | None]]:
        """(model, item, prompt, output, error) of every model's first sample of every item."""
        return self.conn.execute(
            "SELECT model, item, prompt, output, error FROM samples WHERE sample = 0 ORDER BY model, item"
        ).fetchall()

    def sample_records(self) -> list[SampleRecord]:
        """Every sample (failed ones too) with its prompt, output and every scorer's value and detail,
        ordered by item as the items were stored, then model and sample (for the samples page)."""
        scores: dict[str, list[tuple[str, float, str | None]]] = {}
        for key, scorer, value, detail in self.conn.execute(
            "SELECT key, scorer, value, detail FROM scores ORDER BY key, scorer"
        ):
            scores.setdefault(key, []).append((scorer, value, detail))
        return [
            SampleRecord(*row[1:], scores=tuple(scores.get(row[0], ())))
            for row in self.conn.execute(
                "SELECT p.key, p.model, p.item, p.sample, p.prompt, p.output, p.error, p.finish_reason, "
                "p.tokens_in, p.tokens_out, p.latency FROM samples p LEFT JOIN items i ON i.id = p.item "
                "ORDER BY i.rowid, p.item, p.model, p.sample"
            )
        ]

    def first_scores(self, scorer: str) -> list[tuple[str, str, float]]:
        """(model, item, value) of ``scorer`` on every successful first sample."""
        return self.conn.execute(
            "SELECT p.model, p.item, s.value FROM scores s JOIN samples p ON p.key = s.key "
            "WHERE p.sample = 0 AND p.error IS NULL AND s.scorer = ?",
            (scorer,),
        ).fetchall()

    def verdicts(
        self, *, judge: str | None = None, protocol: str | None = None, include_errors: bool = False
    ) -> list[Verdict]:
        """Stored verdicts (by default without failed requests), optionally of one judge or protocol."""
        where, args = [], []
        if not include_errors:
            where.append("error IS NULL")
        if judge is not None:
            where.append("judge = ?")
            args.append(judge)
        if protocol is not None:
            where.append("protocol = ?")
            args.append(protocol)
        sql = (
            'SELECT key, item, model, model_b, judge, protocol, "order", verdict, score, explanation, invalid, '
            "raw, template_hash, tokens_in, tokens_out, latency, error, created FROM verdicts"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [
            Verdict(
                *row[:10], bool(row[10]), row[11], row[12], row[13] or 0, row[14] or 0, row[15] or 0.0, row[16], row[17]
            )
            for row in self.conn.execute(sql + ' ORDER BY judge, item, model, "order"', args)
        ]

    def verdicts_frame(self, **filters: Any):
        """``verdicts(**filters)`` as a DataFrame, one column per Verdict field."""
        from dataclasses import asdict, fields

        import pandas as pd

        rows = [asdict(v) for v in self.verdicts(**filters)]
        return pd.DataFrame(rows, columns=[f.name for f in fields(Verdict)])


@dataclass(frozen=True)
class SampleOutcome:
    """A sample as a run's summary reads it: did it fail, what did the scorer give, what did it cost."""

    key: str
    item: str
    failed: bool
    value: float | None
    tokens: int
    empty: bool = False  # the reply was empty (an answer, or with --empty-as-error a failure)


@dataclass(frozen=True)
class SampleRecord:
    """A sample as the samples page shows it: what was asked, what came back, how each scorer judged it."""

    model: str
    item: str
    sample: int
    prompt: str
    output: str | None
    error: str | None
    finish_reason: str | None
    tokens_in: int | None
    tokens_out: int | None
    latency: float | None
    scores: tuple[tuple[str, float, str | None], ...] = ()  # (scorer, value, detail)


def open_run(run_dir: str | Path) -> RunStore:
    """Open an existing run directory for reading (no shared cache)."""
    return RunStore(run_dir, create=False, use_cache=False)


CONFIG_NAME = "config.json"
_warned: set[str] = set()


def read_config(run_dir: str | Path, *, strict: bool = False) -> dict[str, Any]:
    """A run's ``config.json`` ({} when there is none).

    A damaged one (truncated, not JSON) is a ``DataError`` naming it when
    ``strict`` (a command that writes the directory, or needs the run's
    settings to be right); otherwise a one-line warning on stderr and {}, so a
    command that reads the store works on what is readable."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError(f"a JSON {type(config).__name__}, not an object")
        return config
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"{path}: damaged, not a JSON object ({exc})"
    if strict:
        raise DataError(
            f"{problem}. It records what the run asked for (task, settings, models); restore it from a "
            f"backup, or move it aside (mv {path} {path}.damaged) and run the same command "
            "again to write it afresh (the samples in assay.db are kept and reused)"
        )
    if str(path) not in _warned:
        _warned.add(str(path))
        print(f"warning: {problem}; reading {Path(run_dir) / DB_NAME} without it", file=sys.stderr, flush=True)
    return {}


def write_config(run_dir: str | Path, config: dict[str, Any]) -> None:
    """Write ``config.json`` atomically: a temporary file, fsync, rename. A
    run killed mid-write leaves the old file or the new one, never half of one."""
    write_atomic(Path(run_dir) / CONFIG_NAME, json.dumps(config, indent=2, default=str))


def write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    # The rename itself is durable once the directory is synced (POSIX; not possible everywhere).
    with contextlib.suppress(OSError):
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def samples_frame(run_dir: str | Path):
    """Every sample of a run with its item, target and scores, as a DataFrame
    (one row per model × item × sample; per scorer a ``score_NAME`` column and a
    ``detail_NAME`` column with what the scorer said, e.g. the answer it extracted)."""
    import pandas as pd

    with open_run(run_dir) as store:
        frame = pd.read_sql_query(
            "SELECT p.model, p.item, p.sample, p.prompt, p.output, i.target, p.latency, "
            "p.tokens_in, p.tokens_out, p.finish_reason, p.error, i.meta "
            "FROM samples p JOIN items i ON i.id = p.item ORDER BY p.model, p.item, p.sample",
            store.conn,
        )
        scores = pd.read_sql_query(
            "SELECT p.model, p.item, p.sample, s.scorer, s.value, s.detail FROM scores s "
            "JOIN samples p ON p.key = s.key",
            store.conn,
        )
    frame["tokens"] = frame["tokens_in"].fillna(0) + frame["tokens_out"].fillna(0)
    if not scores.empty:
        # One score per sample and scorer (the table's key), so pivot needs no aggregation.
        wide = scores.pivot(index=["model", "item", "sample"], columns="scorer", values=["value", "detail"])
        wide.columns = [f"{'score' if kind == 'value' else 'detail'}_{c}" for kind, c in wide.columns]
        wide = wide.astype({c: float for c in wide.columns if c.startswith("score_")})
        frame = frame.merge(wide.reset_index(), on=["model", "item", "sample"], how="left")
    return frame


def scores_frame(run_dir: str | Path, metric: str | None = None, fields: tuple[str, ...] = ()):
    """Per-sample scores of a run: columns ``model, item, sample, score, cluster, answer``.

    Errored samples are excluded (an error is not a wrong answer). ``metric``
    names the scorer when the run has several; default is the task's first.
    ``answer`` is what the scorer extracted (for majority votes), when it says.
    ``fields`` adds columns from each item's metadata or input (``variant`` and
    ``base_item`` in a run of prompt variants; None where an item lacks one).
    """
    import pandas as pd

    with open_run(run_dir) as store:
        available = store.scorers()
        if metric is None:
            metric = (read_config(run_dir).get("scorers") or available or [None])[0]
        if metric is None:
            raise DataError(
                f"{run_dir}: no scores in this run: its outputs were stored without a scorer "
                "(a dataset without targets, or pairs imported for judging); judge them with "
                "assay judge, or re-run with --target-field"
            )
        if metric not in available:
            raise DataError(
                f"{run_dir}: no scores for metric '{metric}'; metrics found: {', '.join(available) or 'none'}"
            )
        frame = pd.read_sql_query(
            "SELECT p.model, p.item, p.sample, s.value AS score, s.detail AS answer, i.meta FROM scores s "
            "JOIN samples p ON p.key = s.key JOIN items i ON i.id = p.item "
            "WHERE s.scorer = ? AND p.error IS NULL ORDER BY p.model, p.item, p.sample",
            store.conn,
            params=(metric,),
        )
    metas = [json.loads(m) for m in frame.pop("meta")]
    frame["cluster"] = [m.get("cluster") for m in metas]
    columns = ["model", "item", "sample", "score", "cluster", "answer"]
    if fields:
        inputs = (
            _item_inputs(run_dir, set(frame["item"])) if any(f not in ("variant", "base_item") for f in fields) else {}
        )
        for name in fields:
            frame[name] = [m.get(name, inputs.get(i, {}).get(name)) for m, i in zip(metas, frame["item"])]
        columns += [f for f in fields if f not in columns]
    return frame[columns]


def failed_samples_frame(run_dir: str | Path, fields: tuple[str, ...] = ()):
    """Every failed sample of a run (a request that got no answer): columns
    ``model, item, sample, cluster, error`` and ``fields`` from each item's
    metadata (``variant``, ``base_item``), as ``scores_frame`` gives them for
    scored samples. ``scores_frame`` leaves these out; an analysis that counts
    a failure as a wrong answer adds them back."""
    import pandas as pd

    with open_run(run_dir) as store:
        frame = pd.read_sql_query(
            "SELECT p.model, p.item, p.sample, p.error, i.meta FROM samples p JOIN items i ON i.id = p.item "
            "WHERE p.error IS NOT NULL ORDER BY p.model, p.item, p.sample",
            store.conn,
        )
    metas = [json.loads(m) for m in frame.pop("meta")]
    frame["cluster"] = [m.get("cluster") for m in metas]
    for name in fields:
        frame[name] = [m.get(name) for m in metas]
    return frame[["model", "item", "sample", "cluster", "error", *fields]]


def _item_inputs(run_dir: str | Path, ids: set[str]) -> dict[str, dict]:
    with open_run(run_dir) as store:
        rows = store.conn.execute("SELECT id, input FROM items").fetchall()
    return {i: json.loads(text) for i, text in rows if i in ids}

"""The journal: one SQLite file holding runs, their events and their full output.

Every event is committed (WAL, synchronous=FULL) before anyone is told about it, so a crash or a
closed laptop loses nothing. Output is stored in batched chunks, never one row per line."""

from __future__ import annotations

import json
import os
import secrets as _secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..events.kinds import Event
from ..text.redact import Redactor
from . import chain

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, runbook_id TEXT NOT NULL, title TEXT, path TEXT, sha256 TEXT, runbook_text TEXT,
  environment TEXT, release TEXT, operator TEXT, host TEXT, tty TEXT, tmux TEXT, rehearsal INTEGER,
  started REAL NOT NULL, finished REAL, outcome TEXT, vars TEXT
);
CREATE TABLE IF NOT EXISTS events (
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL, step TEXT,
  actor TEXT, data TEXT NOT NULL, hash TEXT, PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS output (
  id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL,
  stream TEXT NOT NULL, ts REAL NOT NULL, lines INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS output_by_step ON output (run_id, step, attempt, id);
CREATE TABLE IF NOT EXISTS locks (
  key TEXT PRIMARY KEY, run_id TEXT NOT NULL, operator TEXT, host TEXT, pid INTEGER, since REAL
);
CREATE TABLE IF NOT EXISTS drivers (
  run_id TEXT PRIMARY KEY, pid INTEGER, host TEXT, beat REAL NOT NULL, socket TEXT
);
"""


FORMAT = 1  # PRAGMA user_version: a journal of a later format is refused, never half-written


def _claim(path: Path) -> None:
    """Make sure `path` is a journal deploytui may write: a regular file or a new path. deploytui changes the
    mode only of what it creates (0600, directories 0700): never of a file, device, link or directory it
    was given."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise UserError(f"{path}: is a symbolic link: give the journal's own path", 2)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{path}: is not a regular file: give a journal file, or a new path", 2)
        return
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for d in reversed(missing):
        os.mkdir(d, 0o700)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another deploytui created it a moment ago
        return _claim(path)
    os.fchmod(fd, 0o600)
    os.close(fd)


def _journal_error(path: Path, e: sqlite3.DatabaseError) -> UserError:
    text = str(e)
    if "disk is full" in text or "disk I/O error" in text and _no_space(path):
        return UserError(f"journal: disk full ({path}): everything before this was kept; free some space and "
                         "resume the run", 2)
    if "not a database" in text:
        return UserError(f"{path}: is not a deploytui journal (not an SQLite database)", 2)
    return UserError(f"{path}: journal: {text}", 2)


def _no_space(path: Path) -> bool:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def default_path() -> Path:
    if os.environ.get("DEPLOYTUI_JOURNAL"):
        return Path(os.environ["DEPLOYTUI_JOURNAL"])
    import platformdirs

    return Path(platformdirs.user_data_dir("deploytui")) / "journal.sqlite3"


def new_run_id(now: float | None = None) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now or time.time())) + "-" + _secrets.token_hex(2)


@dataclass
class RunRow:
    id: str
    runbook_id: str
    title: str
    path: str
    sha256: str
    runbook_text: str
    environment: str
    release: str
    operator: str
    host: str
    tty: str
    tmux: str
    rehearsal: bool
    started: float
    finished: float | None
    outcome: str | None
    vars: dict[str, Any]


@dataclass
class Chunk:
    id: int
    step: str
    attempt: int
    stream: str
    ts: float
    lines: int
    data: str


class Journal:
    def __init__(self, path: str | Path | None = None, *, readonly: bool = False):
        self.path = Path(path) if path else default_path()
        self.readonly = readonly
        self._lock = threading.RLock()
        try:
            if readonly:
                if not self.path.exists():
                    raise UserError(f"{self.path}: no journal here yet (nothing has been run with it)")
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            else:
                _claim(self.path)
                self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                self._refuse_newer()
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self.db.executescript(SCHEMA)
                if "hash" not in [row[1] for row in self.db.execute("PRAGMA table_info(events)")]:
                    self.db.execute("ALTER TABLE events ADD COLUMN hash TEXT")  # journals from before chains
                if self.db.execute("PRAGMA user_version").fetchone()[0] < FORMAT:
                    self.db.execute(f"PRAGMA user_version = {FORMAT}")
            self.db.execute("PRAGMA busy_timeout=5000")
            if readonly:
                self._refuse_newer()
        except sqlite3.DatabaseError as e:
            raise _journal_error(self.path, e) from None
        except OSError as e:
            raise UserError(f"{self.path}: cannot open the journal: {e.strerror or e}") from None

    def _refuse_newer(self) -> None:
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version > FORMAT:
            self.db.close()
            raise UserError(f"{self.path}: this journal was written by a newer deploytui (journal format {version}; "
                            f"this one knows format {FORMAT}): upgrade deploytui to use it", 2)

    def close(self) -> None:
        """Close, folding the write-ahead log into the main file: a copy of the journal file alone is whole."""
        with self._lock:
            if not self.readonly:
                try:
                    self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.DatabaseError:  # busy (a follower reading) or a full disk: the WAL stays valid
                    pass
            self.db.close()

    # ---- writing ---------------------------------------------------------------------------
    def _tx(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock, self._writing():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                cur = self.db.execute(sql, params)
                self.db.execute("COMMIT")
                return cur
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        """Roll back what is open (SQLite may already have rolled back by itself, e.g. on a full disk)."""
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that fails says so in one line for people (a full disk above all); what was committed
        before stays committed."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            raise _journal_error(self.path, e) from None

    def create_run(self, run_id: str, *, runbook_id: str, title: str, path: str, sha256: str, runbook_text: str,
                   environment: str, release: str, operator: str, host: str, tty: str, tmux: str,
                   rehearsal: bool, started: float, vars: dict[str, Any]) -> None:
        self._tx(
            "INSERT INTO runs (id, runbook_id, title, path, sha256, runbook_text, environment, release, operator,"
            " host, tty, tmux, rehearsal, started, vars) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, runbook_id, title, path, sha256, runbook_text, environment, release, operator, host, tty,
             tmux, int(rehearsal), started, json.dumps(vars, default=str)),
        )

    def append(self, run_id: str, kind: str, step: str | None, actor: str, data: dict[str, Any], ts: float) -> Event:
        """Commit one event durably and return it with its sequence number."""
        payload = json.dumps(data, sort_keys=True, default=str)
        with self._lock, self._writing():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                last = self.db.execute("SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                                       (run_id,)).fetchone()
                seq, previous = (last[0] + 1, last[1] or "") if last else (1, "")
                self.db.execute("INSERT INTO events (run_id, seq, ts, kind, step, actor, data, hash) "
                                "VALUES (?,?,?,?,?,?,?,?)", (run_id, seq, ts, kind, step, actor, payload,
                                                             chain.link(previous, run_id, seq, ts, kind, step,
                                                                        actor, payload)))
                if kind == "run_finished":
                    self.db.execute("UPDATE runs SET finished = ?, outcome = ? WHERE id = ?",
                                    (ts, data.get("outcome"), run_id))
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return Event(seq, ts, kind, step, actor, json.loads(payload))

    def append_output(self, run_id: str, step: str, attempt: int, stream: str, data: str, ts: float) -> int:
        """Commit one chunk of output (many lines); returns its row id."""
        cur = self._tx("INSERT INTO output (run_id, step, attempt, stream, ts, lines, data) VALUES (?,?,?,?,?,?,?)",
                       (run_id, step, attempt, stream, ts, data.count("\n"), data))
        return int(cur.lastrowid or 0)

    # ---- reading ---------------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        rows = self._rows("SELECT seq, ts, kind, step, actor, data FROM events WHERE run_id = ? AND seq > ?"
                          " ORDER BY seq", (run_id, after))
        return [Event(seq, ts, kind, step, actor or "engine", json.loads(data)) for seq, ts, kind, step, actor, data
                in rows]

    def event_rows(self, run_id: str, after: int = 0, limit: int = -1) -> list[tuple[Any, ...]]:
        """The events as stored, with their chain hashes: (seq, ts, kind, step, actor, data_json, hash)."""
        return self._rows("SELECT seq, ts, kind, step, actor, data, hash FROM events WHERE run_id = ? AND seq > ?"
                          " ORDER BY seq LIMIT ?", (run_id, after, limit))

    def verify(self, run_id: str, expect: str | None = None) -> chain.Verdict:
        """Whether the run's events are as they were written (journal/chain.py)."""
        return chain.verify(self.event_rows(run_id), run_id, expect)

    def import_run(self, run: dict[str, Any], events: list[list[Any]], chunks: list[list[Any]]) -> None:
        """Write a run copied from elsewhere (a team store) as it was: its events keep the hashes they came
        with, so `verify` checks the copy, not a new chain. `run`: the columns of `runs`; `events`: event_rows;
        `chunks`: (id, step, attempt, stream, ts, lines, data). Called again with more, it adds what is new
        and takes the run's row as given (its outcome when it finished)."""
        cols = ("id", "runbook_id", "title", "path", "sha256", "runbook_text", "environment", "release", "operator",
                "host", "tty", "tmux", "rehearsal", "started", "finished", "outcome", "vars")
        with self._lock, self._writing():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                tuple(json.dumps(run[c]) if c == "vars" else run.get(c) for c in cols))
                self.db.executemany("INSERT OR IGNORE INTO events (run_id, seq, ts, kind, step, actor, data, hash) "
                                    "VALUES (?,?,?,?,?,?,?,?)", [(run["id"], *e) for e in events])
                self.db.executemany("INSERT OR IGNORE INTO output (id, run_id, step, attempt, stream, ts, lines, data) "
                                    "VALUES (?,?,?,?,?,?,?,?)", [(c[0], run["id"], *c[1:]) for c in chunks])
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def final_hash(self, run_id: str) -> str:
        rows = self._rows("SELECT hash FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,))
        return (rows[0][0] or "") if rows else ""

    def run(self, run_id: str) -> RunRow:
        cols = ("id, runbook_id, title, path, sha256, runbook_text, environment, release, operator, host, tty,"
                " tmux, rehearsal, started, finished, outcome, vars")
        rows = self._rows(f"SELECT {cols} FROM runs WHERE id = ?", (run_id,))
        if not rows and run_id == "last":  # the run started most recently
            rows = self._rows(f"SELECT {cols} FROM runs ORDER BY started DESC, rowid DESC LIMIT 1")
        if not rows:
            rows = self._rows(f"SELECT {cols} FROM runs WHERE id LIKE ? ORDER BY started DESC", (run_id + "%",))
            if len(rows) > 1:
                raise UserError(f"run id {run_id!r} is ambiguous: {', '.join(r[0] for r in rows[:5])}")
        if not rows:
            raise UserError(f"no run {run_id!r} in {self.path} (see `deploytui history`)")
        r = list(rows[0])
        r[12] = bool(r[12])
        r[16] = json.loads(r[16] or "{}")
        return RunRow(*r)

    def runs(self, limit: int = 50) -> list[RunRow]:
        ids = self._rows("SELECT id FROM runs ORDER BY started DESC LIMIT ?", (limit,))
        return [self.run(i) for (i,) in ids]

    def active_runs(self) -> list[RunRow]:
        ids = self._rows("SELECT id FROM runs WHERE finished IS NULL ORDER BY started DESC")
        return [self.run(i) for (i,) in ids]

    def chunks(self, run_id: str, step: str | None = None, attempt: int | None = None,
               after: int = 0) -> Iterator[Chunk]:
        """Output chunks in order, read in pages so millions of lines never sit in memory at once."""
        where, params = "run_id = ? AND id > ?", [run_id, after]
        if step is not None:
            where += " AND step = ?"
            params.append(step)
        if attempt is not None:
            where += " AND attempt = ?"
            params.append(attempt)
        last = after
        while True:
            params[1] = last
            rows = self._rows(f"SELECT id, step, attempt, stream, ts, lines, data FROM output WHERE {where}"
                              " ORDER BY id LIMIT 64", tuple(params))
            if not rows:
                return
            for row in rows:
                yield Chunk(*row)
            last = rows[-1][0]

    @staticmethod
    def _output_filter(run_id: str, step: str, attempt: int | None, stream: str | None,
                       upto: int | None) -> tuple[str, list[Any]]:
        where = "run_id = ? AND step = ?"
        params: list[Any] = [run_id, step]
        for column, value in (("attempt", attempt), ("stream", stream)):
            if value is not None:
                where += f" AND {column} = ?"
                params.append(value)
        if upto is not None:
            where += " AND id <= ?"
            params.append(upto)
        return where, params

    def tail_text(self, run_id: str, step: str, attempt: int | None = None, lines: int = 40,
                  stream: str | None = "main", upto: int | None = None) -> str:
        """The newest chunks of a step's output (with ids <= `upto`), enough to hold `lines` lines, joined:
        chunks may end mid-line. Read a page at a time, newest first: never the whole output in memory."""
        where, params = self._output_filter(run_id, step, attempt, stream, upto)
        parts: list[str] = []
        seen, before = 0, None
        while seen <= lines:
            page = where + ("" if before is None else " AND id < ?")
            rows = self._rows(f"SELECT id, data FROM output WHERE {page} ORDER BY id DESC LIMIT 16",
                              tuple(params + ([] if before is None else [before])))
            if not rows:
                break
            for row_id, data in rows:
                parts.append(data)
                seen += data.count("\n")
                before = row_id
                if seen > lines:
                    break
        return "".join(reversed(parts))

    def tail(self, run_id: str, step: str, attempt: int | None = None, lines: int = 40,
             stream: str | None = "main", upto: int | None = None) -> tuple[list[str], int]:
        """The last `lines` lines of a step's output and how many lines there were in all."""
        out = split_lines(self.tail_text(run_id, step, attempt, lines, stream, upto))
        return (out[-lines:] if lines else []), self.count_lines(run_id, step, attempt, stream, upto)

    def count_lines(self, run_id: str, step: str, attempt: int | None = None, stream: str | None = "main",
                    upto: int | None = None) -> int:
        """How many lines (newlines) a step's output holds, in chunks with ids <= `upto`."""
        where, params = self._output_filter(run_id, step, attempt, stream, upto)
        return int(self._rows(f"SELECT COALESCE(SUM(lines), 0) FROM output WHERE {where}", tuple(params))[0][0])

    def streams(self, run_id: str, step: str, attempt: int) -> list[tuple[str, int]]:
        """(stream, lines) of one attempt of a step: the command's output first, then its panes."""
        rows = self._rows("SELECT stream, COALESCE(SUM(lines), 0) FROM output WHERE run_id = ? AND step = ?"
                          " AND attempt = ? GROUP BY stream", (run_id, step, attempt))
        return sorted(rows, key=lambda r: (r[0] != "main", r[0]))

    def chunk_index(self, run_id: str, step: str, attempt: int, stream: str = "main",
                    after: int = 0) -> list[tuple[int, int]]:
        """(chunk id, newlines in it) of one stream of one attempt, oldest first, without the text: an index for
        reading millions of lines a chunk at a time (`chunk_text`)."""
        return [(int(i), int(n)) for i, n in self._rows(
            "SELECT id, lines FROM output WHERE run_id = ? AND step = ? AND attempt = ? AND stream = ? AND id > ?"
            " ORDER BY id", (run_id, step, attempt, stream, after))]

    def chunk_text(self, chunk_id: int) -> str:
        rows = self._rows("SELECT data FROM output WHERE id = ?", (chunk_id,))
        return rows[0][0] if rows else ""

    def last_chunk(self, run_id: str) -> int:
        """The id of the newest output chunk of a run (0 when there is none)."""
        return int(self._rows("SELECT COALESCE(MAX(id), 0) FROM output WHERE run_id = ?", (run_id,))[0][0])

    # ---- the driver's heartbeat: followers tell a live driver from a dead one ----------------------------
    def beat(self, run_id: str, pid: int, host: str, ts: float, socket: str = "") -> None:
        """The driver of `run_id` is alive at `ts` (written about once a second while it drives)."""
        self._tx("INSERT INTO drivers VALUES (?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET pid = excluded.pid,"
                 " host = excluded.host, beat = excluded.beat, socket = excluded.socket",
                 (run_id, pid, host, ts, socket))

    def stop_beating(self, run_id: str) -> None:
        self._tx("DELETE FROM drivers WHERE run_id = ?", (run_id,))

    def driver(self, run_id: str) -> dict[str, Any] | None:
        """{pid, host, beat, socket} of the driver last seen driving `run_id`, or None."""
        try:
            rows = self._rows("SELECT pid, host, beat, socket FROM drivers WHERE run_id = ?", (run_id,))
        except sqlite3.OperationalError:  # a journal from before heartbeats
            return None
        if not rows:
            return None
        return dict(zip(("pid", "host", "beat", "socket"), rows[0]))

    # ---- locks: one active run per runbook and environment ----------------------------------
    def lock_holder(self, key: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT run_id, operator, host, pid, since FROM locks WHERE key = ?", (key,))
        if not rows:
            return None
        run_id, operator, host, pid, since = rows[0]
        return {"run_id": run_id, "operator": operator, "host": host, "pid": pid, "since": since}

    def take_lock(self, key: str, run_id: str, operator: str, host: str, pid: int, since: float,
                  force: bool = False) -> dict[str, Any] | None:
        """Take the lock; returns the holder instead when someone else has it (unless `force`)."""
        with self._lock, self._writing():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                row = self.db.execute("SELECT run_id, operator, host, pid, since FROM locks WHERE key = ?",
                                      (key,)).fetchone()
                if row and row[0] != run_id and not force:
                    self.db.execute("ROLLBACK")
                    return dict(zip(("run_id", "operator", "host", "pid", "since"), row))
                self.db.execute("INSERT OR REPLACE INTO locks VALUES (?,?,?,?,?,?)",
                                (key, run_id, operator, host, pid, since))
                self.db.execute("COMMIT")
                return None
            except BaseException:
                self._rollback()
                raise

    def release_lock(self, key: str, run_id: str) -> None:
        self._tx("DELETE FROM locks WHERE key = ? AND run_id = ?", (key, run_id))


def split_lines(data: str) -> list[str]:
    """Lines of joined output; a last line without its newline (a command still printing) is kept."""
    parts = data.split("\n")
    return parts[:-1] if data.endswith("\n") else parts


class RunWriter:
    """A run's way into the journal: everything it writes passes the run's redactor first."""

    def __init__(self, journal: Journal, run_id: str, redactor: Redactor):
        self.journal, self.run_id, self.redactor = journal, run_id, redactor

    def event(self, kind: str, step: str | None, actor: str, data: dict[str, Any], ts: float) -> Event:
        return self.journal.append(self.run_id, kind, step, actor, self.redactor.value(data), ts)

    def output(self, step: str, attempt: int, stream: str, text: str, ts: float) -> str:
        clean = self.redactor.text(text)
        self.journal.append_output(self.run_id, step, attempt, stream, clean, ts)
        return clean

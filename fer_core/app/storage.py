"""Saved emotion sessions (live and video): emotion scores per face per frame, never images.

An embedded SQLite file by default; ``FER_DB_URL`` (any SQLAlchemy URL, e.g.
``postgresql+psycopg://...``) points several app instances at one server database. A database
another process holds locked fails within ``FER_DB_BUSY_TIMEOUT_S`` seconds (default 3), so a
page waits seconds, not half a minute, before it says so; on PostgreSQL the same figure bounds the
connection, every lock wait and every statement (``_server_timeouts``), and each use opens a fresh
connection, so a stalled server is reported in seconds too.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from fer_core import REPO_ROOT
from fer_core.core.environ import env_text
from fer_core.core.labels import classes_in
from fer_core.core.records import FLOAT_COLUMNS, INT_COLUMNS, OPTIONAL_COLUMNS, RECORD_COLUMNS, dominant_emotion

LOG = logging.getLogger(__name__)
DEFAULT_DB_PATH = REPO_ROOT / "sessions.db"
BUSY_TIMEOUT_ENV = "FER_DB_BUSY_TIMEOUT_S"
DEFAULT_BUSY_TIMEOUT_S = 3.0
BUSY_MESSAGE = ("The session database {url} is busy: another program is holding it locked. "
                "Try again in a moment; nothing was changed.")
STALLED_MESSAGE = ("The session database {url} is not answering (the server is stalled or overloaded). "
                   "Try again in a moment; nothing was changed.")

_metadata = sa.MetaData()
sessions_table = sa.Table(
    "fer_sessions", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("started_at", sa.String(32), nullable=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("dominant_emotion", sa.String(20), nullable=True),
    sa.Column("n_records", sa.Integer, nullable=False),
    sa.Column("n_faces", sa.Integer, nullable=False),
    sa.Column("meta_json", sa.Text, nullable=False),
    # Ids are never reused: History, CSV names and "Saved as session #N" messages refer to them, so a
    # deleted #3 must not come back as a different #3. SQLite reuses the largest id unless the table
    # says AUTOINCREMENT; PostgreSQL's sequence never goes back.
    sqlite_autoincrement=True,
)
records_table = sa.Table(
    "fer_records", _metadata,
    sa.Column("session_id", sa.Integer, sa.ForeignKey("fer_sessions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    *(sa.Column(c, sa.Integer, nullable=False) for c in INT_COLUMNS),
    *(sa.Column(c, sa.Float, nullable=False) for c in FLOAT_COLUMNS),
    sa.Column("label", sa.String(20), nullable=False),
    *(sa.Column(c, sa.Float, nullable=True) for c in OPTIONAL_COLUMNS),  # an eight-class model's contempt
    sa.Index("ix_fer_records_session", "session_id", "seq"),
)


class StorageError(RuntimeError):
    """The session database cannot be opened or written; str() is user-facing."""


class SessionNotFoundError(LookupError):
    """No saved session has this id."""

    def __str__(self) -> str:
        return f"Session {self.args[0]} does not exist (it may have been deleted)."


def default_db_url(env: Mapping[str, str] | None = None) -> str:
    """FER_DB_URL when set, else the embedded SQLite file next to the app."""
    return env_text("FER_DB_URL", env) or f"sqlite:///{DEFAULT_DB_PATH}"


def busy_timeout_s(env: Mapping[str, str] | None = None) -> float:
    """How long a SQLite call waits for another process's lock before failing (FER_DB_BUSY_TIMEOUT_S)."""
    raw = env_text(BUSY_TIMEOUT_ENV, env)
    try:
        value = float(raw) if raw else DEFAULT_BUSY_TIMEOUT_S
    except ValueError:
        raise StorageError(f"{BUSY_TIMEOUT_ENV} must be a number of seconds, not {raw!r}.") from None
    if not 0 <= value <= 600 or not math.isfinite(value):
        raise StorageError(f"{BUSY_TIMEOUT_ENV} must be between 0 and 600 seconds, not {raw!r}.")
    return value


def _normalise_url(url: str) -> sa.engine.URL:
    """The URL to open, with any SQLite file made absolute.

    A bare file path means a SQLite file, as users tend to type one. A relative SQLite path would
    otherwise land in whatever folder the server was started from; it is resolved once, here, so
    the store (and the History page) can say where sessions really go.
    """
    try:
        sa_url = sa.engine.make_url(url if "://" in url else f"sqlite:///{url}")
    except sa.exc.ArgumentError:
        raise StorageError("The session database setting (FER_DB_URL) is not a database URL; "
                           "expected e.g. sqlite:///path/sessions.db or postgresql+psycopg://user@host/db.") from None
    if _is_sqlite_file(sa_url) and not sa_url.query.get("uri"):
        sa_url = sa_url.set(database=str(Path(sa_url.database).expanduser().resolve()))
    return sa_url


def db_location(url: str | sa.engine.URL) -> str:
    """Where a database URL keeps sessions, for people: a SQLite file's absolute path, else the URL
    without its password."""
    sa_url = _normalise_url(url) if isinstance(url, str) else url
    return sa_url.database if _is_sqlite_file(sa_url) else sa_url.render_as_string(hide_password=True)


def _is_sqlite_file(sa_url: sa.engine.URL) -> bool:
    return sa_url.get_backend_name() == "sqlite" and sa_url.database not in (None, "", ":memory:")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(value: datetime | str | float | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat(timespec="seconds")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), timezone.utc).isoformat(timespec="seconds")
    return str(value)


def clean_records(records: Iterable[Mapping]) -> list[dict]:
    """Validate records (one per face per frame) and coerce them to plain ints/floats/str.

    Raises ValueError naming the first bad record, so a caller's bug never lands in the database.
    """
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise ValueError(f"Record {i} is a {type(rec).__name__}, expected a dict.")
        missing = [c for c in RECORD_COLUMNS if c not in rec]
        if missing:
            raise ValueError(f"Record {i} lacks {', '.join(missing)}; records need {', '.join(RECORD_COLUMNS)}.")
        floats = (*FLOAT_COLUMNS, *(c for c in OPTIONAL_COLUMNS if rec.get(c) is not None))
        try:
            row = {c: int(rec[c]) for c in INT_COLUMNS}
            row.update({c: float(rec[c]) for c in floats})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Record {i} has a non-numeric value ({exc}).") from None
        bad = [c for c in floats if not math.isfinite(row[c])]
        if bad:
            raise ValueError(f"Record {i} has non-finite {', '.join(bad)}.")
        classes = classes_in(row)
        if rec["label"] not in classes:
            raise ValueError(f"Record {i} has label {rec['label']!r}; expected one of {', '.join(classes)}.")
        row["label"] = str(rec["label"])
        out.append(row)
    return out


class SessionStore:
    """Save, list, load and delete sessions; one instance is safe to share between threads."""

    def __init__(self, url: str | None = None) -> None:
        sa_url = _normalise_url(url or default_db_url())
        self.url = sa_url.render_as_string(hide_password=True)  # for messages: never show a password
        kw: dict = {}
        if _is_sqlite_file(sa_url):
            db_file = Path(sa_url.database)
            try:
                db_file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"Cannot create the folder for the session database {db_file}: {exc}") from None
            kw["connect_args"] = {"timeout": busy_timeout_s(), "check_same_thread": False}
        elif sa_url.get_backend_name() == "sqlite":  # in-memory: one shared connection, or each sees its own db
            kw.update(poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False})
        elif sa_url.get_backend_name() == "postgresql":
            # A fresh connection per use: connect_timeout then bounds a stalled server (SIGSTOP kept a
            # pooled connection's query waiting for ever, issue 29), and a restart needs no ping.
            kw.update(poolclass=sa.pool.NullPool, connect_args=_server_timeouts(busy_timeout_s()))
        else:  # another server: pooled connections die when it restarts, so test each before use
            kw["pool_pre_ping"] = True
        try:
            self.engine = sa.create_engine(sa_url, **kw)
        except (sa.exc.NoSuchModuleError, ImportError) as exc:
            raise StorageError(f"Cannot use the session database {self.url}: {exc}. Install the database's "
                               "driver (for PostgreSQL: pip install 'psycopg[binary]').") from None
        except sa.exc.ArgumentError as exc:
            raise StorageError(f"Cannot use the session database {self.url}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock()  # serialises writers; SQLite allows one at a time anyway
        try:
            _create_tables(self.engine)
            if self.engine.dialect.name == "sqlite":
                _never_reuse_ids(self.engine)
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
            raise _friendly(exc, self.url, "Cannot open the session database {url}") from None

    def __repr__(self) -> str:
        return f"SessionStore({self.url!r})"

    @property
    def location(self) -> str:
        """Where sessions are kept, for people: see db_location."""
        return db_location(self.engine.url)

    def save_session(self, source: str, records: list[dict], *, started_at: datetime | str | float | None = None,
                     meta: dict | None = None) -> int:
        """Store one session's records; returns its id. ``meta`` must be JSON-serialisable."""
        if not isinstance(source, str) or not source.strip():
            raise ValueError("A session needs a source name such as 'live' or 'video'.")
        rows = clean_records(records)
        meta = dict(meta or {})
        try:
            meta_json = json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Session meta must be JSON-serialisable: {exc}") from None
        head = {"created_at": _now(), "started_at": _iso(started_at), "source": source.strip()[:200],
                **_summary(rows, meta), "meta_json": meta_json}
        with self._lock, self._begin() as conn:
            sid = int(conn.execute(sa.insert(sessions_table).values(**head)).inserted_primary_key[0])
            if rows:
                conn.execute(sa.insert(records_table), [{"session_id": sid, "seq": i, **r} for i, r in enumerate(rows)])
        return sid

    def append_records(self, session_id: int, records: list[dict]) -> None:
        """Add records to a saved session and refresh its summary, in one transaction.

        A live stream is saved as it goes (fer_core.app.live_session): a crash loses only the records
        since the last call, and History always shows a consistent session.
        """
        sid = self._id(session_id)
        rows = clean_records(records)
        if not rows:
            return
        with self._lock, self._begin() as conn:
            meta_json = conn.execute(sa.select(sessions_table.c.meta_json).where(sessions_table.c.id == sid)).first()
            if meta_json is None:
                raise SessionNotFoundError(sid)
            where = records_table.c.session_id == sid
            start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(records_table.c.seq), -1)).where(where)
                                 ).scalar_one() + 1
            conn.execute(sa.insert(records_table), [{"session_id": sid, "seq": start + i, **r} for i, r in enumerate(rows)])
            stored = conn.execute(sa.select(*_STORED).where(where)).mappings().all()
            summary = _summary([_record(r) for r in stored], _parse_meta(meta_json[0], sid))
            conn.execute(sa.update(sessions_table).where(sessions_table.c.id == sid).values(**summary))

    def list_sessions(self) -> list[dict]:
        """Newest first: id, created_at, started_at, source, duration_s, dominant_emotion, n_records, n_faces."""
        cols = [c for c in sessions_table.c if c.name != "meta_json"]
        with self._connect() as conn:
            rows = conn.execute(sa.select(*cols).order_by(sessions_table.c.id.desc())).mappings().all()
        return [dict(r) for r in rows]

    def load_session(self, session_id: int) -> tuple[dict, list[dict]]:
        """(session info with the caller's ``meta``, records in saved order)."""
        sid = self._id(session_id)
        with self._connect() as conn:
            head = conn.execute(sa.select(sessions_table).where(sessions_table.c.id == sid)).mappings().first()
            if head is None:
                raise SessionNotFoundError(sid)
            rows = conn.execute(
                sa.select(*_STORED).where(records_table.c.session_id == sid).order_by(records_table.c.seq)
            ).mappings().all()
        info = {k: v for k, v in head.items() if k != "meta_json"}
        info["meta"] = _parse_meta(head["meta_json"], sid)
        return info, [_record(r) for r in rows]

    def delete_session(self, session_id: int) -> None:
        """Delete one session and its records; a missing id raises SessionNotFoundError."""
        sid = self._id(session_id)
        with self._lock, self._begin() as conn:
            conn.execute(sa.delete(records_table).where(records_table.c.session_id == sid))
            if conn.execute(sa.delete(sessions_table).where(sessions_table.c.id == sid)).rowcount == 0:
                raise SessionNotFoundError(sid)

    def delete_all(self) -> int:
        """Delete every session; returns how many there were."""
        with self._lock, self._begin() as conn:
            conn.execute(sa.delete(records_table))
            return int(conn.execute(sa.delete(sessions_table)).rowcount or 0)

    @staticmethod
    def _id(session_id) -> int:
        try:
            return int(session_id)
        except (TypeError, ValueError):
            raise SessionNotFoundError(session_id) from None

    def _connect(self):
        return _Guard(self.engine.connect, self.url)

    def _begin(self):
        return _Guard(self.engine.begin, self.url)


_STORED = tuple(records_table.c[c] for c in (*RECORD_COLUMNS, *OPTIONAL_COLUMNS))


def _record(row: Mapping) -> dict:
    """A stored row as a record: a seven-class model's rows have no contempt column (NULL)."""
    return {k: v for k, v in row.items() if not (k in OPTIONAL_COLUMNS and v is None)}


def _summary(rows: list[dict], meta: Mapping) -> dict:
    """A session's summary columns from all its (clean) records; meta's duration_s wins over their span."""
    ts = [r["t"] for r in rows]
    try:
        duration = float(meta.get("duration_s", (max(ts) - min(ts)) if ts else 0.0))
    except (TypeError, ValueError):
        raise ValueError("Session meta 'duration_s' must be a number of seconds.") from None
    return {"duration_s": duration, "dominant_emotion": dominant_emotion(rows), "n_records": len(rows),
            "n_faces": len({r["face_id"] for r in rows})}


def _parse_meta(text: str | None, session_id: int) -> dict:
    """A session's stored meta as a dict; a damaged one (not JSON, not an object) reads as empty,
    so one bad row never breaks a page that lists or opens sessions."""
    try:
        meta = json.loads(text or "{}")
    except (TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        LOG.warning("session %s: stored meta is not a JSON object; ignored", session_id)
        return {}
    return meta


def _server_timeouts(seconds: float) -> dict:
    """libpq settings so a PostgreSQL lock or slow statement fails like SQLite's busy timeout does.

    Without them a table another client holds ACCESS EXCLUSIVE blocked History for 88 s with no
    message (issue 29). lock_timeout turns a lock wait into an error; statement_timeout bounds the
    rest (twice as long, so a lock wait is reported as one); connect_timeout bounds reaching it.
    """
    ms = max(1, round(seconds * 1000))
    return {"connect_timeout": max(2, math.ceil(seconds)),
            "options": f"-c lock_timeout={ms} -c statement_timeout={2 * ms}"}


_BUSY_TEXTS = ("database is locked", "database is busy", "database table is locked",  # SQLite
               "lock timeout", "statement timeout")  # PostgreSQL: "canceling statement due to ..."


def _is_busy(exc: BaseException) -> bool:
    """Another connection holds the lock past the timeout (SQLite "database is locked", PostgreSQL
    "canceling statement due to lock timeout"), or a statement ran past its limit."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(t in text for t in _BUSY_TEXTS)


def _is_stalled(exc: BaseException) -> bool:
    """libpq's connect_timeout ran out: the server took the connection but never answered."""
    return "timeout expired" in str(getattr(exc, "orig", None) or exc).lower()


def _friendly(exc: BaseException, url: str, fallback: str) -> StorageError:
    if _is_busy(exc):
        return StorageError(BUSY_MESSAGE.format(url=url))
    if _is_stalled(exc):
        return StorageError(STALLED_MESSAGE.format(url=url))
    return StorageError(f"{fallback.format(url=url)}: {getattr(exc, 'orig', None) or exc}")


class _Guard:
    """Context manager that turns driver errors into one StorageError with the database named."""

    def __init__(self, opener, url) -> None:
        self.opener, self.url, self.cm = opener, url, None

    def __enter__(self):
        try:
            self.cm = self.opener()
            return self.cm.__enter__()
        except sa.exc.SQLAlchemyError as exc:
            raise _friendly(exc, self.url, "Session database {url} is unavailable") from None

    def __exit__(self, exc_type, exc, tb):
        try:
            suppressed = self.cm.__exit__(exc_type, exc, tb)
        except sa.exc.SQLAlchemyError as exit_exc:
            exc = exc or exit_exc
            suppressed = False
        if isinstance(exc, sa.exc.SQLAlchemyError) and not suppressed:
            raise _friendly(exc, self.url, "Session database {url} failed") from None
        return suppressed


def _create_tables(engine: sa.Engine, attempts: int = 3) -> None:
    """Create the tables that are missing. Replicas starting together against a new database race to
    create them; the loser's error only means they exist now, which the next check sees."""
    for attempt in range(attempts):
        with engine.connect() as conn:  # an unreachable server fails here, once, without retries
            try:
                _metadata.create_all(conn)
                _add_optional_columns(conn)
                conn.commit()
                return
            except sa.exc.SQLAlchemyError:
                conn.rollback()
                if attempt == attempts - 1:
                    raise
        time.sleep(0.2 * (attempt + 1))


def _add_optional_columns(conn) -> None:
    """Add the columns later app versions brought (contempt) to a records table made before them."""
    have = {c["name"] for c in sa.inspect(conn).get_columns(records_table.name)}
    for name in OPTIONAL_COLUMNS:
        if name not in have:
            conn.exec_driver_sql(f"ALTER TABLE {records_table.name} ADD COLUMN {name} FLOAT")


def _never_reuse_ids(engine: sa.Engine) -> None:
    """Rebuild a SQLite sessions table made before ids were AUTOINCREMENT (older app versions), so
    its ids are never reused either. Ids deleted before the rebuild are not known any more; from
    the largest one left, every new id is new. One transaction, FOREIGN KEYS off meanwhile so that
    dropping the old table does not cascade to the records."""
    with engine.connect() as conn:
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type='table' AND name=?",
                                   (sessions_table.name,)).scalar()
    if sql is None or "AUTOINCREMENT" in sql.upper():
        return
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        level, driver.isolation_level = driver.isolation_level, None  # BEGIN/COMMIT as written below
        try:
            cur = driver.cursor()
            cur.execute("PRAGMA foreign_keys=OFF")
            cur.execute("BEGIN IMMEDIATE")
            try:
                again = cur.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?",
                                    (sessions_table.name,)).fetchone()
                if again and "AUTOINCREMENT" not in again[0].upper():  # another process may have just done it
                    new = f"{sessions_table.name}_autoincrement"
                    create = str(sa.schema.CreateTable(sessions_table).compile(dialect=engine.dialect))
                    cur.execute(create.replace(f"TABLE {sessions_table.name}", f"TABLE {new}", 1))
                    cols = ", ".join(c.name for c in sessions_table.c)
                    cur.execute(f"INSERT INTO {new} ({cols}) SELECT {cols} FROM {sessions_table.name}")
                    cur.execute(f"DROP TABLE {sessions_table.name}")
                    cur.execute(f"ALTER TABLE {new} RENAME TO {sessions_table.name}")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.execute("PRAGMA foreign_keys=ON")
        finally:
            driver.isolation_level = level
    finally:
        raw.close()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # readers (History page) do not block the live writer
    cur.close()

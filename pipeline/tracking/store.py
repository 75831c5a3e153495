"""The MLflow store's safety: checked before MLflow opens it, created once under a lock, WAL + busy timeout.

Why: MLflow creates and migrates a fresh SQLite store with no lock between processes (concurrent
first runs break it for good), retries a connection that cannot succeed for ~100 s, and reports a
damaged or read-only store as two tracebacks. Here a local SQLite store is checked first (folder,
file, header, permissions), then opened under a file lock beside it (`mlflow.db.lock`) with the
database in WAL mode (readers never block the writer) and every SQLite connection given a busy
timeout. Any fault ends in a `StoreError`: one message naming the store and what to do (exit 2).
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

LOCK_TIMEOUT_S = 120  # a store's creation or migration; a dead holder's lock is freed by the OS
BUSY_TIMEOUT_MS = 30_000  # how long a SQLite connection waits for another process's write
SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_URI = re.compile(r"^sqlite(\+\w+)?:///(?P<path>[^?]*)")


class StoreError(Exception):
    """The MLflow store cannot be used; the message names it and says what to do."""


def sqlite_path(uri: str) -> Path | None:
    """The database file of a local SQLite store URI (None for other stores and in-memory ones)."""
    found = _SQLITE_URI.match(uri)
    path = unquote(found["path"]) if found else ""
    return Path(path) if path and path != ":memory:" else None


def _fault(uri: str, problem: str, todo: str) -> StoreError:
    """The one message of a store fault: which store, what is wrong, what to do."""
    return StoreError(f"MLflow store {uri}: {problem}; {todo}, or point --tracking-uri / "
                      f"MLFLOW_TRACKING_URI at another store")


def check(uri: str, write: bool = True) -> None:
    """Raise StoreError if the local SQLite store at `uri` is unusable; nothing to check elsewhere.

    A store that does not exist yet passes when its folder can be made (and written, if `write`).
    """
    db = sqlite_path(uri)
    if db is not None:
        _check_folder(uri, db, write)
        _check_file(uri, db, write)


def _check_folder(uri: str, db: Path, write: bool) -> None:
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fault(uri, f"cannot create its folder {db.parent} ({exc.strerror})", "create it yourself") from None
    if write:
        _check_writable_folder(uri, db.parent, "its folder",
                               "make it writable (SQLite writes its journal beside the database)")


def _check_file(uri: str, db: Path, write: bool) -> None:
    if not db.exists():
        return
    if db.is_dir():
        raise _fault(uri, f"{db} is a folder, not a database file", "name the database file itself")
    try:
        with open(db, "r+b" if write else "rb") as f:
            header = f.read(100)
    except OSError as exc:  # PermissionError: read-only (or unreadable) file
        raise _fault(uri, f"cannot open {db}{' for writing' if write else ''} ({exc.strerror})",
                     f"give yourself access (chmod u+rw {db})") from None
    if header and not header.startswith(SQLITE_MAGIC):
        raise _fault(uri, f"{db} is not a SQLite database (it starts with {header[:16]!r})", "move it away")
    damage = _damage(uri, db, header)
    if damage:
        raise _fault(uri, f"{db} is damaged ({damage})",
                     f"restore it from a backup or move it away to start an empty store "
                     f"(`sqlite3 {db} .recover` may save its runs)")


def _check_writable_folder(uri: str, folder: Path, what: str, todo: str) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise _fault(uri, f"{what} {folder} is not writable ({exc.strerror})", todo) from None


def _damage(uri: str, db: Path, header: bytes) -> str | None:
    """What SQLite says is wrong with the file, or None. Cheap: the full check only for a short file."""
    try:
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=BUSY_TIMEOUT_MS / 1000)) as con:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if _shorter_than_header_says(db, header):  # truncated: let SQLite look at every page
                problems = [row[0] for row in con.execute("PRAGMA quick_check(3)")]
                return None if problems == ["ok"] else "; ".join(problems)
    except sqlite3.OperationalError as exc:  # could not open or read it (busy, no access): not damage
        raise _fault(uri, f"cannot read {db} ({exc})",
                     "check that no process holds it and that you can read it") from None
    except sqlite3.DatabaseError as exc:  # 'file is not a database', 'database disk image is malformed'
        return str(exc)
    return None


def _shorter_than_header_says(db: Path, header: bytes) -> bool:
    if len(header) < 100 or header[24:28] != header[92:96]:  # the page count is only valid if these match
        return False
    page_size = int.from_bytes(header[16:18], "big")
    pages = int.from_bytes(header[28:32], "big")
    return db.stat().st_size < pages * (65536 if page_size == 1 else page_size)


def check_artifacts(uri: str, location: str | None) -> None:
    """Raise StoreError if a local artifact location cannot be written (remote ones are not checked)."""
    if not location:
        return
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return
    folder = Path(unquote(parsed.path) if parsed.scheme == "file" else location)
    todo = "make it writable (a new experiment name also gets a new folder)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fault(uri, f"cannot create the artifact folder {folder} ({exc.strerror})", todo) from None
    _check_writable_folder(uri, folder, "the artifact folder", todo)


@contextmanager
def opened(uri: str):
    """MLflow's first use of `uri` in this process: checked, locked (local SQLite), its faults as StoreError.

    Inside, MLflow's store for `uri` exists (created and migrated if new); the lock is held until the
    block ends, so what the caller creates there (an experiment) is not raced by another process.
    """
    _set_busy_timeout()
    db = sqlite_path(uri)
    if db is not None:
        _check_folder(uri, db, write=True)  # the lock file goes there too
    with _locked(uri, db):
        if db is not None:
            _check_file(uri, db, write=True)  # under the lock: never a store another process is making
            _use_wal(db)
        _open_with_mlflow(uri)
        yield


@contextmanager
def _locked(uri: str, db: Path | None):
    if db is None:
        yield
        return
    from filelock import FileLock, Timeout

    lock = FileLock(db.with_name(db.name + ".lock"), timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise _fault(uri, f"another process has held {lock.lock_file} for {LOCK_TIMEOUT_S} s "
                          f"(creating or upgrading the store)", "wait for it to finish or stop it") from None
    try:
        yield
    finally:
        lock.release()


def _use_wal(db: Path) -> None:
    """Switch the database to WAL (persistent, once per file); a store busy elsewhere keeps its mode."""
    try:
        with closing(sqlite3.connect(db, timeout=BUSY_TIMEOUT_MS / 1000)) as con:
            con.execute("PRAGMA journal_mode=WAL").fetchone()
    except sqlite3.OperationalError:  # another process holds it open; WAL is an optimisation
        pass


def _open_with_mlflow(uri: str) -> None:
    """Build MLflow's (cached) store for `uri`: migrations happen here, inside the lock."""
    import sqlalchemy
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

    try:
        MlflowClient(uri)
    except UnsupportedModelRegistryStoreURIException as exc:
        schemes = ", ".join(s for s in exc.supported_uri_schemes if s)
        raise StoreError(f"MLflow store {uri}: unknown scheme '{urlparse(uri).scheme}'; point --tracking-uri / "
                         f"MLFLOW_TRACKING_URI at a store MLflow knows ({schemes}), e.g. "
                         f"sqlite:///mlruns/mlflow.db or http://127.0.0.1:5000") from None
    except (MlflowException, sqlalchemy.exc.SQLAlchemyError) as exc:
        first = str(getattr(exc, "message", exc)).strip().splitlines()[0]
        raise _fault(uri, f"MLflow cannot open it ({first})", "fix the store") from None


def _set_busy_timeout() -> None:
    """Every SQLite connection SQLAlchemy opens in this process waits for a busy database.

    MLflow sets a busy timeout on its sessions only; its migrations and schema checks use SQLite's
    default 5 s, which concurrent first runs exceed. A listener on SQLAlchemy's Engine class is
    SQLAlchemy's documented way to set a pragma on every connection, so MLflow is not patched.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _on_connect):
        event.listen(Engine, "connect", _on_connect)


def _on_connect(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

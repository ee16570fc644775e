"""SQLite token store: one database file per slot.

Seed 004 "Data at Rest" and "Lockout", with the engine choice of
shared/notes/dependencies.md: WAL (readers never wait for a writer),
``synchronous=FULL`` (an acknowledged commit survives power loss),
``BEGIN IMMEDIATE`` for every write (the write lock is taken up front,
so two writers never deadlock on an upgrade), and a bounded
``busy_timeout`` followed by a few retries, then ``StoreBusy``
(CKR_FUNCTION_FAILED).  One file per slot (``slot-<N>.sqlite3``, 0600)
means initialising slot 0 never touches slot 1.

SQLite failures map to PKCS#11 codes (v3.0 section 5.1): disk full ->
CKR_DEVICE_MEMORY; read-only, I/O and corruption -> CKR_DEVICE_ERROR; a
file that is not ours -> CKR_TOKEN_NOT_RECOGNIZED.  Messages name the
file, never a secret.  A connection is per process (re-opened after
fork, as SQLite forbids carrying one across it) and shared by threads
under a lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from craton_hsm.core.pins import PinRecord
from craton_hsm.errors import (
    CKRError,
    DeviceError,
    DeviceMemory,
    TokenNotRecognized,
)
from craton_hsm.store.base import (
    StoreBusy,
    StoredObject,
    TokenState,
    next_failures,
)
from craton_hsm.store.codec import decode_attrs, encode_attrs
from craton_hsm.store.schema import APPLICATION_ID, SCHEMA, SCHEMA_VERSION
from craton_hsm.store.signal import ChangeSignal, signal_path

BUSY_RETRIES = 3
_T = TypeVar("_T")


def slot_path(data_dir: Path, slot_id: int) -> Path:
    return data_dir / f"slot-{slot_id}.sqlite3"


def translate(exc: sqlite3.Error, path: Path) -> CKRError:
    """The CKRError for an SQLite failure on ``path``."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    name = getattr(exc, "sqlite_errorname", type(exc).__name__)
    if code == sqlite3.SQLITE_FULL:
        return DeviceMemory(f"token file {path}: disk full")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreBusy(f"token file {path} is locked by another process")
    if code == sqlite3.SQLITE_NOTADB:
        return TokenNotRecognized(f"{path} is not a Craton HSM token file")
    if code == sqlite3.SQLITE_CORRUPT:
        return DeviceError(f"token file {path} is corrupted")
    if code == sqlite3.SQLITE_READONLY:
        return DeviceError(f"token file {path} is read-only")
    return DeviceError(f"token file {path}: {name}")


class SqliteSlotStore:
    """A ``SlotStore`` in ``<data_dir>/slot-<N>.sqlite3``."""

    def __init__(self, path: Path, slot_id: int, busy_timeout_ms: int,
                 max_objects: int) -> None:
        self.path = path
        self.slot_id = slot_id
        self.busy_timeout_ms = busy_timeout_ms
        self.max_objects = max_objects
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._last_write = (0, 0)
        # (generation, object count) as of this process's last write or
        # count: valid while the generation has not moved, so the object
        # limit is checked without a count(*) scan of the uid index on
        # every create (issue 9; that scan grows with the token).
        self._counted: tuple[int, int] | None = None
        # The change counter beside the file (store/signal.py), opened
        # with the first connection, and (its value, the generation)
        # as of the last SQLite read that found it even.
        self._signal: ChangeSignal | None = None
        self._read_only = False
        self._seen: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"<SqliteSlotStore {self.path}>"

    # -- connection ------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # After fork the parent's handle is abandoned, not closed: closing
        # it here could release locks the parent still relies on.
        self._conn = None
        conn = self._open()
        self._conn, self._pid = conn, os.getpid()
        if self._signal is None:
            self._signal = ChangeSignal(signal_path(self.path),
                                        writable=not self._read_only)
        return conn

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL
                                 | os.O_WRONLY, 0o600))
        try:
            return self._open_rw()
        except sqlite3.OperationalError as e:
            code = getattr(e, "sqlite_errorcode", 0) & 0xFF
            if code not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
                raise
        # A read-only data directory or mount: reads keep working, every
        # write is CKR_DEVICE_ERROR (SQLITE_READONLY via translate()).
        return self._open_ro()

    def _open_ro(self) -> sqlite3.Connection:
        self._read_only = True
        uri = f"file:{self.path}?mode=ro"
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                   timeout=self.busy_timeout_ms / 1000,
                                   check_same_thread=False)
            self._check_identity(conn)
        except sqlite3.OperationalError:
            # WAL mode needs the -shm file, which cannot be created on a
            # read-only mount.  With no -wal left (clean shutdown) the main
            # file holds every commit and nobody can change it: immutable.
            if wal.exists() and wal.stat().st_size > 0:
                raise
            conn = sqlite3.connect(uri + "&immutable=1", uri=True,
                                   isolation_level=None,
                                   check_same_thread=False)
            self._check_identity(conn)
        return conn

    def _open_rw(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms
                               / 1000, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._check_identity(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._create_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_identity(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if app_id == 0 and version == 0 and tables[0] == 0:
            return                          # a new, empty file
        if app_id != APPLICATION_ID:
            raise TokenNotRecognized(f"{self.path} is an SQLite database of "
                                     "another application, not a token")
        if version != SCHEMA_VERSION:
            raise TokenNotRecognized(
                f"token file {self.path} has schema version {version}; "
                f"this module reads version {SCHEMA_VERSION}")

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                for stmt in SCHEMA:
                    conn.execute(stmt)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """Serialise threads and translate SQLite errors."""
        with self._lock:
            try:
                yield self._connection()
            except (sqlite3.Error, OSError) as e:
                raise self._fail(e) from None

    def _write(self, body: Callable[[sqlite3.Connection], object],
               delta: int | None = None, *, count: int | None = None
               ) -> None:
        """``body`` in one write transaction (``_transact``); the
        generation moves if rows changed.

        ``delta`` is how the body changes the object count (``None``:
        unknown, the kept count is dropped); ``count`` is the object
        count the body leaves, whatever it was before."""
        def run(conn: sqlite3.Connection) -> tuple[int, int]:
            start = _generation(conn)
            before = conn.total_changes
            body(conn)
            if conn.total_changes == before:
                return start, start
            conn.execute(_BUMP)
            return start, start + 1

        with self._lock:
            start, end = self._transact(run)
            self._wrote(start, end, delta)
            if count is not None:
                # Still under the lock: no other thread's write between.
                self._counted = (end, count)

    def _wrote(self, start: int, end: int, delta: int | None) -> None:
        """Record a committed write from ``start`` to ``end`` (caller
        holds the lock)."""
        self._last_write = (start, end)
        counted = self._counted
        self._counted = None if delta is None or counted is None or \
            counted[0] != start else (end, counted[1] + delta)

    def _fail(self, exc: sqlite3.Error | OSError) -> CKRError:
        """The CKRError for an exception out of SQLite or the file
        system, as ``_guard`` maps them.  (The hot paths below use this
        instead of ``_guard``: a generator context manager costs more
        than the statement it wraps.)"""
        if isinstance(exc, sqlite3.Error):
            return translate(exc, self.path)
        # Creating the file failed: missing or unwritable dir.
        return DeviceError(f"token file {self.path}: {exc.strerror}")

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, then mark the write in the change signal;
        the caller ends it (``_end_write``) after COMMIT or ROLLBACK."""
        # busy_timeout already waited inside SQLite; a few retries cover
        # the rare case where SQLite reports BUSY without waiting.
        for attempt in range(BUSY_RETRIES):
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as e:
                busy = (getattr(e, "sqlite_errorcode", 0) & 0xFF) in (
                    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                if not busy or attempt == BUSY_RETRIES - 1:
                    raise
        if self._signal is not None:
            try:
                self._signal.begin_write()
            except OSError:
                # Unmarked, the write could go unseen by other
                # processes: it is not made.
                _rollback(conn)
                raise

    def _end_write(self) -> None:
        if self._signal is not None:
            self._signal.end_write()

    # -- token record ----------------------------------------------------

    def load_state(self) -> TokenState | None:
        with self._guard() as conn:
            cur = conn.execute("SELECT * FROM token")
            row = cur.fetchone()
            cols = [d[0] for d in cur.description]
        if row is None:
            return None
        return _state_from_row(self.path, dict(zip(cols, row, strict=True)))

    def init_token(self, state: TokenState) -> None:
        # One transaction: the objects and the old wrapped master keys go
        # together, so old sealed secrets can never be opened again.
        def replace(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM objects")
            conn.execute("DELETE FROM token")
            _insert_state(conn, state)
        self._write(replace, count=0)

    def save_state(self, state: TokenState) -> None:
        def replace(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM token")
            _insert_state(conn, state)
        self._write(replace, delta=0)

    def record_login(self, role: str, success: bool) -> int:
        column = {"so": "so_failures", "user": "user_failures"}.get(role)
        if column is None:
            raise ValueError(f"unknown role {role!r}")

        def count(conn: sqlite3.Connection) -> tuple[int, int, int]:
            start = _generation(conn)
            row = conn.execute(f"SELECT {column} FROM token").fetchone()
            if row is None:
                raise TokenNotRecognized(
                    f"slot {self.slot_id}: token not initialised")
            new = next_failures(role, success, int(row[0]))
            if new == row[0]:
                return start, start, new
            conn.execute(f"UPDATE token SET {column} = ?", (new,))
            conn.execute(_BUMP)
            return start, start + 1, new

        with self._guard() as conn:
            # The common case -- a correct PIN, no failures counted --
            # writes nothing (so a read-only token can still log in).
            row = conn.execute(f"SELECT {column} FROM token").fetchone()
            if success and row is not None and row[0] == 0:
                return 0
            # The read and the update share one IMMEDIATE transaction,
            # so concurrent failures in two processes both count.
            start, end, new = self._transact(count)
            self._wrote(start, end, 0)
        return new

    # -- objects ---------------------------------------------------------

    def list_objects(self) -> list[StoredObject]:
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT uid, attrs, secret FROM objects ORDER BY uid"
            ).fetchall()
        return [_object(self.path, *r) for r in rows]

    def get_object(self, uid: str) -> StoredObject | None:
        with self._guard() as conn:
            row = conn.execute("SELECT uid, attrs, secret FROM objects "
                               "WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else _object(self.path, *row)

    def put_object(self, obj: StoredObject) -> None:
        """Insert or replace one object: one IMMEDIATE transaction of
        four statements (issue 9: C_CreateObject of a token object),
        committed (and so fsynced, ``synchronous = FULL``) before this
        returns."""
        attrs = obj.blob if obj.blob is not None else encode_attrs(obj.attrs)
        row = (obj.uid, attrs, obj.secret)

        def body(conn: sqlite3.Connection) -> tuple[int, int, int | None]:
            # The generation and whether the uid exists, read under the
            # write lock: nobody else can move either before our COMMIT.
            start, exists = conn.execute(_PUT_CHECK, (obj.uid,)).fetchone()
            count = None if exists else self._room(conn, start)
            conn.execute(_PUT, row)
            conn.execute(_BUMP)
            return start, exists, count

        with self._lock:
            start, exists, count = self._transact(body)
            self._wrote(start, start + 1, 0 if exists else 1)
            if count is not None:
                self._counted = (start + 1, count + 1)

    def _transact(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """``body`` in one IMMEDIATE transaction, committed, or rolled
        back on any exception; SQLite and OS errors as CKR errors.  The
        caller holds ``self._lock``.  (A plain call: on the create and
        destroy paths a generator context manager costs more than the
        statements it wraps.)"""
        try:
            conn = self._connection()
            self._begin(conn)
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            finally:
                self._end_write()
        except (sqlite3.Error, OSError) as e:
            raise self._fail(e) from None
        return result

    def _room(self, conn: sqlite3.Connection, generation: int) -> int:
        """The object count at ``generation``; DeviceMemory when the
        token is full.  Counted only if another process wrote since this
        one last knew the count."""
        counted = self._counted
        if counted is not None and counted[0] == generation:
            count = counted[1]
        else:
            count = int(conn.execute(
                "SELECT count(*) FROM objects").fetchone()[0])
        if count >= self.max_objects:
            raise DeviceMemory(
                f"slot {self.slot_id}: token holds the maximum of "
                f"{self.max_objects} objects")
        return count

    def delete_object(self, uid: str) -> bool:
        def body(conn: sqlite3.Connection) -> tuple[int, bool]:
            start = _generation(conn)
            deleted = conn.execute(_DELETE, (uid,)).rowcount > 0
            if deleted:
                conn.execute(_BUMP)
            return start, deleted

        with self._lock:
            start, deleted = self._transact(body)
            self._wrote(start, start + deleted, -deleted)
            return deleted

    def count_objects(self) -> int:
        with self._guard() as conn:
            return int(conn.execute(
                "SELECT count(*) FROM objects").fetchone()[0])

    def generation(self) -> int:
        """Read before every use of a token object (Token.sync): from
        SQLite only when the change signal moved since the last read
        (store/signal.py), so without the generator of _guard."""
        signal = self._signal
        mark = None if signal is None else signal.read()
        seen = self._seen
        if mark is not None and seen is not None and seen[0] == mark:
            return seen[1]
        with self._lock:
            try:
                conn = self._connection()
                if signal is None and self._signal is not None:
                    # The first call opened the file and its signal.
                    mark = self._signal.read()
                value = _generation(conn)
            except (sqlite3.Error, OSError) as e:
                raise self._fail(e) from None
            # Read before the generation: whatever was committed when
            # the mark was even is in ``value``.
            if mark is not None and mark % 2 == 0:
                self._seen = (mark, value)
            return value

    def touch(self) -> None:
        """An empty write transaction: tells every process using the
        file to read it again (after a restore wrote it through the
        backup API, which cannot mark the change signal itself)."""
        self._write(lambda _conn: None, delta=None)

    def last_write(self) -> tuple[int, int]:
        return self._last_write

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            if self._signal is not None:
                self._signal.close()
            self._signal, self._seen = None, None


_BUMP = "UPDATE generation SET value = value + 1"
_PUT_CHECK = ("SELECT value, EXISTS (SELECT 1 FROM objects WHERE uid = ?) "
              "FROM generation")
_PUT = "INSERT OR REPLACE INTO objects (uid, attrs, secret) VALUES (?, ?, ?)"
_DELETE = "DELETE FROM objects WHERE uid = ?"


def _generation(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM generation").fetchone()[0])


def _rollback(conn: sqlite3.Connection) -> None:
    # The transaction may already be gone (SQLite rolls back by itself
    # on some errors, e.g. SQLITE_FULL); the first error is the one to
    # report.
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


def _object(path: Path, uid: Any, attrs: Any, secret: Any) -> StoredObject:
    if not isinstance(uid, str) or not isinstance(attrs, bytes) or \
            not isinstance(secret, bytes | None):
        raise DeviceError(f"token file {path}: malformed object row")
    try:
        decoded = decode_attrs(attrs)
    except CKRError as e:
        # One damaged record must not make the whole slot unreadable:
        # it is returned marked, and only that object reports the error.
        return StoredObject(uid, {}, secret,
                            damage=f"token file {path}: object {uid}: {e}",
                            blob=attrs)
    return StoredObject(uid, decoded, secret, blob=attrs)


def _pin_columns(prefix: str, rec: PinRecord | None) -> dict[str, Any]:
    return {f"{prefix}_kdf": rec.kdf if rec else None,
            f"{prefix}_iterations": rec.iterations if rec else None,
            f"{prefix}_salt": rec.salt if rec else None,
            f"{prefix}_verifier": rec.verifier if rec else None}


def _insert_state(conn: sqlite3.Connection, st: TokenState) -> None:
    row: dict[str, Any] = {
        "serial": st.serial, "label": bytes(st.label),
        "mk_wrapped_so": st.mk_wrapped_so,
        "mk_wrapped_user": st.mk_wrapped_user,
        "so_failures": st.so_failures, "user_failures": st.user_failures,
        "created_at": st.created_at,
        **_pin_columns("so_pin", st.so_pin),
        **_pin_columns("user_pin", st.user_pin),
    }
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f"INSERT INTO token ({names}) VALUES ({marks})",
                 tuple(row.values()))


def _pin_from_row(row: dict[str, Any], prefix: str) -> PinRecord | None:
    if row[f"{prefix}_kdf"] is None:
        return None
    return PinRecord(row[f"{prefix}_kdf"], int(row[f"{prefix}_iterations"]),
                     bytes(row[f"{prefix}_salt"]),
                     bytes(row[f"{prefix}_verifier"]))


def _state_from_row(path: Path, row: dict[str, Any]) -> TokenState:
    try:
        return _state(row)
    except (TypeError, ValueError) as e:
        raise DeviceError(f"token file {path}: malformed token record "
                          f"({type(e).__name__})") from None


def _state(row: dict[str, Any]) -> TokenState:
    return TokenState(
        serial=row["serial"], label=bytes(row["label"]),
        so_pin=_pin_from_row(row, "so_pin"),
        user_pin=_pin_from_row(row, "user_pin"),
        mk_wrapped_so=row["mk_wrapped_so"],
        mk_wrapped_user=row["mk_wrapped_user"],
        so_failures=int(row["so_failures"]),
        user_failures=int(row["user_failures"]),
        created_at=row["created_at"])

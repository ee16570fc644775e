"""Online backup and restore of one slot's SQLite token file.

Backup holds one read transaction on the slot file while SQLite's
online-backup API (sqlite3_backup_step) copies its pages into memory.
In WAL mode a read transaction is a fixed snapshot, so writers in other
processes keep committing and the copy is still one consistent state;
the token row and object count for the header are read inside the same
snapshot.  The copy must pass ``PRAGMA integrity_check`` before it is
sealed (backup/container.py) and written, 0600, via a temporary file and
an atomic rename.

Restore authenticates the whole archive before touching the target,
checks the snapshot (integrity, application id, schema version, token
serial and creation time equal to the header's), then copies it into
``slot-<N>.sqlite3`` with the backup API as one write transaction, so a
process using the data dir sees the old token or the new one, never a
mix.  Restored keys work unchanged: sealed secrets are bound to the
token serial and object uid (core/vault.py), which restore preserves.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from craton_hsm.backup import container
from craton_hsm.backup.container import (
    ArchiveError,
    ArchiveTampered,
    Header,
    Progress,
)
from craton_hsm.errors import DeviceError, TokenNotRecognized
from craton_hsm.store.schema import APPLICATION_ID, SCHEMA_VERSION
from craton_hsm.store.sqlite import SqliteSlotStore, slot_path, translate

PAGES_PER_STEP = 64
# A header dated this far ahead of the clock is refused: clocks drift a
# little, but an archive from the future is a forgery or a broken clock.
FUTURE_SKEW = timedelta(days=1)


class ArchiveTooOld(ArchiveError):
    """The archive is older than the permitted maximum age."""


class TargetInUse(ArchiveError):
    """The target slot holds an initialised token and --force is off."""


@dataclass(frozen=True)
class Restored:
    header: Header
    slot: int
    path: Path


def _utc(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def _sqlite(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as e:
        raise translate(e, path) from None


def _identify(conn: sqlite3.Connection, what: str) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app_id != APPLICATION_ID or version != SCHEMA_VERSION:
        raise TokenNotRecognized(f"{what} is not a Craton HSM token file "
                                 f"of schema version {SCHEMA_VERSION}")


def _check_integrity(conn: sqlite3.Connection, what: str) -> None:
    row = conn.execute("PRAGMA integrity_check").fetchone()
    if row is None or row[0] != "ok":
        raise DeviceError(f"{what} fails the SQLite integrity check")


# -- backup -----------------------------------------------------------------

def _snapshot(path: Path, progress: Progress | None
              ) -> tuple[sqlite3.Connection, tuple[str, bytes, str], int]:
    """An in-memory copy of ``path`` plus the token row and object count,
    all from one read snapshot."""
    if not path.is_file():
        raise ArchiveError(f"{path} does not exist: the slot has no token")
    src = sqlite3.connect(f"file:{path}?mode=rw", uri=True,
                          isolation_level=None, timeout=5.0)
    try:
        _identify(src, str(path))
        src.execute("BEGIN")
        row = src.execute("SELECT serial, label, created_at FROM token"
                          ).fetchone()
        if row is None:
            raise ArchiveError(f"{path} holds no initialised token")
        count = int(src.execute("SELECT count(*) FROM objects").fetchone()[0])
        mem = sqlite3.connect(":memory:", isolation_level=None)

        def step(_status: int, remaining: int, total: int) -> None:
            if progress:
                progress("snapshot", total - remaining, total)
        src.backup(mem, pages=PAGES_PER_STEP, progress=step)
        src.execute("COMMIT")
    finally:
        src.close()
    _check_integrity(mem, f"snapshot of {path}")
    return mem, (str(row[0]), bytes(row[1]), str(row[2])), count


def _image(mem: sqlite3.Connection) -> bytes:
    data = bytearray(mem.serialize())
    # Bytes 18-19 of the file header say "WAL" (2) for a WAL database;
    # an in-memory image must say "rollback journal" (1) or SQLite will
    # not open it again.  Restore switches the target back to WAL.
    data[18] = data[19] = 1
    return bytes(data)


def create_backup(data_dir: Path, slot: int, out: Path,
                  passphrase: bytes, *, now: datetime | None = None,
                  overwrite: bool = False,
                  progress: Progress | None = None,
                  profile: str = "governance") -> Header:
    """Write an encrypted archive of ``slot``'s token to ``out``; its
    key comes from the password KDF of crypto ``profile``."""
    if out.exists() and not overwrite:
        raise ArchiveError(f"{out} already exists; pass --force to "
                           "replace it")
    path = slot_path(data_dir, slot)
    with _sqlite(path):
        mem, (serial, label, created), count = _snapshot(path, progress)
        try:
            image = _image(mem)
        finally:
            mem.close()
    fields = {"slot": slot, "token_serial": serial,
              "token_label": label.decode("utf-8", "replace").rstrip(" "),
              "token_created_at": created, "created_at": _iso(_utc(now)),
              "objects": count}
    header, key = container.new_header(passphrase, fields, len(image),
                                       profile)
    try:
        _write_atomic(out, lambda f: container.write(f, header, key, image,
                                                     progress))
    finally:
        key[:] = bytes(len(key))
    return header


def _write_atomic(out: Path, fill: Callable[[BinaryIO], None]) -> None:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# -- restore ----------------------------------------------------------------

def open_archive(archive: Path, passphrase: bytes,
                 progress: Progress | None = None
                 ) -> tuple[Header, sqlite3.Connection]:
    """Authenticate ``archive`` and load its snapshot into memory."""
    try:
        f = archive.open("rb")
    except OSError as e:
        raise ArchiveError(f"{archive}: {e.strerror}") from None
    with f:
        header, aad = container.read_header(f)
        size = os.fstat(f.fileno()).st_size
        if size - len(aad) != container.body_size(header):
            raise ArchiveTampered("archive is truncated or has extra bytes "
                                  f"({size - len(aad)} body bytes, header "
                                  f"says {container.body_size(header)})")
        key = container.unlock(header, passphrase)
        image = bytearray()
        try:
            for chunk in container.read_chunks(f, header, aad, key):
                image += chunk
                if progress:
                    progress("decrypt", len(image), header.plaintext_bytes)
        finally:
            key[:] = bytes(len(key))
    mem = sqlite3.connect(":memory:", isolation_level=None)
    try:
        mem.deserialize(bytes(image))
        _check_snapshot(mem, header)
    except sqlite3.Error:
        mem.close()
        raise ArchiveTampered("archive authenticated but its database "
                              "cannot be read") from None
    except BaseException:
        mem.close()
        raise
    return header, mem


def _check_snapshot(mem: sqlite3.Connection, header: Header) -> None:
    _check_integrity(mem, "archived token database")
    _identify(mem, "archived database")
    row = mem.execute("SELECT serial, created_at FROM token").fetchone()
    if row is None or (row[0], row[1]) != (header.token_serial,
                                          header.token_created_at):
        raise ArchiveTampered("archived token does not match the archive "
                              "header's serial and creation time")


def check_age(header: Header, max_age_days: int,
              now: datetime | None = None) -> None:
    """ArchiveTooOld unless ``header`` is at most ``max_age_days`` old."""
    try:
        made = datetime.strptime(header.created_at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise ArchiveTampered("archive creation time is malformed") from None
    made = made.replace(tzinfo=UTC)
    clock = _utc(now)
    if made - clock > FUTURE_SKEW:
        raise ArchiveTooOld(f"archive claims to be made at {header.created_at}"
                            ", in the future; check the system clock")
    age = clock - made
    if age > timedelta(days=max_age_days):
        raise ArchiveTooOld(
            f"archive was made {age.days} days ago ({header.created_at}); "
            f"the maximum accepted age is {max_age_days} days "
            "(--max-age-days or [backup] max_age_days)")


def restore_backup(archive: Path, data_dir: Path, passphrase: bytes, *,
                   max_age_days: int, slot: int | None = None,
                   force: bool = False, now: datetime | None = None,
                   slot_count: int | None = None,
                   progress: Progress | None = None) -> Restored:
    """Restore ``archive`` into ``slot`` (default: the archived slot)."""
    header, mem = open_archive(archive, passphrase, progress)
    try:
        check_age(header, max_age_days, now)
        target = header.slot if slot is None else slot
        if slot_count is not None and not 0 <= target < slot_count:
            raise ArchiveError(f"the archive is of slot {target}, which "
                               "this configuration does not have; pass "
                               "--slot")
        path = slot_path(data_dir, target)
        with _sqlite(path):
            _install(mem, path, force, progress)
            _announce(path, target)
    finally:
        mem.close()
    return Restored(header, target, path)


def _announce(path: Path, slot: int) -> None:
    """Move the slot's change signal (store/signal.py) so processes
    using the data dir reload the restored token at their next call:
    the backup API wrote it without the store's write protocol."""
    store = SqliteSlotStore(path, slot, busy_timeout_ms=5000,
                            max_objects=0)
    try:
        store.touch()
    finally:
        store.close()


def _install(mem: sqlite3.Connection, path: Path, force: bool,
             progress: Progress | None) -> None:
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    dest = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    try:
        gen = _target_generation(dest, path, force)
        # Other processes reload a slot when its generation changes, so
        # the restored value must differ from anything they have seen.
        mem.execute("UPDATE generation SET value = max(value, ?) + 1",
                    (gen,))

        def step(_status: int, remaining: int, total: int) -> None:
            if progress:
                progress("write", total - remaining, total)
        mem.backup(dest, pages=PAGES_PER_STEP, progress=step)
        dest.execute("PRAGMA journal_mode = WAL")
        dest.execute("PRAGMA synchronous = FULL")
        _check_integrity(dest, str(path))
    finally:
        dest.close()
    os.chmod(path, 0o600)


def _target_generation(dest: sqlite3.Connection, path: Path,
                       force: bool) -> int:
    tables = dest.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if tables == 0:
        return 0                        # a new, empty file
    _identify(dest, str(path))          # never overwrite a foreign file
    row = dest.execute("SELECT serial FROM token").fetchone()
    if row is not None and not force:
        raise TargetInUse(f"{path} already holds an initialised token "
                          f"(serial {row[0]}); restoring replaces it and "
                          "all its objects: pass --force to do it")
    return int(dest.execute("SELECT value FROM generation").fetchone()[0])

"""SQLite specifics: files, processes, locking and damaged files."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from craton_hsm._generated_ck import CKA
from craton_hsm.config import Config
from craton_hsm.errors import (
    DeviceError,
    DeviceMemory,
    TokenNotRecognized,
)
from craton_hsm.store import open_slot_store
from craton_hsm.store.base import StoreBusy, StoredObject
from craton_hsm.store.sqlite import SqliteSlotStore, slot_path, translate

from .conftest import make_state


def _obj(uid: str) -> StoredObject:
    return StoredObject(uid, {CKA.LABEL: uid.encode()}, None)


def test_file_per_slot_mode_0600(config: Config) -> None:
    store = open_slot_store(config, 3)
    store.init_token(make_state())
    path = config.data_dir / "slot-3.sqlite3"
    assert path == slot_path(config.data_dir, 3)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    mode = path.with_name(path.name + "-wal").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_commits_are_full_sync_wal(config: Config) -> None:
    """The durability settings every acknowledged write relies on
    (docs/storage.md "Crash safety"): WAL with synchronous = FULL on the
    store's own connection, so each COMMIT fsyncs the log."""
    store = open_slot_store(config, 0)
    assert isinstance(store, SqliteSlotStore)
    store.init_token(make_state())
    store.put_object(_obj("a"))
    conn = store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert not conn.in_transaction
    store.close()


def test_two_instances_see_each_other(config: Config) -> None:
    a, b = open_slot_store(config, 0), open_slot_store(config, 0)
    a.init_token(make_state())
    gen = b.generation()
    assert b.load_state() == make_state() or b.load_state() is not None
    b.put_object(_obj("from-b"))
    assert a.get_object("from-b") == _obj("from-b")
    assert a.generation() != gen
    assert a.record_login("so", False) == 1
    assert b.record_login("so", False) == 2
    a.close()
    b.close()


def test_init_token_leaves_other_slots_untouched(config: Config) -> None:
    s0, s1 = open_slot_store(config, 0), open_slot_store(config, 1)
    s0.init_token(make_state("AAAAAAAAAAAAAAAA"))
    s1.init_token(make_state("BBBBBBBBBBBBBBBB"))
    s1.put_object(_obj("keep"))
    s0.put_object(_obj("drop"))
    path1 = slot_path(config.data_dir, 1)
    before = (path1.read_bytes(), s1.generation())
    s0.init_token(make_state("CCCCCCCCCCCCCCCC"))
    assert s0.list_objects() == []
    assert (path1.read_bytes(), s1.generation()) == before
    assert [o.uid for o in s1.list_objects()] == ["keep"]


def test_object_limit_counts_other_instances_writes(config: Config) -> None:
    """The object count a store keeps between its writes is dropped when
    another connection (another process) wrote: the limit of 5 holds
    over both."""
    a, b = open_slot_store(config, 0), open_slot_store(config, 0)
    a.init_token(make_state())
    for i in range(3):
        a.put_object(_obj(f"a{i}"))
    b.put_object(_obj("b0"))
    b.put_object(_obj("b1"))
    with pytest.raises(DeviceMemory):
        a.put_object(_obj("a3"))
    a.put_object(_obj("b1"))                # replacing is still allowed
    assert b.delete_object("a0")
    a.put_object(_obj("a3"))
    with pytest.raises(DeviceMemory):
        b.put_object(_obj("b2"))
    assert a.count_objects() == b.count_objects() == 5
    a.close()
    b.close()


def test_object_limit_is_exact_under_threads(config: Config) -> None:
    """Threads of one process share the store and its kept count: with
    creates and deletes racing, exactly the limit is ever stored."""
    cfg = dataclasses.replace(config, max_objects_per_token=60,
                              busy_timeout_ms=5000)
    store = open_slot_store(cfg, 0)
    other = open_slot_store(cfg, 0)         # a second "process" writing
    store.init_token(make_state())
    refused: list[int] = []

    def work(n: int) -> None:
        s = other if n == 0 else store
        for i in range(40):
            try:
                s.put_object(_obj(f"t{n}-{i}"))
            except DeviceMemory:
                refused.append(n)
            if i % 10 == 9:
                s.delete_object(f"t{n}-{i - 5}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # 160 creates against at most 16 deletes: the limit was reached.
    assert refused
    assert store.count_objects() == other.count_objects() <= 60
    # Both kept counts are exact: the 61st object is refused, not the
    # 60th, nor the 62nd.
    with pytest.raises(DeviceMemory):
        for i in range(61):
            store.put_object(_obj(f"fill-{i}"))
    assert store.count_objects() == 60
    with pytest.raises(DeviceMemory):
        other.put_object(_obj("one-more"))
    store.close()
    other.close()


def _child_write(data_dir: str) -> None:
    store = open_slot_store(Config(data_dir=Path(data_dir)), 0)
    store.put_object(_obj("from-child"))
    store.record_login("user", False)
    store.close()


def _child_reuse(store: SqliteSlotStore) -> None:
    # The parent's connection is inherited; the store must reopen.
    store.put_object(_obj("after-fork"))


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_other_process_write_is_seen(config: Config, method: str) -> None:
    store = open_slot_store(config, 0)
    store.init_token(make_state())
    gen = store.generation()
    ctx: Any = multiprocessing.get_context(method)
    proc = ctx.Process(target=_child_write, args=(str(config.data_dir),))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    assert store.generation() != gen
    assert store.get_object("from-child") == _obj("from-child")
    state = store.load_state()
    assert state is not None and state.user_failures == 1


def test_store_reopens_after_fork(config: Config) -> None:
    store = open_slot_store(config, 0)
    store.init_token(make_state())
    assert isinstance(store, SqliteSlotStore)
    proc = multiprocessing.get_context("fork").Process(
        target=_child_reuse, args=(store,))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    assert store.get_object("after-fork") == _obj("after-fork")


def test_locked_database_raises_store_busy(config: Config) -> None:
    store = open_slot_store(config, 0)
    store.init_token(make_state())
    raw = sqlite3.connect(slot_path(config.data_dir, 0),
                          isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy, match="locked"):
            store.put_object(_obj("x"))
        assert store.load_state() is not None   # readers still work
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    store.put_object(_obj("x"))


def test_foreign_file_not_recognized(config: Config) -> None:
    path = slot_path(config.data_dir, 0)
    path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(TokenNotRecognized, match=str(path)):
        open_slot_store(config, 0).load_state()


def test_foreign_sqlite_database_not_recognized(config: Config) -> None:
    path = slot_path(config.data_dir, 0)
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE other (x)")
    with pytest.raises(TokenNotRecognized, match="another application"):
        open_slot_store(config, 0).load_state()


def test_newer_schema_not_recognized(config: Config) -> None:
    open_slot_store(config, 0).init_token(make_state())
    with sqlite3.connect(slot_path(config.data_dir, 0)) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(TokenNotRecognized, match="schema version 99"):
        open_slot_store(config, 0).load_state()


def test_corrupt_object_row_is_marked_damaged_not_fatal(
        config: Config) -> None:
    # A row whose attributes do not decode is returned marked, so only
    # that object reports CKR_DEVICE_ERROR; the other rows stay usable.
    store = open_slot_store(config, 0)
    store.init_token(make_state())
    store.put_object(_obj("good"))
    with sqlite3.connect(slot_path(config.data_dir, 0)) as raw:
        raw.execute("INSERT INTO objects VALUES ('bad', x'01ffff', NULL)")
    got = {o.uid: o for o in store.list_objects()}
    assert got["good"].damage is None and got["good"].attrs
    assert got["bad"].attrs == {}
    assert got["bad"].damage is not None and "object bad" in got["bad"].damage
    assert store.get_object("bad").damage == got["bad"].damage


def test_damaged_file_is_ckr_error_not_traceback(config: Config) -> None:
    store = open_slot_store(config, 0)
    store.init_token(make_state())
    for i in range(20):
        store.put_object(_obj(f"o{i % 5}"))
    store.close()
    path = slot_path(config.data_dir, 0)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    data[100:len(data)] = bytes([0xA5]) * (len(data) - 100)
    path.write_bytes(bytes(data))
    with pytest.raises((DeviceError, TokenNotRecognized)):
        reopened = open_slot_store(config, 0)
        reopened.load_state()
        reopened.list_objects()


def _error(code: int, text: str) -> sqlite3.Error:
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorcode = code
    exc.sqlite_errorname = "X"
    return exc


@pytest.mark.parametrize(("code", "kind"), [
    (sqlite3.SQLITE_FULL, DeviceMemory),
    (sqlite3.SQLITE_BUSY, StoreBusy),
    (sqlite3.SQLITE_READONLY, DeviceError),
    (sqlite3.SQLITE_IOERR, DeviceError),
    (sqlite3.SQLITE_IOERR | (3 << 8), DeviceError),   # extended code
    (sqlite3.SQLITE_CORRUPT, DeviceError),
    (sqlite3.SQLITE_NOTADB, TokenNotRecognized),
])
def test_translate(code: int, kind: type[Exception]) -> None:
    err = translate(_error(code, "boom"), Path("/d/slot-0.sqlite3"))
    assert isinstance(err, kind)
    assert "/d/slot-0.sqlite3" in str(err)


def test_unwritable_dir_is_device_error(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    store = open_slot_store(Config(data_dir=missing), 0)
    with pytest.raises(DeviceError):
        store.load_state()
    assert not os.path.exists(missing)

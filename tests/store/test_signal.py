"""The change signal beside a token file (store/signal.py,
docs/storage.md "Concurrency").

Two ``SqliteSlotStore`` objects on one file have their own connections
and their own descriptors of the signal, as two processes do (the
multi-process behaviour through the built library is
tests/store/test_multiprocess.py).  What a store asked SQLite is seen
with the connection's trace callback: the point of the signal is that
an unchanged token costs no SQLite read, and a changed one always
does."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from craton_hsm._generated_ck import CKA
from craton_hsm.backup import archive
from craton_hsm.config import Config
from craton_hsm.store.base import StoredObject
from craton_hsm.store.signal import ChangeSignal, signal_path
from craton_hsm.store.sqlite import SqliteSlotStore, slot_path

from .conftest import make_state

PASSPHRASE = b"correct horse battery staple"


def _store(config: Config) -> SqliteSlotStore:
    return SqliteSlotStore(slot_path(config.data_dir, 0), 0,
                           busy_timeout_ms=200, max_objects=100)


def _obj(uid: str) -> StoredObject:
    return StoredObject(uid, {CKA.LABEL: uid.encode()}, None)


class Reads:
    """Statements a store's connection runs, from now on."""

    def __init__(self, store: SqliteSlotStore) -> None:
        self.seen: list[str] = []
        store._connection().set_trace_callback(self.seen.append)

    def count(self) -> int:
        n, self.seen[:] = len(self.seen), []
        return n


def _value(path: Path) -> int:
    return int.from_bytes(signal_path(path).read_bytes(), "little")


def test_unchanged_token_costs_no_sqlite_read(config: Config) -> None:
    a, b = _store(config), _store(config)
    a.init_token(make_state())
    gen = b.generation()
    reads = Reads(b)
    for _ in range(5):
        assert b.generation() == gen
    assert reads.count() == 0
    a.close()
    b.close()


def test_every_write_of_another_store_is_seen(config: Config) -> None:
    a, b = _store(config), _store(config)
    a.init_token(make_state())
    reads = Reads(b)
    seen = [b.generation()]
    for step in (lambda: a.put_object(_obj("x")),
                 lambda: a.put_object(_obj("y")),
                 lambda: a.delete_object("x"),
                 lambda: a.save_state(make_state()),
                 lambda: a.record_login("so", False)):
        reads.count()
        step()
        seen.append(b.generation())
        assert reads.count() == 1       # the change sent b to SQLite
        assert seen[-1] == a.generation()
    assert len(set(seen)) == len(seen)  # and each was a new generation
    a.close()
    b.close()


def test_signal_is_even_between_writes_and_odd_during_one(
        config: Config) -> None:
    store = _store(config)
    store.init_token(make_state())
    path = store.path
    before = _value(path)
    assert before % 2 == 0
    during: list[int] = []
    store._connection().set_trace_callback(
        lambda sql: during.append(_value(path)) if sql.startswith("INSERT")
        else None)
    store.put_object(_obj("x"))
    assert during and all(v % 2 == 1 for v in during)
    assert _value(path) == before + 2
    assert os.stat(signal_path(path)).st_mode & 0o777 == 0o600
    store.close()


def test_writer_that_died_mid_write_only_slows_readers(
        config: Config) -> None:
    """A value left odd (its writer was killed between its two marks)
    sends every check to SQLite, so no commit is missed; the next
    write makes it even again."""
    a, b = _store(config), _store(config)
    a.init_token(make_state())
    path = a.path
    b.generation()
    dead = ChangeSignal(signal_path(path), writable=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    dead.begin_write()
    db.execute("UPDATE generation SET value = value + 1")
    db.execute("COMMIT")                # ... and no end_write: killed
    db.close()
    dead.close()
    assert _value(path) % 2 == 1
    reads = Reads(b)
    for _ in range(3):
        assert b.generation() == a.generation()
        assert reads.count() == 1
    a.put_object(_obj("x"))
    assert _value(path) % 2 == 0
    assert b.generation() == a.generation()
    reads.count()
    assert b.generation() == a.generation()
    assert reads.count() == 0
    a.close()
    b.close()


def test_damaged_or_missing_signal_never_hides_a_commit(
        config: Config) -> None:
    a, b = _store(config), _store(config)
    a.init_token(make_state())
    path = signal_path(a.path)
    b.generation()
    for damage in (lambda: path.write_bytes(b""),
                   lambda: path.write_bytes(b"\x07"),
                   lambda: os.truncate(path, 3)):
        damage()
        a.put_object(_obj("x"))
        assert b.generation() == a.generation()
    a.close()
    b.close()
    path.unlink()
    c = _store(config)
    gen = c.generation()
    c.put_object(_obj("y"))
    assert c.generation() == gen + 1
    c.close()


def test_restore_into_a_live_data_dir_is_seen(config: Config,
                                              tmp_path: Path) -> None:
    """A restore writes the file through SQLite's backup API, not the
    store: it moves the signal itself, and a store that had the old
    token reads the restored one at its next check."""
    a = _store(config)
    a.init_token(make_state("00000000000000AA"))
    a.put_object(_obj("kept"))
    out = tmp_path / "slot0.chsm"
    archive.create_backup(config.data_dir, 0, out, PASSPHRASE)
    a.put_object(_obj("after-backup"))
    live = _store(config)
    before = live.generation()
    archive.restore_backup(out, config.data_dir, PASSPHRASE,
                           max_age_days=1, force=True)
    assert live.generation() != before
    assert [o.uid for o in live.list_objects()] == ["kept"]
    a.close()
    live.close()

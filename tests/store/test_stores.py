"""Behaviour shared by the SQLite and memory slot stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from craton_hsm._generated_ck import CKA
from craton_hsm.config import Config
from craton_hsm.core.pins import make_pin_record
from craton_hsm.errors import DeviceMemory, TokenNotRecognized
from craton_hsm.store import SlotStore, open_slot_store
from craton_hsm.store.base import StoredObject
from craton_hsm.store.memory import MemorySlotStore
from craton_hsm.store.sqlite import SqliteSlotStore

from .conftest import make_state


@pytest.fixture(params=["persistent", "memory"])
def store(request: pytest.FixtureRequest,
          config: Config) -> Iterator[SlotStore]:
    cfg = dataclasses.replace(config, storage_mode=request.param)
    s = open_slot_store(cfg, 0)
    yield s
    s.close()


def _obj(uid: str, secret: bytes | None = b"\x01sealed") -> StoredObject:
    return StoredObject(uid, {CKA.LABEL: uid.encode(), CKA.TOKEN: True,
                              CKA.ALLOWED_MECHANISMS: (1, 2)}, secret)


def test_mode_selects_implementation(config: Config) -> None:
    assert isinstance(open_slot_store(config, 0), SqliteSlotStore)
    mem = dataclasses.replace(config, storage_mode="memory")
    assert isinstance(open_slot_store(mem, 0), MemorySlotStore)


def test_fresh_store_is_uninitialised(store: SlotStore) -> None:
    assert store.load_state() is None
    assert store.list_objects() == []
    assert store.count_objects() == 0


def test_state_round_trip(store: SlotStore) -> None:
    state = make_state()
    store.init_token(state)
    assert store.load_state() == state
    user, _ = make_pin_record(b"user", 1000)
    state.user_pin, state.mk_wrapped_user = user, b"\x01u"
    store.save_state(state)
    loaded = store.load_state()
    assert loaded == state and loaded is not state


def test_objects_crud(store: SlotStore) -> None:
    store.init_token(make_state())
    store.put_object(_obj("a"))
    store.put_object(_obj("b", None))
    assert store.count_objects() == 2
    assert store.get_object("a") == _obj("a")
    assert store.get_object("b") == _obj("b", None)
    assert store.get_object("zz") is None
    replaced = StoredObject("a", {CKA.LABEL: b"new"}, None)
    store.put_object(replaced)
    assert store.get_object("a") == replaced
    assert sorted(o.uid for o in store.list_objects()) == ["a", "b"]
    assert store.delete_object("a") is True
    assert store.delete_object("a") is False
    assert store.count_objects() == 1


def test_generation_changes_on_every_write(store: SlotStore) -> None:
    seen = [store.generation()]

    def bumped() -> None:
        seen.append(store.generation())
        assert seen[-1] != seen[-2]

    store.init_token(make_state())
    bumped()
    store.put_object(_obj("a"))
    bumped()
    store.save_state(make_state())
    bumped()
    store.record_login("user", False)
    bumped()
    store.delete_object("a")
    bumped()
    # Reads and no-op writes leave it alone.
    store.list_objects()
    store.delete_object("missing")
    assert store.generation() == seen[-1]


def test_record_login_counts_and_resets(store: SlotStore) -> None:
    store.init_token(make_state())
    assert [store.record_login("user", False) for _ in range(3)] == [1, 2, 3]
    assert store.record_login("so", False) == 1
    state = store.load_state()
    assert state is not None
    assert (state.user_failures, state.so_failures) == (3, 1)
    assert store.record_login("user", True) == 0
    state = store.load_state()
    assert state is not None and state.user_failures == 0
    assert state.so_failures == 1


def test_record_login_needs_token(store: SlotStore) -> None:
    with pytest.raises(TokenNotRecognized):
        store.record_login("so", False)
    store.init_token(make_state())
    with pytest.raises(ValueError):
        store.record_login("admin", False)


def test_init_token_wipes_objects_and_old_state(store: SlotStore) -> None:
    store.init_token(make_state("AAAAAAAAAAAAAAAA"))
    store.put_object(_obj("a"))
    store.record_login("so", False)
    new = make_state("BBBBBBBBBBBBBBBB")
    store.init_token(new)
    assert store.list_objects() == []
    assert store.load_state() == new


def test_object_limit(store: SlotStore) -> None:
    store.init_token(make_state())
    for i in range(5):
        store.put_object(_obj(f"o{i}"))
    with pytest.raises(DeviceMemory):
        store.put_object(_obj("one-too-many"))
    store.put_object(_obj("o0", None))     # replacing is still allowed
    assert store.count_objects() == 5


def test_object_limit_follows_deletes(store: SlotStore) -> None:
    # The SQLite store keeps the count between writes (issue 9): deletes
    # and replacements must move it exactly, so the limit stays exact.
    store.init_token(make_state())
    for i in range(5):
        store.put_object(_obj(f"o{i}"))
    assert store.delete_object("o1") and store.delete_object("o3")
    assert not store.delete_object("o3")
    store.put_object(_obj("o4", None))                # a replacement
    store.put_object(_obj("n1"))
    store.put_object(_obj("n2"))
    with pytest.raises(DeviceMemory):
        store.put_object(_obj("n3"))
    assert store.count_objects() == 5
    store.init_token(make_state())                    # wipes: room again
    for i in range(5):
        store.put_object(_obj(f"p{i}"))
    with pytest.raises(DeviceMemory):
        store.put_object(_obj("p5"))


def test_refused_put_changes_nothing(store: SlotStore) -> None:
    store.init_token(make_state())
    for i in range(5):
        store.put_object(_obj(f"o{i}"))
    gen, last = store.generation(), store.last_write()
    with pytest.raises(DeviceMemory):
        store.put_object(_obj("x"))
    assert (store.generation(), store.last_write()) == (gen, last)
    assert store.get_object("x") is None


def test_repr_hides_secrets() -> None:
    obj = _obj("a", b"\x01topsecret")
    assert "topsecret" not in repr(obj)
    assert "wrapped" not in repr(make_state())

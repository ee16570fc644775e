"""Objects and the handle table (PKCS#11 v3.0 section 4, "Objects").

An ``Obj`` carries decoded attribute values.  Secret attributes of token
objects live sealed (AES-GCM under the token's master key) until a login
makes the master key available; ``open_secrets`` then merges them in and
``close_secrets`` drops them again at logout.  Key material the object
holds lives in the key-material arena (craton_hsm/secmem.py): the attrs
hold read-only views of slices the object owns (``held``), wiped by
``close_secrets`` and ``release`` (destroy, session close, C_Finalize).  Handles are process-local,
never reused, and stable for the life of the object in this process.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from craton_hsm import secmem
from craton_hsm._generated_ck import CKA
from craton_hsm.core import vault
from craton_hsm.errors import CKRError, UserNotLoggedIn

_log = logging.getLogger("craton_hsm")
# Shared by every object without opened secrets: an empty frozenset is
# not a singleton since Python 3.10, and costs 216 bytes per object.
NO_SECRETS: frozenset[int] = frozenset()
_UNIQUE_ID = int(CKA.UNIQUE_ID)


class Obj:
    """One object: its attributes, where it lives and its backend cache."""

    __slots__ = (
        "__weakref__",
        "_cache",
        "_uid",
        "attrs",
        "damage",
        "handle",
        "held",
        "sealed",
        "secret_types",
        "session",
        "slot_id",
        "stored",
    )

    def __init__(self, handle: int, uid: str, attrs: dict[int, Any],
                 slot_id: int, session: int | None = None,
                 sealed: bytes | None = None) -> None:
        self.handle = handle
        # The uid is CKA_UNIQUE_ID's value (dispatch/object.store_new):
        # kept once, as those bytes, unless attrs does not carry it
        # (profile objects).  Issue 9: the str beside it cost 81 bytes
        # per object.
        unique_id = attrs.get(_UNIQUE_ID)
        self._uid: str | None = (
            None if type(unique_id) is bytes and unique_id == uid.encode()
            else uid)
        self.attrs = attrs
        self.slot_id = slot_id
        self.session = session          # None for token objects
        self.sealed = sealed            # sealed secrets not yet opened
        # The public attributes as stored (store/codec.py encoding): the
        # sealed blob's AAD, and what a reload compares (token objects).
        self.stored: bytes | None = None
        # Parsed backend keys (mechanisms/*), made on the first use: most
        # objects are never used by a mechanism (issue 9, 64 bytes each).
        self._cache: dict[str, Any] | None = None
        self.secret_types: frozenset[int] = NO_SECRETS
        self.damage: str | None = None  # stored record unreadable: why
        # Arena slices attrs view; a shared empty tuple until the first
        # (issue 9: 10,000 session objects without key material).
        self.held: list[secmem.Secret] | tuple[()] = ()

    @property
    def uid(self) -> str:
        """The object's unique id (CKA_UNIQUE_ID; the token's store key)."""
        if self._uid is not None:
            return self._uid
        unique_id: bytes = self.attrs[_UNIQUE_ID]
        return unique_id.decode()

    @property
    def cache(self) -> dict[str, Any]:
        """Backend keys parsed from the attributes (cleared when they
        change or are wiped)."""
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        return cache

    def keep_secrets(self, types: Iterable[int]) -> None:
        """Move the byte values of ``types`` into arena slices owned by
        this object (a fresh copy even if the value is another object's
        view, so C_CopyObject's copy outlives its source)."""
        for t in types:
            value = self.attrs.get(t)
            if isinstance(value, (bytes, bytearray, memoryview)):
                kept = secmem.secret(value)
                if isinstance(value, bytearray):
                    vault.wipe(value)
                self.attrs[t] = kept.view
                self.held = [*self.held, kept]

    def release(self) -> None:
        """Wipe every arena slice this object holds (destroy, session
        close, C_Finalize); its attrs then refuse to be read."""
        held, self.held = self.held, ()
        for kept in held:
            kept.free()
        self._cache = None

    def __repr__(self) -> str:
        # Handle and uid only: never attribute values (issue 8).
        return f"<Obj handle={self.handle} uid={self.uid}>"

    @property
    def is_token(self) -> bool:
        return self.session is None

    @property
    def is_private(self) -> bool:
        return bool(self.attrs.get(CKA.PRIVATE, False))

    def open_secrets(self, mk: secmem.Secret | None, serial: str) -> None:
        """Merge the sealed secret attributes in; needs the master key."""
        if self.sealed is None or self.secret_types:
            return
        if mk is None:
            raise UserNotLoggedIn(
                f"object {self.handle}: key material needs a login")
        # Unopened, attrs holds exactly the public attributes stored.
        try:
            secrets = vault.open_sealed(mk.view, serial, self.uid,
                                        self.sealed, self.attrs,
                                        public_blob=self.stored)
        except CKRError as exc:
            # Secrets open on first use (issue 9), so this is where a
            # tampered record is found: logged (the message names the
            # uid, never a value) and raised to the caller; the other
            # objects keep working.
            _log.warning("%s", exc)
            raise
        for t, value in secrets.items():
            if isinstance(value, secmem.Secret):
                self.held = [*self.held, value]
                value = value.view
            self.attrs[t] = value
        self.secret_types = frozenset(secrets)
        self._cache = None

    def close_secrets(self) -> None:
        """Drop and wipe decrypted secrets (logout); the sealed form
        stays."""
        if self.sealed is None:
            return
        for t in self.secret_types:
            self.attrs.pop(t, None)
        self.secret_types = NO_SECRETS
        self.release()

    def changed(self) -> None:
        """Attributes changed: parsed backend keys are stale."""
        self._cache = None


class HandleTable:
    """All live objects of this process by handle; thread-safe.

    C_FindObjectsInit looks objects up through an index on CKA_LABEL,
    CKA_ID and CKA_CLASS (issue 9: a find by label among 10,000 objects
    must not visit them all).  The index only narrows the candidates;
    every candidate is still matched in full, so a stale entry can cost
    time but never a wrong answer.  It is kept by ``add`` and ``remove``
    (the only ways an object enters or leaves), and an object whose
    indexed attributes change in place goes through ``update``.

    A bucket is a bare handle while one object has the value (a label is
    usually unique) and a dict of handles (values None) from the second
    on; an object's keys are read from its attributes again when it
    leaves, not kept beside it (issue 9: peak memory with 10,000 session
    objects).  Dicts, not sets, for the large groups (a class, a
    session's objects): a set of 10,000 ints is 32,768 slots of 16 bytes,
    a dict 16,384 two-byte indices plus 24 bytes per entry.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = itertools.count(1)
        self._objects: dict[int, Obj] = {}
        # Attribute type -> value -> bucket (one dict per indexed type, so
        # no (type, value) tuple is kept per object).
        self._index: dict[int, dict[Any, int | dict[int, None]]] = {
            t: {} for t in INDEXED}
        # Session objects by their session (C_CloseSession destroys them).
        self._by_session: dict[int, dict[int, None]] = {}

    def new_handle(self) -> int:
        with self._lock:
            return next(self._next)

    def add(self, obj: Obj) -> None:
        """Add ``obj``, or replace (and re-index) the object of its
        handle."""
        with self._lock:
            self._unindex(obj.handle)
            self._objects[obj.handle] = obj
            self._index_obj(obj)

    def update(self, obj: Obj, changes: Mapping[int, Any]) -> None:
        """Apply ``changes`` to the attributes of ``obj`` (in the table)
        and re-index it: its old keys are read before the change."""
        with self._lock:
            self._unindex(obj.handle)
            obj.attrs.update(changes)
            self._objects[obj.handle] = obj
            self._index_obj(obj)

    def _index_obj(self, obj: Obj) -> None:
        handle = obj.handle
        for t, key in _keys(obj):
            index = self._index[t]
            bucket = index.get(key)
            if bucket is None:
                index[key] = handle
            elif isinstance(bucket, dict):
                bucket[handle] = None
            elif bucket != handle:
                index[key] = {bucket: None, handle: None}
        if obj.session is not None:
            self._by_session.setdefault(obj.session, {})[handle] = None

    def get(self, handle: int) -> Obj | None:
        return self._objects.get(handle)

    def remove(self, handle: int) -> Obj | None:
        with self._lock:
            self._unindex(handle)
            return self._objects.pop(handle, None)

    def _unindex(self, handle: int) -> None:
        old = self._objects.get(handle)
        if old is None:
            return
        if old.session is not None:
            owned = self._by_session.get(old.session)
            if owned is not None:
                owned.pop(handle, None)
                if not owned:
                    del self._by_session[old.session]
        for t, key in _keys(old):
            index = self._index[t]
            bucket = index.get(key)
            if bucket is None:
                continue
            if isinstance(bucket, dict):
                bucket.pop(handle, None)
                if len(bucket) == 1:
                    index[key] = next(iter(bucket))
                elif not bucket:
                    del index[key]
            elif bucket == handle:
                del index[key]

    def values(self) -> Iterator[Obj]:
        with self._lock:
            snapshot = list(self._objects.values())
        return iter(snapshot)

    def of_session(self, session: int) -> list[Obj]:
        """The session objects of ``session`` (without visiting the
        others)."""
        with self._lock:
            objects = self._objects
            return [objects[h] for h in self._by_session.get(session, ())
                    if h in objects]

    def candidates(self, template: Mapping[int, Any]) -> Iterator[Obj]:
        """The objects that may match ``template``: the smallest index
        bucket of its indexed attributes, else every object.  An object
        without the attribute cannot match (``matches``), so it is in no
        bucket."""
        with self._lock:
            best: dict[int, None] | tuple[int, ...] | None = None
            for t in INDEXED:
                if t in template:
                    key = _index_key(template[t])
                    if key is None:
                        continue
                    found = self._index[t].get(key, ())
                    bucket: dict[int, None] | tuple[int, ...] = (
                        found if isinstance(found, (dict, tuple))
                        else (found,))
                    if best is None or len(bucket) < len(best):
                        best = bucket
            if best is None:
                snapshot = list(self._objects.values())
            else:
                objects = self._objects
                snapshot = [objects[h] for h in best if h in objects]
        return iter(snapshot)


# Attributes applications find by (PKCS#11 v3.0 section 4.4: CKA_LABEL,
# CKA_ID; CKA_CLASS is in nearly every find template).
INDEXED: tuple[int, ...] = (int(CKA.LABEL), int(CKA.ID), int(CKA.CLASS))


def _keys(obj: Obj) -> Iterator[tuple[int, Any]]:
    attrs = obj.attrs
    for t in INDEXED:
        k = _index_key(attrs.get(t))
        if k is not None:
            yield t, k


def _index_key(value: Any) -> Any:
    """A hashable form equal values share (bytes for byte strings, int
    for numbers), or None: such a value is not indexed."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, int):
        return int(value)
    return None


def matches(obj: Obj, template: Mapping[int, Any]) -> bool:
    """C_FindObjects matching: every template attribute equal."""
    attrs = obj.attrs
    for t, v in template.items():
        if t not in attrs or attrs[t] != v:
            return False
    return True

"""Process-local token store (seed 004 "Data at Rest", in-memory mode).

Plain dicts behind a lock: nothing is ever written to disk, so the
token vanishes with the process -- persistence is impossible by
construction.  Each ``MemorySlotStore`` is its own token.
"""

from __future__ import annotations

import copy
import threading

from craton_hsm.errors import DeviceMemory, TokenNotRecognized
from craton_hsm.store.base import StoredObject, TokenState, next_failures
from craton_hsm.store.codec import encode_attrs


class MemorySlotStore:
    """A ``SlotStore`` kept in this process's memory."""

    def __init__(self, slot_id: int, max_objects: int) -> None:
        self.slot_id = slot_id
        self.max_objects = max_objects
        self._lock = threading.Lock()
        self._state: TokenState | None = None
        self._objects: dict[str, StoredObject] = {}
        self._generation = 0
        self._last_write = (0, 0)

    def __repr__(self) -> str:
        return f"<MemorySlotStore slot {self.slot_id}>"

    # Copies keep callers from mutating the stored record in place,
    # matching the sqlite store, where every load is a fresh object.

    def load_state(self) -> TokenState | None:
        with self._lock:
            return copy.deepcopy(self._state)

    def init_token(self, state: TokenState) -> None:
        with self._lock:
            self._objects.clear()
            self._state = copy.deepcopy(state)
            self._bump()

    def save_state(self, state: TokenState) -> None:
        with self._lock:
            self._state = copy.deepcopy(state)
            self._bump()

    def record_login(self, role: str, success: bool) -> int:
        with self._lock:
            st = self._state
            if st is None:
                raise TokenNotRecognized(
                    f"slot {self.slot_id}: token not initialised")
            old = st.so_failures if role == "so" else st.user_failures
            new = next_failures(role, success, old)
            if new != old:
                if role == "so":
                    st.so_failures = new
                else:
                    st.user_failures = new
                self._bump()
            return new

    def list_objects(self) -> list[StoredObject]:
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values()]

    def get_object(self, uid: str) -> StoredObject | None:
        with self._lock:
            return copy.deepcopy(self._objects.get(uid))

    def put_object(self, obj: StoredObject) -> None:
        with self._lock:
            if obj.uid not in self._objects and \
                    len(self._objects) >= self.max_objects:
                raise DeviceMemory(f"slot {self.slot_id}: token holds the "
                                   f"maximum of {self.max_objects} objects")
            stored = copy.deepcopy(obj)
            if stored.blob is None:
                # As the sqlite store returns it: the encoded record too.
                stored.blob = encode_attrs(stored.attrs)
            self._objects[obj.uid] = stored
            self._bump()

    def delete_object(self, uid: str) -> bool:
        with self._lock:
            if self._objects.pop(uid, None) is None:
                return False
            self._bump()
            return True

    def count_objects(self) -> int:
        with self._lock:
            return len(self._objects)

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def last_write(self) -> tuple[int, int]:
        with self._lock:
            return self._last_write

    def _bump(self) -> None:
        self._last_write = (self._generation, self._generation + 1)
        self._generation += 1

    def close(self) -> None:
        """Nothing to release; the data stays until the process ends."""

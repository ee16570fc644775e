"""The token store interface: one ``SlotStore`` per slot.

A slot's persistent state is its token record (PKCS#11 v3.0 section
2.5: label, serial, PINs, the per-role login-failure counters of seed
004 "Lockout") plus its token objects (section 4.4, CKA_TOKEN=TRUE).
Secret attributes reach the store only sealed (core/vault.py).
``generation()`` lets each process notice that another process changed
the slot, so it reloads only when needed; ``last_write()`` is the
generation this process's latest write transaction started from and
the one it committed, so a writer can tell whether another process
wrote in between (then it must reload, not just adopt the number).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from craton_hsm._generated_ck import CKR
from craton_hsm.core.pins import PinRecord
from craton_hsm.errors import CKRError
from craton_hsm.store.codec import StoreCorrupt

__all__ = ["ROLES", "SlotStore", "StoreBusy", "StoreCorrupt",
           "StoredObject", "TokenState", "next_failures"]

ROLES = ("so", "user")


class StoreBusy(CKRError):
    """Another process held the slot's write lock for too long.

    CKR_FUNCTION_FAILED, not CKR_DEVICE_ERROR: the token is fine and
    the same call may succeed if the application retries it.
    """

    rv = int(CKR.FUNCTION_FAILED)


@dataclass
class TokenState:
    serial: str                   # 16 printable chars, new per C_InitToken
    label: bytes                  # 32 bytes, blank padded
    so_pin: PinRecord | None
    user_pin: PinRecord | None
    mk_wrapped_so: bytes | None = field(repr=False)
    mk_wrapped_user: bytes | None = field(repr=False)
    so_failures: int = 0
    user_failures: int = 0
    created_at: str = ""          # ISO 8601 UTC


@dataclass
class StoredObject:
    uid: str                      # CKA_UNIQUE_ID, unique in the token
    attrs: dict[int, Any]         # non-secret attributes, decoded values
    secret: bytes | None = field(repr=False)   # vault.seal() output
    # Why the record is unusable (its attribute blob does not decode);
    # the token reports this on every use instead of failing the slot.
    damage: str | None = None
    # ``attrs`` encoded (store/codec.py) as stored: a writer that already
    # has it (the vault's AAD, core/token.py) saves a second encoding, a
    # reader compares and authenticates with it (issue 9).
    blob: bytes | None = field(default=None, repr=False, compare=False)


class SlotStore(Protocol):
    def load_state(self) -> TokenState | None: ...
    def init_token(self, state: TokenState) -> None: ...
    def save_state(self, state: TokenState) -> None: ...
    def record_login(self, role: str, success: bool) -> int: ...
    def list_objects(self) -> list[StoredObject]: ...
    def get_object(self, uid: str) -> StoredObject | None: ...
    def put_object(self, obj: StoredObject) -> None: ...
    def delete_object(self, uid: str) -> bool: ...
    def count_objects(self) -> int: ...
    def generation(self) -> int: ...
    def last_write(self) -> tuple[int, int]: ...
    def close(self) -> None: ...


def next_failures(role: str, success: bool, current: int) -> int:
    """Seed 004 "Lockout": success resets, failure increments."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return 0 if success else current + 1

"""Sessions and the operation lifecycle (PKCS#11 v3.0 sections 5.6, 5.2).

A session holds at most one active operation of each kind.  Any error
other than CKR_BUFFER_TOO_SMALL ends the operation (spec 5.2: "a call
that returns an error other than CKR_BUFFER_TOO_SMALL terminates the
active operation"); a NULL-buffer length query never consumes it.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from craton_hsm._generated_ck import CKF, CKR, CKS, CKU
from craton_hsm.core.limits import MAX_DATA
from craton_hsm.errors import (
    CKRError,
    DataLenRange,
    OperationActive,
    OperationNotInitialized,
)


class OpKind(enum.Enum):
    # Members are singletons compared by identity, so the identity hash
    # (in C) is right; Enum's own __hash__ hashes the name in Python, on
    # every dict lookup of the per-call paths (issue 9).
    __hash__ = object.__hash__

    FIND = "find"
    DIGEST = "digest"
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    SIGN = "sign"
    VERIFY = "verify"
    SIGN_RECOVER = "sign_recover"
    VERIFY_RECOVER = "verify_recover"
    MESSAGE_ENCRYPT = "message_encrypt"
    MESSAGE_DECRYPT = "message_decrypt"
    MESSAGE_SIGN = "message_sign"
    MESSAGE_VERIFY = "message_verify"


class OpState:
    """One active operation: the mechanism's op object plus protocol
    state (multi-part started, a result held for a too-small buffer).

    A plain slotted class, not a dataclass with a default_factory: one
    is made per *Init, on the hot path (issue 9); ``extra`` (used only
    by the message-based API) is made on first use."""

    __slots__ = ("_extra", "fed", "key_handle", "mechanism", "multipart",
                 "op", "pending", "pending_finishes")

    def __init__(self, op: Any, mechanism: int, key_handle: int = 0,
                 multipart: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
        self.op = op
        self.mechanism = mechanism
        self.key_handle = key_handle
        self.multipart = multipart
        self.pending: bytes | None = None
        # Whether the call that produced ``pending`` ends the operation
        # (a one-shot or C_*Final) or not (C_*Update).
        self.pending_finishes = False
        self.fed = 0
        self._extra = extra

    @property
    def extra(self) -> dict[str, Any]:
        """Per-operation state of the message-based API
        (dispatch/message.py)."""
        extra = self._extra
        if extra is None:
            extra = self._extra = {}
        return extra

    def feed(self, n: int) -> None:
        """Count one C_*Update input toward the operation's total, which
        is bounded like a single buffer (core/limits.py); past it,
        CKR_DATA_LEN_RANGE, and the caller's ``active`` block ends the
        operation (spec 5.2)."""
        self.multipart = True
        self.fed += n
        if self.fed > MAX_DATA:
            raise DataLenRange(f"multi-part input exceeds {MAX_DATA} bytes")


_RW = int(CKF.RW_SESSION)  # a plain int: IntFlag's ``&`` runs in Python


class Session:
    __slots__ = ("_iv_counters", "flags", "handle", "lock", "ops",
                 "slot_id", "token")

    def __init__(self, handle: int, slot_id: int, flags: int,
                 token: Any) -> None:
        self.handle = handle
        self.slot_id = slot_id
        self.flags = flags
        self.token = token
        # Held for the whole of each call on this session (abi/exports.py
        # ``_entry``, SERIALISED).
        self.lock = threading.Lock()
        self.ops: dict[OpKind, OpState] = {}
        self._iv_counters: dict[tuple[int, bytes], int] | None = None

    @property
    def iv_counters(self) -> dict[tuple[int, bytes], int]:
        """Next counter value of generated IVs, per (key handle, fixed
        IV field): outlives one message-based operation so an IV never
        repeats for a key in this session (dispatch/message.py).  Made
        on first use: most sessions never generate an IV."""
        counters = self._iv_counters
        if counters is None:
            counters = self._iv_counters = {}
        return counters

    @property
    def rw(self) -> bool:
        return bool(self.flags & _RW)

    @property
    def state(self) -> int:
        """The five-state machine (spec 5.6.1), read from the token's
        login role: never from a separate flag (seed invariant 6)."""
        role = self.token.login_role
        if role == CKU.SO:
            return int(CKS.RW_SO_FUNCTIONS)
        if role == CKU.USER:
            return int(CKS.RW_USER_FUNCTIONS if self.rw
                       else CKS.RO_USER_FUNCTIONS)
        return int(CKS.RW_PUBLIC_SESSION if self.rw
                   else CKS.RO_PUBLIC_SESSION)

    def begin(self, kind: OpKind, st: OpState) -> None:
        if kind in self.ops:
            raise OperationActive(f"{kind.value} operation already active")
        self.ops[kind] = st

    def end(self, kind: OpKind) -> None:
        self.ops.pop(kind, None)

    def get(self, kind: OpKind) -> OpState:
        try:
            return self.ops[kind]
        except KeyError:
            raise OperationNotInitialized(
                f"no active {kind.value} operation") from None

    @contextmanager
    def active(self, kind: OpKind) -> Iterator[OpState]:
        """Run a step of the active operation; a real error ends it."""
        st = self.get(kind)
        try:
            yield st
        except CKRError as exc:
            if exc.rv != CKR.BUFFER_TOO_SMALL:
                self.ops.pop(kind, None)
            raise
        except BaseException:
            self.ops.pop(kind, None)
            raise



def ending_on_error(session: Session, kind: OpKind,
                    fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` for the active ``kind`` operation: any error but
    CKR_BUFFER_TOO_SMALL ends the operation (spec 5.2)."""
    try:
        return fn(*args)
    except CKRError as exc:
        if exc.rv != CKR.BUFFER_TOO_SMALL:
            session.ops.pop(kind, None)
        raise
    except BaseException:
        session.ops.pop(kind, None)
        raise


class Written:
    """The value of an ``Out`` whose bytes ``deliver`` already wrote into
    the caller's buffer (``dest``): the ABI only sets the length."""

    __slots__ = ()


WRITTEN = Written()

# (length, bytes) -- bytes None means "length only": the ABI writes the
# length and answers CKR_OK for a NULL buffer or CKR_BUFFER_TOO_SMALL;
# WRITTEN means the output is already in the caller's buffer.
Out = tuple[int, bytes | Written | None]


def deliver(session: Session, kind: OpKind, capacity: int | None,
            size: int, make: Callable[[], bytes], *, exact: bool,
            finishes: bool, into: Callable[[Any], int] | None = None,
            dest: Any = None) -> Out:
    """The output-buffer protocol of spec 5.2, implemented once.

    ``size`` is the exact output length when ``exact`` (checked before
    any work) or an upper bound (then the result is computed, and kept
    for the caller's retry if it does not fit).

    ``into(dest)``, when given with ``dest`` (a writable view of the
    caller's ``capacity`` bytes), writes the result straight into the
    caller's buffer and returns its length: used only when ``size``
    (exact or upper bound) fits, so it can never need a retry, and it
    spares a whole-output copy (issue 9).

    A kept result is delivered only to a retry of the same kind of call:
    a C_*Update after a too-small C_*Final would otherwise take the
    final output and leave the operation active over a finished context
    (found by the C ABI fuzzer).  That
    call is refused with CKR_OPERATION_ACTIVE and the result stays for
    the retry (spec 5.2 keeps it for "a subsequent call").
    """
    st = session.get(kind)
    if st.pending is not None and st.pending_finishes != finishes:
        raise OperationActive("a result is waiting for the retry of the "
                              "call that produced it")
    # Inline ``session.active``: a real error ends the operation, a
    # too-small buffer does not (spec 5.2).
    try:
        if st.pending is not None:
            out = st.pending
        else:
            if capacity is None:
                return size, None
            if capacity < size:
                if exact:
                    return size, None
            elif into is not None and dest is not None:
                n = into(dest)
                if finishes:
                    session.ops.pop(kind, None)
                return n, WRITTEN
            out = make()
        if capacity is None or capacity < len(out):
            st.pending = out
            st.pending_finishes = finishes
            return len(out), None
        st.pending = None
        if finishes:
            session.ops.pop(kind, None)
        return len(out), out
    except CKRError as exc:
        if exc.rv != CKR.BUFFER_TOO_SMALL:
            session.ops.pop(kind, None)
        raise
    except BaseException:
        session.ops.pop(kind, None)
        raise

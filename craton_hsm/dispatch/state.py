"""C_GetOperationState / C_SetOperationState (PKCS#11 v3.0 5.6.8-9).

The saved state of a digest is an opaque 25-byte reference to a copy of
the hash context kept in this process: OpenSSL contexts cannot be
serialised, and a state that never leaves the module cannot leak key or
message material.  A state is restorable (any number of times, in any
session of this process) until 1,024 newer states push it out; other
operations are CKR_STATE_UNSAVEABLE, foreign or stale blobs
CKR_SAVED_STATE_INVALID.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from craton_hsm import forksafe
from craton_hsm._generated_ck import CKR
from craton_hsm.core.session import OpKind, OpState, Out
from craton_hsm.dispatch.common import session
from craton_hsm.drbg import random_bytes
from craton_hsm.errors import CKRError

MAGIC = b"CRATONST\x01"
SIZE = len(MAGIC) + 16
LIMIT = 1024

_saved: OrderedDict[bytes, tuple[int, Any]] = OrderedDict()
_lock = forksafe.lock()


def get_state(h: int, cap: int | None) -> Out:
    s = session(h)
    kinds = set(s.ops) - {OpKind.FIND}
    if kinds != {OpKind.DIGEST}:
        raise CKRError(CKR.STATE_UNSAVEABLE,
                       "only a lone digest operation can be saved")
    if cap is None or cap < SIZE:
        return SIZE, None
    st = s.ops[OpKind.DIGEST]
    ref = random_bytes(16)
    with _lock:
        _saved[ref] = (st.mechanism, st.op.copy())
        while len(_saved) > LIMIT:
            _saved.popitem(last=False)
    return SIZE, MAGIC + ref


def set_state(h: int, blob: bytes, enc_key: int, auth_key: int) -> None:
    s = session(h)
    if len(blob) != SIZE or not blob.startswith(MAGIC):
        raise CKRError(CKR.SAVED_STATE_INVALID, "not a Craton HSM state")
    with _lock:
        saved = _saved.get(blob[len(MAGIC):])
    if saved is None:
        raise CKRError(CKR.SAVED_STATE_INVALID, "unknown or expired state")
    if enc_key or auth_key:
        raise CKRError(CKR.KEY_NOT_NEEDED, "a digest state needs no key")
    mechanism, op = saved
    # Spec 5.6.9: restoring replaces whatever operations were active.
    s.ops.clear()
    s.begin(OpKind.DIGEST, OpState(op=op.copy(), mechanism=mechanism,
                                   multipart=True))

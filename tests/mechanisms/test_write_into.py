"""The zero-copy paths of the AES modes (issue 9): input read from a view
of the caller's buffer, output written straight into it, in place too
(PKCS#11 lets C_Encrypt/C_EncryptUpdate use one buffer for both).  Each
must give exactly the bytes of the copying path."""

from __future__ import annotations

import os
from typing import Any

import pytest

from craton_hsm._generated_ck import CKM
from craton_hsm.errors import DataLenRange
from craton_hsm.mechanisms.params import AesCtrParams, GcmParams
from craton_hsm.mechanisms.registry import Op
from tests.mechanisms.test_aes import IV, op

CASES = [
    (CKM.AES_ECB, None, 64),
    (CKM.AES_CBC, IV, 48),
    (CKM.AES_CBC_PAD, IV, 0),
    (CKM.AES_CBC_PAD, IV, 33),
    (CKM.AES_CBC_PAD, IV, 1024),
    (CKM.AES_CTR, AesCtrParams(128, IV), 45),
    (CKM.AES_GCM, GcmParams(IV[:12], 96, b"aad", 128), 1000),
    (CKM.AES_GCM, GcmParams(IV[:12], 0, b"", 96), 45),
    (CKM.AES_GCM, GcmParams(IV, 128, b"", 32), 0),
]


def _into(mech: int, params: Any, data: bytes, room: int,
          in_place: bool) -> bytes:
    o = op(mech, Op.ENCRYPT, params)
    size = o.one_shot_size(len(data))
    buf = bytearray(data) + bytearray(size + room - len(data)) \
        if in_place else bytearray(size + room)
    view = memoryview(buf)
    src = view[:len(data)] if in_place else memoryview(data)
    n = o.one_shot_into(src, view)
    return bytes(buf[:n])


@pytest.mark.parametrize("mech,params,n", CASES)
@pytest.mark.parametrize("room", [0, 40])
@pytest.mark.parametrize("in_place", [False, True])
def test_one_shot_into_matches_copy(mech: int, params: Any, n: int,
                                   room: int, in_place: bool) -> None:
    data = os.urandom(n)
    want = op(mech, Op.ENCRYPT, params).one_shot(data)
    assert _into(mech, params, data, room, in_place) == want
    # The view of the caller's input works for the copying path too.
    assert op(mech, Op.ENCRYPT, params).one_shot(memoryview(data)) == want
    assert op(mech, Op.DECRYPT, params).one_shot(memoryview(want)) == data


def test_update_into_streams_like_update() -> None:
    for mech, params in ((CKM.AES_CTR, AesCtrParams(128, IV)),
                         (CKM.AES_GCM, GcmParams(IV[:12], 96, b"", 128))):
        data = os.urandom(100)
        a, b = op(mech, Op.ENCRYPT, params), op(mech, Op.ENCRYPT, params)
        buf = bytearray(data)
        view = memoryview(buf)
        assert a.update_into(view[:60], view[:60]) == 60
        assert b.update(data[:60]) == bytes(buf[:60])


def test_unpadded_partial_block_refused_before_writing() -> None:
    o = op(CKM.AES_CBC, Op.ENCRYPT, IV)
    buf = bytearray(b"\xaa" * 40)
    with pytest.raises(DataLenRange):
        o.one_shot_into(memoryview(bytes(33)), memoryview(buf))
    assert buf == bytearray(b"\xaa" * 40)

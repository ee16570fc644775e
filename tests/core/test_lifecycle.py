"""Key lifecycle through build/libcraton_hsm.so (SP 800-57 Part 1 5.3):
for every operation class, a key before its CKA_START_DATE, inside its
period, after its CKA_END_DATE and marked CKA_CRATON_COMPROMISED.
Protecting operations (sign, encrypt, wrap, derive, encapsulate) need
the key inside its period and not compromised, else
CKR_KEY_FUNCTION_NOT_PERMITTED; processing operations (verify,
decrypt, unwrap, decapsulate) always work.  Dates are compared with
the UTC day; the windows used are years away from today on both sides.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from craton_hsm._generated_ck import CKA, CKK, CKM, CKP
from craton_hsm.mechanisms.registry import Op
from craton_hsm.vendor_ck import CKA_CRATON_COMPROMISED
from tests.abi.conftest import libpath  # noqa: F401  (fixture)
from tests.abi.test_hostile import Token
from tests.abi.test_kem_so import Kem
from tests.core import p11kit as kit
from tests.core.p11kit import FALSE, TRUE, ulong

AES_VALUE = bytes(range(32))
WINDOWS = {
    "before": (b"29990101", b""),
    "inside": (b"20000101", b"29991231"),
    "after": (b"", b"20010101"),
    "compromised": (b"", b""),
}
# (operation, mechanism, key kind); the expected refusal follows from
# whether the operation protects.
CLASSES = [
    (Op.SIGN, CKM.SHA256_HMAC, "secret"), (Op.VERIFY, CKM.SHA256_HMAC,
                                           "secret"),
    (Op.ENCRYPT, CKM.AES_CBC_PAD, "aes"), (Op.DECRYPT, CKM.AES_CBC_PAD,
                                          "aes"),
    (Op.WRAP, CKM.AES_KEY_WRAP, "aes"), (Op.UNWRAP, CKM.AES_KEY_WRAP,
                                         "aes"),
    (Op.DERIVE, CKM.HKDF_DERIVE, "secret"),
    (Op.ENCAPSULATE, CKM.ML_KEM, "kem-public"),
    (Op.DECAPSULATE, CKM.ML_KEM, "kem-private"),
]
PROTECTING = {Op.SIGN, Op.ENCRYPT, Op.WRAP, Op.DERIVE, Op.ENCAPSULATE}


@pytest.fixture(scope="module")
def tok(libpath: Path,  # noqa: F811
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    with kit.module(libpath, tmp_path_factory.mktemp("lifecycle")) as t:
        yield t


def _dates(window: str) -> tuple[tuple[int, bytes], ...]:
    start, end = WINDOWS[window]
    return ((CKA.START_DATE, start), (CKA.END_DATE, end))


def _compromise(tok: Token, h: int) -> None:
    t = tok.template((CKA_CRATON_COMPROMISED, TRUE))
    assert kit.rv_name(tok.lib.C_SetAttributeValue(tok.h, h, t, 1)) == "OK"


def _key(tok: Token, kind: str, window: str) -> int:
    dates = _dates(window)
    if kind.startswith("kem"):
        pub = [(CKA.PARAMETER_SET, ulong(CKP.ML_KEM_768)),
               (CKA.ENCAPSULATE, TRUE), *dates]
        rv, hp, hk = kit.generate_pair(tok, CKM.ML_KEM_KEY_PAIR_GEN, pub,
                                       [(CKA.DECAPSULATE, TRUE), *dates])
        assert rv == "OK"
        h = hp if kind == "kem-public" else hk
    else:
        kt = CKK.AES if kind == "aes" else CKK.GENERIC_SECRET
        rv, h = kit.secret(tok, kt, AES_VALUE, *dates)
        assert rv == "OK"
    if window == "compromised":
        _compromise(tok, h)
    return h


def _start(tok: Token, op: Op, m: int, key: int) -> str:
    """Start (or for one-call operations, run) ``op`` with ``key``."""
    call = kit.Call(tok, Kem(tok))
    target = kit.secret(tok, CKK.AES, bytes(16))[1]
    if op is Op.UNWRAP:
        return call(op, m, key, blob=aes_key_wrap(AES_VALUE, bytes(32)))
    if op is Op.DECAPSULATE:
        return call(op, m, key, blob=bytes(1088))
    return call(op, m, key, target)


@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize("op,m,kind", CLASSES,
                         ids=[c[0].value for c in CLASSES])
def test_lifecycle(tok: Token, window: str, op: Op, m: int,
                   kind: str) -> None:
    key = _key(tok, kind, window)
    refused = op in PROTECTING and window != "inside"
    want = "KEY_FUNCTION_NOT_PERMITTED" if refused else "OK"
    assert _start(tok, op, m, key) == want
    if want == "OK":
        _finish(tok, op)


def _finish(tok: Token, op: Op) -> None:
    """Complete a started operation for real, checked by pyca/stdlib."""
    mac = hmac.new(AES_VALUE, kit.DATA, hashlib.sha256).digest()
    if op is Op.SIGN:
        assert kit.one_shot(tok, op, kit.DATA) == mac
    elif op is Op.VERIFY:
        assert kit.verify(tok, kit.DATA, mac) == "OK"
    elif op is Op.ENCRYPT:
        assert kit.one_shot(tok, op, kit.DATA) == _cbc_pad(kit.DATA)
    elif op is Op.DECRYPT:
        assert kit.one_shot(tok, op, _cbc_pad(kit.DATA)) == kit.DATA


def _cbc_pad(data: bytes) -> bytes:
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    enc = Cipher(algorithms.AES(AES_VALUE), modes.CBC(bytes(16))).encryptor()
    return enc.update(padded) + enc.finalize()


def test_compromise_is_one_way_and_visible(tok: Token) -> None:
    h = _key(tok, "secret", "inside")
    _compromise(tok, h)
    back = tok.template((CKA_CRATON_COMPROMISED, FALSE))
    assert kit.rv_name(tok.lib.C_SetAttributeValue(tok.h, h, back, 1)) == \
        "ATTRIBUTE_READ_ONLY"
    assert kit.value(tok, h, CKA_CRATON_COMPROMISED) == TRUE
    fresh = kit.secret(tok, CKK.GENERIC_SECRET, AES_VALUE)[1]
    assert kit.value(tok, fresh, CKA_CRATON_COMPROMISED) == FALSE


def test_end_date_is_inclusive_today(tok: Token) -> None:
    from craton_hsm.core.lifecycle import today
    h = kit.secret(tok, CKK.GENERIC_SECRET, AES_VALUE,
                   (CKA.START_DATE, today()), (CKA.END_DATE, today()))[1]
    assert kit.Call(tok)(Op.SIGN, CKM.SHA256_HMAC, h) == "OK"

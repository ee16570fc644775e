"""Driving every registry mechanism through build/libcraton_hsm.so (cffi
ABI mode) for the approved-mode and key-lifecycle tests: a token made
under a given config, keys of every family (RSA and EC keys come from
pyca/cryptography so SHA-1 signatures can be made outside the module),
a valid CK_MECHANISM for every row, and one call per operation class.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from craton_hsm._generated_ck import (
    CKA,
    CKD,
    CKF,
    CKG,
    CKK,
    CKM,
    CKO,
    CKP,
    CKU,
)
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.abi.test_hostile import (
    FALSE,
    NULL,
    TRUE,
    USER_PIN,
    Token,
    expect,
    ffi,
    ulong,
)
from tests.abi.test_hostile import name as rv_name
from tests.abi.test_kem_so import Kem
from tests.mechanisms.test_kdf_so import hkdf_params, kbkdf_params, string_data
from tests.mechanisms.test_so_asym import oid
from tests.mechanisms.test_so_vectors import call_out

P256_DER = oid("1.2.840.10045.3.1.7")
ED25519_DER = oid("1.3.101.112")
DATA = b"approved mode"
BLOCKS = bytes(range(32))          # block-aligned plaintext for AES modes
ALL_CAPS = (CKA.ENCRYPT, CKA.DECRYPT, CKA.SIGN, CKA.VERIFY, CKA.WRAP,
            CKA.UNWRAP, CKA.DERIVE)


@contextmanager
def module(libpath: Path, tmp: Path, toml: str = "",
           fresh: bool = True, pin: bytes = USER_PIN) -> Iterator[Token]:
    """An initialised module under ``toml`` with a logged-in R/W user
    session ``tok.h`` on its own data dir (``fresh``: a new token, else
    the one already in ``tmp``); finalised and env restored after."""
    saved = {k: os.environ.get(k)
             for k in ("CRATON_HSM_DATA_DIR", "CRATON_HSM_CONFIG")}
    cfg = tmp / "craton.toml"
    cfg.write_text(toml)
    os.environ["CRATON_HSM_DATA_DIR"] = str(tmp / "data")
    os.environ["CRATON_HSM_CONFIG"] = str(cfg)
    lib = ffi.dlopen(str(libpath))
    expect(lib.C_Initialize(NULL), "OK")
    tok = Token(lib)
    try:
        if fresh:
            tok.h = tok.ready()  # type: ignore[attr-defined]
        else:
            tok.h = tok.open()  # type: ignore[attr-defined]
            expect(tok.login(tok.h, CKU.USER, pin), "OK")
        yield tok
    finally:
        expect(lib.C_Finalize(NULL), "OK")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def create(tok: Token, *attrs: tuple[int, bytes]) -> tuple[str, int]:
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = tok.lib.C_CreateObject(tok.h, tok.template(*attrs), len(attrs),
                                out)
    return rv_name(rv), int(out[0])


def created(tok: Token, *attrs: tuple[int, bytes]) -> int:
    rv, h = create(tok, *attrs)
    assert rv == "OK"
    return h


def secret(tok: Token, kt: int, value: bytes,
           *extra: tuple[int, bytes]) -> tuple[str, int]:
    return create(tok, (CKA.CLASS, ulong(CKO.SECRET_KEY)),
                  (CKA.KEY_TYPE, ulong(kt)), (CKA.VALUE, value),
                  (CKA.EXTRACTABLE, TRUE), (CKA.SENSITIVE, FALSE),
                  *((c, TRUE) for c in ALL_CAPS), *extra)


def _b(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def rsa_pair(tok: Token, key: rsa.RSAPrivateKey,
             *extra: tuple[int, bytes]) -> tuple[int, int]:
    """(public, private) handles of an imported pyca RSA key."""
    n = key.private_numbers()
    pub = [(CKA.KEY_TYPE, ulong(CKK.RSA)), (CKA.MODULUS, _b(n.public_numbers.n)),
           (CKA.PUBLIC_EXPONENT, _b(n.public_numbers.e)), *extra]
    hp = created(tok, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)), *pub,
                 (CKA.VERIFY, TRUE), (CKA.ENCRYPT, TRUE), (CKA.WRAP, TRUE))
    hk = created(tok, (CKA.CLASS, ulong(CKO.PRIVATE_KEY)), *pub,
                 (CKA.PRIVATE_EXPONENT, _b(n.d)), (CKA.PRIME_1, _b(n.p)),
                 (CKA.PRIME_2, _b(n.q)), (CKA.EXPONENT_1, _b(n.dmp1)),
                 (CKA.EXPONENT_2, _b(n.dmq1)), (CKA.COEFFICIENT, _b(n.iqmp)),
                 (CKA.SIGN, TRUE), (CKA.DECRYPT, TRUE), (CKA.UNWRAP, TRUE))
    return hp, hk


def ec_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962,
        serialization.PublicFormat.UncompressedPoint)
    return b"\x04" + bytes([len(raw)]) + raw


def ec_pair(tok: Token, key: ec.EllipticCurvePrivateKey,
            *extra: tuple[int, bytes]) -> tuple[int, int]:
    common = [(CKA.KEY_TYPE, ulong(CKK.EC)), (CKA.EC_PARAMS, P256_DER),
              *extra]
    hp = created(tok, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)), *common,
                 (CKA.EC_POINT, ec_point(key)), (CKA.VERIFY, TRUE))
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    hk = created(tok, (CKA.CLASS, ulong(CKO.PRIVATE_KEY)), *common,
                 (CKA.VALUE, scalar), (CKA.SIGN, TRUE), (CKA.DERIVE, TRUE))
    return hp, hk


def generate_pair(tok: Token, m: int, pub: list[tuple[int, bytes]],
                  priv: list[tuple[int, bytes]]) -> tuple[str, int, int]:
    hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    rv = tok.lib.C_GenerateKeyPair(
        tok.h, tok.mechanism(m), tok.template(*pub), len(pub),
        tok.template(*priv), len(priv), hp, hk)
    return rv_name(rv), int(hp[0]), int(hk[0])


def struct_mech(tok: Token, m: int, struct: Any) -> Any:
    p = ffi.new("CK_MECHANISM *")
    tok._keep += [p, struct]
    p.mechanism, p.pParameter = m, struct
    p.ulParameterLen = ffi.sizeof(ffi.typeof(struct).item)
    return p


def _bytes(tok: Token, data: bytes) -> Any:
    buf = ffi.new("CK_BYTE[]", data)
    tok._keep.append(buf)
    return buf


def _hash_of(m: int) -> tuple[int, int]:
    """(CKM_<hash>, CKG_MGF1_<hash>) a PSS row signs with (SHA-256 for
    the raw CKM_RSA_PKCS_PSS)."""
    stem = CKM(m).name.removesuffix("RSA_PKCS_PSS").rstrip("_") or "SHA256"
    if stem == "SHA1":
        return int(CKM.SHA_1), int(CKG.MGF1_SHA1)
    return int(CKM[stem]), int(CKG["MGF1_" + stem])


def mech(tok: Token, m: int, peer: bytes = b"") -> Any:
    """A valid CK_MECHANISM for registry row ``m`` (``peer``: the EC
    point for ECDH)."""
    s: Any
    if m in (CKM.AES_CBC, CKM.AES_CBC_PAD):
        return tok.mechanism(m, bytes(16))
    if CKM(m).name.endswith("RSA_PKCS_PSS"):
        hm, mgf = _hash_of(m)
        s = ffi.new("CK_RSA_PKCS_PSS_PARAMS *",
                    {"hashAlg": hm, "mgf": mgf, "sLen": 20})
    elif m == CKM.RSA_PKCS_OAEP:
        s = ffi.new("CK_RSA_PKCS_OAEP_PARAMS *", {
            "hashAlg": CKM.SHA256, "mgf": CKG.MGF1_SHA256, "source": 1,
            "pSourceData": NULL, "ulSourceDataLen": 0})
    elif m == CKM.AES_CTR:
        s = ffi.new("CK_AES_CTR_PARAMS *", {"ulCounterBits": 128})
    elif m == CKM.AES_GCM:
        s = ffi.new("CK_GCM_PARAMS *", {
            "pIv": _bytes(tok, bytes(12)), "ulIvLen": 12, "ulIvBits": 96,
            "pAAD": NULL, "ulAADLen": 0, "ulTagBits": 128})
    elif m == CKM.AES_CCM:
        s = ffi.new("CK_CCM_PARAMS *", {
            "ulDataLen": len(BLOCKS), "pNonce": _bytes(tok, bytes(12)),
            "ulNonceLen": 12, "pAAD": NULL, "ulAADLen": 0, "ulMACLen": 16})
    elif m == CKM.CHACHA20_POLY1305:
        s = ffi.new("CK_SALSA20_CHACHA20_POLY1305_PARAMS *", {
            "pNonce": _bytes(tok, bytes(12)), "ulNonceLen": 12,
            "pAAD": NULL, "ulAADLen": 0})
    elif m in (CKM.ECDH1_DERIVE, CKM.ECDH1_COFACTOR_DERIVE):
        s = ffi.new("CK_ECDH1_DERIVE_PARAMS *", {
            "kdf": CKD.NULL, "ulSharedDataLen": 0, "pSharedData": NULL,
            "ulPublicDataLen": len(peer), "pPublicData": _bytes(tok, peer)})
    elif m in (CKM.HKDF_DERIVE, CKM.HKDF_DATA):
        s = hkdf_params(tok, CKM.SHA256, CKF.HKDF_SALT_NULL, b"", b"info")
    elif m == CKM.SP800_108_COUNTER_KDF:
        s = kbkdf_params(tok, CKM.SHA256_HMAC, b"fixed", 32)
    elif m == CKM.PKCS5_PBKD2:
        s = ffi.new("CK_PKCS5_PBKD2_PARAMS2 *", {
            "saltSource": 1, "pSaltSourceData": _bytes(tok, b"salt" * 4),
            "ulSaltSourceDataLen": 16, "iterations": 1000,
            "prf": CKP.PKCS5_PBKD2_HMAC_SHA256,
            "pPassword": _bytes(tok, b"password"), "ulPasswordLen": 8})
    elif m in (CKM.CONCATENATE_BASE_AND_DATA, CKM.CONCATENATE_DATA_AND_BASE,
               CKM.XOR_BASE_AND_DATA, CKM.AES_ECB_ENCRYPT_DATA):
        s = string_data(tok, bytes(16))
    elif m == CKM.AES_CBC_ENCRYPT_DATA:
        s = ffi.new("CK_AES_CBC_ENCRYPT_DATA_PARAMS *", {
            "pData": _bytes(tok, bytes(16)), "length": 16})
    elif m == CKM.CONCATENATE_BASE_AND_KEY:
        s = ffi.new("CK_OBJECT_HANDLE *", 0)
    elif m == CKM.EXTRACT_KEY_FROM_KEY:
        s = ffi.new("CK_ULONG *", 0)
    elif CKM(m).name.endswith("_GENERAL"):
        s = ffi.new("CK_ULONG *", 8)
    else:
        return tok.mechanism(m)
    return struct_mech(tok, m, s)


# --- one call per operation class -------------------------------------

_INIT = {Op.ENCRYPT: "C_EncryptInit", Op.DECRYPT: "C_DecryptInit",
         Op.SIGN: "C_SignInit", Op.VERIFY: "C_VerifyInit",
         Op.SIGN_RECOVER: "C_SignRecoverInit",
         Op.VERIFY_RECOVER: "C_VerifyRecoverInit",
         Op.MESSAGE_SIGN: "C_MessageSignInit",
         Op.MESSAGE_VERIFY: "C_MessageVerifyInit"}
# Message-based AEAD: the Init mechanism has no parameter (the message
# parameters travel with each message, PKCS#11 v3.0 5.11).
_MESSAGE_CRYPT = {Op.MESSAGE_ENCRYPT: "C_MessageEncryptInit",
                  Op.MESSAGE_DECRYPT: "C_MessageDecryptInit"}
SECRET_OUT = ((CKA.CLASS, ulong(CKO.SECRET_KEY)),
              (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)),
              (CKA.VALUE_LEN, ulong(16)), (CKA.SENSITIVE, FALSE),
              (CKA.EXTRACTABLE, TRUE))
DATA_OUT = ((CKA.CLASS, ulong(CKO.DATA)), (CKA.VALUE_LEN, ulong(16)))
AES_OUT = ((CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.KEY_TYPE, ulong(CKK.AES)),
           (CKA.VALUE_LEN, ulong(32)), (CKA.EXTRACTABLE, TRUE))


@dataclass
class Call:
    """Start operation ``op`` with ``m`` and ``key``; the rv name."""

    tok: Token
    kem: Kem | None = None
    peer: bytes = b""
    kept: list[Any] = field(default_factory=list)

    def __call__(self, op: Op, m: int, key: int = 0,
                 target: int = 0, blob: bytes = bytes(40)) -> str:
        lib, h, mm = self.tok.lib, self.tok.h, mech(self.tok, m, self.peer)
        out = ffi.new("CK_OBJECT_HANDLE *")
        if op is Op.DIGEST:
            return rv_name(lib.C_DigestInit(h, mm))
        if op in _MESSAGE_CRYPT:
            return rv_name(getattr(lib, _MESSAGE_CRYPT[op])(
                h, self.tok.mechanism(m), key))
        if op in _INIT:
            return rv_name(getattr(lib, _INIT[op])(h, mm, key))
        if op is Op.GENERATE:
            t = self._gen_template(m)
            return rv_name(lib.C_GenerateKey(h, mm, self.tok.template(*t),
                                             len(t), out))
        if op is Op.WRAP:
            n = ffi.new("CK_ULONG *")
            return rv_name(lib.C_WrapKey(h, mm, key, target, NULL, n))
        if op is Op.UNWRAP:
            return rv_name(lib.C_UnwrapKey(
                h, mm, key, blob, len(blob), self.tok.template(*AES_OUT),
                len(AES_OUT), out))
        if op is Op.DERIVE:
            t = DATA_OUT if m == CKM.HKDF_DATA else SECRET_OUT
            return rv_name(lib.C_DeriveKey(
                h, mm, key, self.tok.template(*t), len(t), out))
        if op is Op.GENERATE_KEY_PAIR:
            return generate_pair(self.tok, m, [], [])[0]
        assert self.kem is not None
        if op is Op.ENCAPSULATE:
            return self.kem.encapsulate(h, key, *SECRET_OUT[:2])[0]
        return self.kem.decapsulate(h, key, blob, *SECRET_OUT[:2])[0]

    @staticmethod
    def _gen_template(m: int) -> list[tuple[int, bytes]]:
        spec = REGISTRY[m]
        kt = next(iter(sorted(spec.key_types))) if spec.key_types else 0
        t = [(CKA.VALUE_LEN, ulong(32))]
        if m == CKM.PKCS5_PBKD2:
            t.append((CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)))
        elif kt and m != CKM.CHACHA20_KEY_GEN:
            t.append((CKA.KEY_TYPE, ulong(kt)))
        if m == CKM.CHACHA20_KEY_GEN:
            t = []
        return t


def one_shot(tok: Token, op: Op, data: bytes) -> bytes:
    """Finish a started sign/encrypt/decrypt on ``data``."""
    fn = {Op.SIGN: tok.lib.C_Sign, Op.ENCRYPT: tok.lib.C_Encrypt,
          Op.DECRYPT: tok.lib.C_Decrypt}[op]
    rv, out = call_out(fn, tok.h, data, len(data))
    assert rv == "OK"
    return out


def verify(tok: Token, data: bytes, sig: bytes) -> str:
    return rv_name(tok.lib.C_Verify(tok.h, data, len(data), sig, len(sig)))


def value(tok: Token, h: int, t: int = CKA.VALUE) -> bytes:
    a = ffi.new("CK_ATTRIBUTE *")
    a.type, a.pValue = t, NULL
    expect(tok.lib.C_GetAttributeValue(tok.h, h, a, 1), "OK")
    buf = ffi.new("CK_BYTE[]", max(1, int(a.ulValueLen)))
    a.pValue = buf
    expect(tok.lib.C_GetAttributeValue(tok.h, h, a, 1), "OK")
    return bytes(ffi.buffer(buf, int(a.ulValueLen)))


__all__ = ["ED25519_DER", "FALSE", "TRUE", "Token", "rv_name", "ulong"]

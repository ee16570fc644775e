"""Approved-only mode through build/libcraton_hsm.so, table-driven over
the whole registry (issue 5: "every unapproved mechanism is absent and
refused, and every approved one still works"): each row is either
absent from C_GetMechanismList and CKR_MECHANISM_INVALID at
C_GetMechanismInfo and at the call that starts each of its operations,
or listed and run for real in every operation the mode approves (its
withheld operations refused).  Then minimum sizes, refused imports and
legacy keys made before the mode was switched on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKO, CKP
from craton_hsm.core.approved import approved_ops
from craton_hsm.mechanisms.hashnames import DIGEST_NAMES
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.abi.conftest import libpath  # noqa: F401  (fixture)
from tests.abi.test_hostile import NULL, Token, ffi
from tests.abi.test_kem_so import Kem
from tests.core import p11kit as kit
from tests.core.p11kit import BLOCKS, DATA, FALSE, TRUE, ulong

APPROVED = "[algorithms]\nfips_approved_only = true\n"
PYCA_RSA = rsa.generate_private_key(65537, 2048)
PYCA_EC = ec.generate_private_key(ec.SECP256R1())
PEER_EC = ec.generate_private_key(ec.SECP256R1())


def _name(m: int) -> str:
    return CKM(m).name


@dataclass
class Env:
    """The approved-mode token and one key of every approved family."""

    tok: Token
    call: kit.Call
    aes: int
    secret: int
    rsa: tuple[int, int]
    ec: tuple[int, int]
    ed: tuple[int, int]
    mldsa: tuple[int, int]
    mlkem: tuple[int, int]

    def key(self, spec_types: frozenset[int], private: bool) -> int:
        pairs = {CKK.RSA: self.rsa, CKK.EC: self.ec,
                 CKK.EC_EDWARDS: self.ed, CKK.ML_DSA: self.mldsa,
                 CKK.ML_KEM: self.mlkem}
        for kt, pair in pairs.items():
            if kt in spec_types:
                return pair[1] if private else pair[0]
        if CKK.GENERIC_SECRET in spec_types:
            return self.secret
        return self.aes if CKK.AES in spec_types else self.secret


def _pair(tok: Token, m: int, pub: list[tuple[int, bytes]],
          priv: list[tuple[int, bytes]]) -> tuple[int, int]:
    rv, hp, hk = kit.generate_pair(tok, m, pub, priv)
    assert rv == "OK"
    return hp, hk


@pytest.fixture(scope="module")
def env(libpath: Path,  # noqa: F811
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with kit.module(libpath, tmp_path_factory.mktemp("approved"),
                    APPROVED) as tok:
        pset = CKA.PARAMETER_SET
        yield Env(
            tok=tok, call=kit.Call(tok, Kem(tok), kit.ec_point(PEER_EC)[2:]),
            aes=kit.secret(tok, CKK.AES, bytes(range(32)))[1],
            secret=kit.secret(tok, CKK.GENERIC_SECRET, bytes(32))[1],
            rsa=kit.rsa_pair(tok, PYCA_RSA), ec=kit.ec_pair(tok, PYCA_EC),
            ed=_pair(tok, CKM.EC_EDWARDS_KEY_PAIR_GEN,
                     [(CKA.EC_PARAMS, kit.ED25519_DER), (CKA.VERIFY, TRUE)],
                     [(CKA.SIGN, TRUE)]),
            mldsa=_pair(tok, CKM.ML_DSA_KEY_PAIR_GEN,
                        [(pset, ulong(CKP.ML_DSA_44)), (CKA.VERIFY, TRUE)],
                        [(CKA.SIGN, TRUE)]),
            mlkem=_pair(tok, CKM.ML_KEM_KEY_PAIR_GEN,
                        [(pset, ulong(CKP.ML_KEM_768)),
                         (CKA.ENCAPSULATE, TRUE)],
                        [(CKA.DECAPSULATE, TRUE)]))


def mechanism_list(tok: Token) -> set[int]:
    n = ffi.new("CK_ULONG *")
    assert kit.rv_name(tok.lib.C_GetMechanismList(0, NULL, n)) == "OK"
    buf = ffi.new("CK_MECHANISM_TYPE[]", int(n[0]))
    assert kit.rv_name(tok.lib.C_GetMechanismList(0, buf, n)) == "OK"
    return {int(buf[i]) for i in range(int(n[0]))}


def mechanism_info(tok: Token, m: int) -> tuple[str, Any]:
    info = ffi.new("CK_MECHANISM_INFO *")
    return kit.rv_name(tok.lib.C_GetMechanismInfo(0, m, info)), info


UNAPPROVED = [m for m in sorted(REGISTRY) if not approved_ops(REGISTRY[m])]
APPROVED_ROWS = [m for m in sorted(REGISTRY) if approved_ops(REGISTRY[m])]


def test_the_table_decides_each_row() -> None:
    # The decisions the issue names, read back from the table.
    for m in (CKM.CHACHA20_POLY1305, CKM.CHACHA20_KEY_GEN,
              CKM.EC_MONTGOMERY_KEY_PAIR_GEN, CKM.XOR_BASE_AND_DATA):
        assert m in UNAPPROVED
    assert approved_ops(REGISTRY[CKM.SHA1_RSA_PKCS]) == {Op.VERIFY}
    assert approved_ops(REGISTRY[CKM.ECDSA_SHA1]) == {Op.VERIFY}
    assert approved_ops(REGISTRY[CKM.RSA_PKCS]) == {Op.SIGN, Op.VERIFY}
    assert approved_ops(REGISTRY[CKM.SHA_1]) == {Op.DIGEST}
    assert Op.WRAP in approved_ops(REGISTRY[CKM.AES_KEY_WRAP_KWP])


@pytest.mark.parametrize("m", UNAPPROVED, ids=_name)
def test_unapproved_is_absent_and_refused(env: Env, m: int) -> None:
    assert m not in mechanism_list(env.tok)
    assert mechanism_info(env.tok, m)[0] == "MECHANISM_INVALID"
    for op in REGISTRY[m].ops:
        key = env.key(REGISTRY[m].key_types, op in (Op.SIGN, Op.DERIVE))
        assert env.call(op, m, key, env.aes) == "MECHANISM_INVALID", op


def _sign_input(m: int) -> bytes:
    # Raw ECDSA, PKCS#1 v1.5 and PSS sign a digest the caller made.
    return bytes(32) if m in (CKM.ECDSA, CKM.RSA_PKCS, CKM.RSA_PKCS_PSS) \
        else DATA


def _sign_verify(env: Env, m: int) -> None:
    spec, tok = REGISTRY[m], env.tok
    data = _sign_input(m)
    assert env.call(Op.SIGN, m, env.key(spec.key_types, True)) == "OK"
    sig = kit.one_shot(tok, Op.SIGN, data)
    assert env.call(Op.VERIFY, m, env.key(spec.key_types, False)) == "OK"
    assert kit.verify(tok, data, sig) == "OK"


def _pyca_sha1_signature(m: int) -> bytes:
    if m == CKM.ECDSA_SHA1:
        return _der_to_raw(PYCA_EC.sign(DATA, ec.ECDSA(hashes.SHA1())))
    pad: padding.AsymmetricPadding = padding.PKCS1v15()
    if m == CKM.SHA1_RSA_PKCS_PSS:
        pad = padding.PSS(padding.MGF1(hashes.SHA1()), 20)
    return PYCA_RSA.sign(DATA, pad, hashes.SHA1())


def _der_to_raw(der: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
    )
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _crypt(env: Env, m: int) -> None:
    spec = REGISTRY[m]
    data = DATA if m == CKM.RSA_PKCS_OAEP else BLOCKS
    assert env.call(Op.ENCRYPT, m, env.key(spec.key_types, False)) == "OK"
    ct = kit.one_shot(env.tok, Op.ENCRYPT, data)
    assert env.call(Op.DECRYPT, m, env.key(spec.key_types, True)) == "OK"
    assert kit.one_shot(env.tok, Op.DECRYPT, ct) == data


def _wrap_unwrap(env: Env, m: int) -> None:
    tok, spec = env.tok, REGISTRY[m]
    target = kit.secret(tok, CKK.AES, bytes(range(100, 132)))[1]
    mm = kit.mech(tok, m)
    n = ffi.new("CK_ULONG *", 512)
    buf = ffi.new("CK_BYTE[]", 512)
    wrapping = env.key(spec.key_types, False)
    assert kit.rv_name(tok.lib.C_WrapKey(tok.h, mm, wrapping, target, buf,
                                         n)) == "OK"
    wrapped = bytes(ffi.buffer(buf, int(n[0])))
    out = ffi.new("CK_OBJECT_HANDLE *")
    t = kit.AES_OUT + ((CKA.SENSITIVE, FALSE),)
    assert kit.rv_name(tok.lib.C_UnwrapKey(
        tok.h, kit.mech(tok, m), env.key(spec.key_types, True), wrapped,
        len(wrapped), tok.template(*t), len(t), out)) == "OK"
    assert kit.value(tok, int(out[0])) == bytes(range(100, 132))


KEYGEN_TEMPLATES: dict[int, tuple[list[Any], list[Any]]] = {
    CKM.RSA_PKCS_KEY_PAIR_GEN: ([(CKA.MODULUS_BITS, ulong(2048))], []),
    CKM.EC_KEY_PAIR_GEN: ([(CKA.EC_PARAMS, kit.P256_DER)], []),
    CKM.EC_EDWARDS_KEY_PAIR_GEN: ([(CKA.EC_PARAMS, kit.ED25519_DER)], []),
    CKM.ML_DSA_KEY_PAIR_GEN: ([(CKA.PARAMETER_SET,
                                ulong(CKP.ML_DSA_65))], []),
    CKM.ML_KEM_KEY_PAIR_GEN: ([(CKA.PARAMETER_SET,
                                ulong(CKP.ML_KEM_1024))], []),
}


def _run(env: Env, m: int, op: Op) -> None:
    """One real operation of class ``op`` with ``m`` (its partner op,
    verify/decrypt/unwrap/decapsulate, runs alongside)."""
    spec, tok = REGISTRY[m], env.tok
    if op is Op.DIGEST:
        assert env.call(op, m) == "OK"
        rv, out = kit.call_out(tok.lib.C_Digest, tok.h, DATA, len(DATA))
        assert (rv, out) == ("OK", hashlib.new(DIGEST_NAMES[m],
                                               DATA).digest())
    elif op is Op.SIGN:
        _sign_verify(env, m)
    elif op is Op.VERIFY and Op.SIGN not in approved_ops(spec):
        assert env.call(op, m, env.key(spec.key_types, False)) == "OK"
        assert kit.verify(tok, DATA, _pyca_sha1_signature(m)) == "OK"
    elif op is Op.ENCRYPT:
        _crypt(env, m)
    elif op is Op.WRAP:
        _wrap_unwrap(env, m)
    elif op is Op.GENERATE:
        assert env.call(op, m) == "OK"
    elif op is Op.GENERATE_KEY_PAIR:
        pub, priv = KEYGEN_TEMPLATES[m]
        assert kit.generate_pair(tok, m, pub, priv)[0] == "OK"
    elif op is Op.DERIVE:
        base = env.key(spec.key_types, True)
        assert env.call(op, m, base) == "OK"
    elif op is Op.ENCAPSULATE:
        kem = env.call.kem
        assert kem is not None
        readable = ((CKA.SENSITIVE, FALSE), (CKA.EXTRACTABLE, TRUE))
        rv, _, ct, hk = kem.encapsulate(tok.h, env.mlkem[0], *readable)
        assert rv == "OK"
        rv, hk2 = kem.decapsulate(tok.h, env.mlkem[1], ct, *readable)
        assert rv == "OK"
        assert kit.value(tok, hk) == kit.value(tok, hk2)


@pytest.mark.parametrize("m", APPROVED_ROWS, ids=_name)
def test_approved_is_listed_and_works(env: Env, m: int) -> None:
    spec = REGISTRY[m]
    assert m in mechanism_list(env.tok)
    assert mechanism_info(env.tok, m)[0] == "OK"
    allowed = approved_ops(spec)
    for op in sorted(allowed, key=lambda o: o.value):
        _run(env, m, op)
    for op in set(spec.ops) - allowed:
        key = env.key(spec.key_types, op in (Op.SIGN, Op.DECRYPT))
        assert env.call(op, m, key, env.aes) == "MECHANISM_INVALID", op


def test_info_reports_approved_minimum_and_functions(env: Env) -> None:
    rv, info = mechanism_info(env.tok, CKM.RSA_PKCS_KEY_PAIR_GEN)
    assert (rv, info.ulMinKeySize) == ("OK", 2048)
    rv, info = mechanism_info(env.tok, CKM.SHA1_RSA_PKCS)
    assert rv == "OK"
    assert (info.ulMinKeySize, info.flags) == (2048, int(CKF.VERIFY))
    rv, info = mechanism_info(env.tok, CKM.SHA256_HMAC)
    assert (rv, info.ulMinKeySize) == ("OK", 14)



def test_pss_with_sha1_hash_cannot_sign(env: Env) -> None:
    tok = env.tok
    mm = kit.struct_mech(tok, CKM.RSA_PKCS_PSS, ffi.new(
        "CK_RSA_PKCS_PSS_PARAMS *",
        {"hashAlg": CKM.SHA_1, "mgf": 1, "sLen": 20}))
    assert kit.rv_name(tok.lib.C_SignInit(tok.h, mm, env.rsa[1])) == \
        "MECHANISM_INVALID"
    digest = hashlib.sha1(DATA).digest()
    sig = PYCA_RSA.sign(DATA, padding.PSS(padding.MGF1(hashes.SHA1()), 20),
                        hashes.SHA1())
    assert kit.rv_name(tok.lib.C_VerifyInit(tok.h, mm, env.rsa[0])) == "OK"
    assert kit.verify(tok, digest, sig) == "OK"


# --- minimum sizes and imports -----------------------------------------

def test_rsa_below_2048_neither_generated_nor_imported(env: Env) -> None:
    tok = env.tok
    assert kit.generate_pair(tok, CKM.RSA_PKCS_KEY_PAIR_GEN,
                             [(CKA.MODULUS_BITS, ulong(1024))],
                             [(CKA.SIGN, TRUE)])[0] == "KEY_SIZE_RANGE"
    small = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    assert kit.create(tok, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)),
                      (CKA.KEY_TYPE, ulong(CKK.RSA)),
                      (CKA.MODULUS, small.n.to_bytes(128, "big")),
                      (CKA.PUBLIC_EXPONENT, b"\x01\x00\x01"))[0] == \
        "KEY_SIZE_RANGE"


def test_secret_keys_below_112_bits_refused(env: Env) -> None:
    tok = env.tok
    assert kit.secret(tok, CKK.GENERIC_SECRET, bytes(13))[0] == \
        "KEY_SIZE_RANGE"
    assert kit.secret(tok, CKK.SHA256_HMAC, bytes(14))[0] == "OK"
    out = ffi.new("CK_OBJECT_HANDLE *")
    t = [(CKA.VALUE_LEN, ulong(8))]
    assert kit.rv_name(tok.lib.C_GenerateKey(
        tok.h, tok.mechanism(CKM.GENERIC_SECRET_KEY_GEN),
        tok.template(*t), 1, out)) == "KEY_SIZE_RANGE"


@pytest.mark.parametrize("dotted,family,want", [
    ("1.3.132.0.10", CKK.EC, "TEMPLATE_INCONSISTENT"),         # secp256k1
    ("1.3.36.3.3.2.8.1.1.7", CKK.EC, "TEMPLATE_INCONSISTENT"),  # bp256r1
    ("1.3.132.0.34", CKK.EC, "OK"),                             # P-384
])
def test_only_approved_curves_generate(env: Env, dotted: str, family: int,
                                       want: str) -> None:
    pub = [(CKA.EC_PARAMS, kit.oid(dotted)), (CKA.VERIFY, TRUE)]
    assert kit.generate_pair(env.tok, CKM.EC_KEY_PAIR_GEN, pub,
                             [(CKA.SIGN, TRUE)])[0] == want


def test_unapproved_key_types_cannot_be_imported(env: Env) -> None:
    tok = env.tok
    assert kit.secret(tok, CKK.CHACHA20, bytes(32))[0] == \
        "TEMPLATE_INCONSISTENT"
    assert kit.create(tok, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)),
                      (CKA.KEY_TYPE, ulong(CKK.EC_MONTGOMERY)),
                      (CKA.EC_PARAMS, kit.oid("1.3.101.110")),
                      (CKA.EC_POINT, b"\x04\x20" + bytes(range(32))))[0] \
        == "TEMPLATE_INCONSISTENT"


def test_unwrap_of_a_short_secret_is_refused(env: Env) -> None:
    tok = env.tok
    from cryptography.hazmat.primitives.keywrap import (
        aes_key_wrap_with_padding,
    )
    t = [(CKA.CLASS, ulong(CKO.SECRET_KEY)),
         (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET))]
    out = ffi.new("CK_OBJECT_HANDLE *")
    for size, want in ((8, "KEY_SIZE_RANGE"), (14, "OK")):
        wrapped = aes_key_wrap_with_padding(bytes(range(32)), bytes(size))
        assert kit.rv_name(tok.lib.C_UnwrapKey(
            tok.h, tok.mechanism(CKM.AES_KEY_WRAP_KWP), env.aes, wrapped,
            len(wrapped), tok.template(*t), len(t), out)) == want

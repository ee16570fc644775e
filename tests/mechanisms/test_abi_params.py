"""abi/params.py against a plain cffi FFI that parses the vendored
header: structure decoding, size rules and NULL-pointer rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cffi
import pytest

from craton_hsm._generated_ck import CKG, CKM, CKZ
from craton_hsm.abi.params import decode
from craton_hsm.errors import MechanismParamInvalid
from craton_hsm.mechanisms import params as P
from craton_hsm.mechanisms.registry import ParamKind

HEADER = Path(__file__).resolve().parents[2] / "cbindings" / "pkcs11_types.h"


@pytest.fixture(scope="module")
def ffi() -> cffi.FFI:
    f = cffi.FFI()
    f.cdef(HEADER.read_text())
    return f


def buf(ffi: cffi.FFI, data: bytes) -> Any:
    return ffi.new("CK_BYTE[]", data)


def test_none(ffi: cffi.FFI) -> None:
    assert decode(ParamKind.NONE, ffi, ffi.NULL, 0) is None
    x = ffi.new("CK_ULONG *")
    assert decode(ParamKind.NONE, ffi, x, 0) is None
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.NONE, ffi, x, 8)


def test_bytes_and_ulong(ffi: cffi.FFI) -> None:
    iv = buf(ffi, b"0123456789abcdef")
    assert decode(ParamKind.BYTES, ffi, iv, 16) == b"0123456789abcdef"
    assert decode(ParamKind.BYTES, ffi, ffi.NULL, 0) == b""
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.BYTES, ffi, ffi.NULL, 16)
    n = ffi.new("CK_ULONG *", 20)
    assert decode(ParamKind.ULONG, ffi, n, ffi.sizeof("CK_ULONG")) == 20
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.ULONG, ffi, n, 4)


def test_gcm_v30_and_v240(ffi: cffi.FFI) -> None:
    iv, aad = buf(ffi, b"i" * 12), buf(ffi, b"aad")
    s = ffi.new("CK_GCM_PARAMS *", {"pIv": iv, "ulIvLen": 12,
                                    "ulIvBits": 96, "pAAD": aad,
                                    "ulAADLen": 3, "ulTagBits": 128})
    got = decode(ParamKind.GCM, ffi, s, ffi.sizeof("CK_GCM_PARAMS"))
    assert got == P.GcmParams(b"i" * 12, 96, b"aad", 128)
    legacy = ffi.new("CK_ULONG[5]")
    ptrs = ffi.cast("void **", legacy)
    ptrs[0], legacy[1] = iv, 12
    ptrs[2], legacy[3], legacy[4] = aad, 3, 96
    got = decode(ParamKind.GCM, ffi, legacy, ffi.sizeof(legacy))
    assert got == P.GcmParams(b"i" * 12, 0, b"aad", 96)
    for bad in (0, 16, ffi.sizeof("CK_GCM_PARAMS") + 8):
        with pytest.raises(MechanismParamInvalid):
            decode(ParamKind.GCM, ffi, s, bad)
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.GCM, ffi, ffi.NULL, ffi.sizeof("CK_GCM_PARAMS"))


def test_inner_null_with_length(ffi: cffi.FFI) -> None:
    s = ffi.new("CK_GCM_PARAMS *", {"pIv": ffi.NULL, "ulIvLen": 12,
                                    "ulTagBits": 128})
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.GCM, ffi, s, ffi.sizeof("CK_GCM_PARAMS"))


def test_rsa_structs(ffi: cffi.FFI) -> None:
    pss = ffi.new("CK_RSA_PKCS_PSS_PARAMS *",
                  {"hashAlg": CKM.SHA256, "mgf": CKG.MGF1_SHA256,
                   "sLen": 32})
    assert decode(ParamKind.RSA_PSS, ffi, pss, ffi.sizeof(pss[0])) == \
        P.RsaPssParams(CKM.SHA256, CKG.MGF1_SHA256, 32)
    label = buf(ffi, b"lbl")
    oaep = ffi.new("CK_RSA_PKCS_OAEP_PARAMS *",
                   {"hashAlg": CKM.SHA_1, "mgf": CKG.MGF1_SHA1,
                    "source": CKZ.DATA_SPECIFIED, "pSourceData": label,
                    "ulSourceDataLen": 3})
    got = decode(ParamKind.RSA_OAEP, ffi, oaep, ffi.sizeof(oaep[0]))
    assert got == P.RsaOaepParams(CKM.SHA_1, CKG.MGF1_SHA1,
                                  CKZ.DATA_SPECIFIED, b"lbl")


def test_ctr_ccm_chacha_ecdh(ffi: cffi.FFI) -> None:
    ctr = ffi.new("CK_AES_CTR_PARAMS *",
                  {"ulCounterBits": 32, "cb": list(range(16))})
    assert decode(ParamKind.AES_CTR, ffi, ctr, ffi.sizeof(ctr[0])) == \
        P.AesCtrParams(32, bytes(range(16)))
    nonce = buf(ffi, b"n" * 12)
    ccm = ffi.new("CK_CCM_PARAMS *", {"ulDataLen": 5, "pNonce": nonce,
                                      "ulNonceLen": 12, "ulMACLen": 16})
    assert decode(ParamKind.CCM, ffi, ccm, ffi.sizeof(ccm[0])) == \
        P.CcmParams(5, b"n" * 12, b"", 16)
    cc = ffi.new("CK_SALSA20_CHACHA20_POLY1305_PARAMS *",
                 {"pNonce": nonce, "ulNonceLen": 12})
    assert decode(ParamKind.CHACHA20_POLY1305, ffi, cc,
                  ffi.sizeof(cc[0])) == P.ChaCha20Poly1305Params(
                      b"n" * 12, b"")
    pub = buf(ffi, b"\x04" + b"p" * 64)
    e = ffi.new("CK_ECDH1_DERIVE_PARAMS *",
                {"kdf": 1, "pPublicData": pub, "ulPublicDataLen": 65})
    assert decode(ParamKind.ECDH1, ffi, e, ffi.sizeof(e[0])) == \
        P.Ecdh1Params(1, b"", b"\x04" + b"p" * 64)


def test_eddsa_optional(ffi: cffi.FFI) -> None:
    assert decode(ParamKind.EDDSA, ffi, ffi.NULL, 0) is None
    ctx = buf(ffi, b"ctx")
    s = ffi.new("CK_EDDSA_PARAMS *", {"phFlag": 1, "pContextData": ctx,
                                      "ulContextDataLen": 3})
    assert decode(ParamKind.EDDSA, ffi, s, ffi.sizeof(s[0])) == \
        P.EddsaParams(True, b"ctx")
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.EDDSA, ffi, s, 3)


def test_derivation_structs(ffi: cffi.FFI) -> None:
    data = buf(ffi, b"data")
    k = ffi.new("CK_KEY_DERIVATION_STRING_DATA *", {"pData": data,
                                                     "ulLen": 4})
    assert decode(ParamKind.KEY_DERIVATION_STRING, ffi, k,
                  ffi.sizeof(k[0])) == P.KeyDerivationStringData(b"data")
    c = ffi.new("CK_AES_CBC_ENCRYPT_DATA_PARAMS *",
                {"iv": list(range(16)), "pData": data, "length": 4})
    assert decode(ParamKind.AES_CBC_ENCRYPT_DATA, ffi, c,
                  ffi.sizeof(c[0])) == P.AesCbcEncryptDataParams(
                      bytes(range(16)), b"data")
    h = ffi.new("CK_HKDF_PARAMS *", {
        "bExtract": 1, "bExpand": 1, "prfHashMechanism": CKM.SHA256,
        "ulSaltType": 2, "pSalt": data, "ulSaltLen": 4, "hSaltKey": 0,
        "pInfo": ffi.NULL, "ulInfoLen": 0})
    assert decode(ParamKind.HKDF, ffi, h, ffi.sizeof(h[0])) == \
        P.HkdfParams(True, True, CKM.SHA256, 2, b"data", 0, b"")
    pw = buf(ffi, b"pw")
    b = ffi.new("CK_PKCS5_PBKD2_PARAMS2 *", {
        "saltSource": 1, "pSaltSourceData": data,
        "ulSaltSourceDataLen": 4, "iterations": 1000, "prf": 4,
        "pPassword": pw, "ulPasswordLen": 2})
    assert decode(ParamKind.PBKD2, ffi, b, ffi.sizeof(b[0])) == \
        P.Pbkd2Params(1, b"data", 1000, 4, b"", b"pw")
    assert "pw" not in repr(decode(ParamKind.PBKD2, ffi, b,
                                   ffi.sizeof(b[0])))


def test_sp800_108(ffi: cffi.FFI) -> None:
    data = buf(ffi, b"label")
    ctr = ffi.new("CK_SP800_108_COUNTER_FORMAT *",
                  {"bLittleEndian": 0, "ulWidthInBits": 16})
    dkm = ffi.new("CK_SP800_108_DKM_LENGTH_FORMAT *",
                  {"dkmLengthMethod": 1, "bLittleEndian": 1,
                   "ulWidthInBits": 32})
    items = ffi.new("CK_PRF_DATA_PARAM[3]", [
        {"type": 1, "pValue": ctr, "ulValueLen": ffi.sizeof(ctr[0])},
        {"type": 4, "pValue": data, "ulValueLen": 5},
        {"type": 3, "pValue": dkm, "ulValueLen": ffi.sizeof(dkm[0])}])
    s = ffi.new("CK_SP800_108_KDF_PARAMS *", {
        "prfType": CKM.SHA256_HMAC, "ulNumberOfDataParams": 3,
        "pDataParams": items})
    assert decode(ParamKind.SP800_108, ffi, s, ffi.sizeof(s[0])) == \
        P.Sp800108Params(CKM.SHA256_HMAC, (
            P.PrfDataParam(1, P.CounterFormat(False, 16)),
            P.PrfDataParam(4, b"label"),
            P.PrfDataParam(3, P.DkmLengthFormat(1, True, 32))))
    items[0].ulValueLen = 3          # not sizeof(CK_SP800_108_COUNTER_FORMAT)
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.SP800_108, ffi, s, ffi.sizeof(s[0]))
    items[0].ulValueLen = ffi.sizeof(ctr[0])
    items[1].type = 5                # CK_SP800_108_KEY_HANDLE (3.1)
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.SP800_108, ffi, s, ffi.sizeof(s[0]))
    items[1].type = 4
    s.ulAdditionalDerivedKeys = 1
    with pytest.raises(MechanismParamInvalid):
        decode(ParamKind.SP800_108, ffi, s, ffi.sizeof(s[0]))


def test_object_handle(ffi: cffi.FFI) -> None:
    h = ffi.new("CK_OBJECT_HANDLE *", 7)
    size = ffi.sizeof("CK_OBJECT_HANDLE")
    assert decode(ParamKind.OBJECT_HANDLE, ffi, h, size) == \
        P.ObjectHandleParam(7)


def test_every_kind_has_a_decoder() -> None:
    """Init parameters decode in abi/params.py; the per-message ones of
    the message-based API (v3.0 5.11-5.12, the registry's
    ``message_params``) in abi/msgparams.py, whose own tests run through
    the .so (tests/spec/test_message_api.py)."""
    from craton_hsm.abi.params import DECODERS
    from craton_hsm.mechanisms.registry import REGISTRY
    per_message = {s.message_params for s in REGISTRY.values()} - {
        ParamKind.NONE}
    assert not set(DECODERS) & per_message
    assert set(DECODERS) | per_message == set(ParamKind)

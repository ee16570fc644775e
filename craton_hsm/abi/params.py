"""CK_MECHANISM.pParameter -> the dataclasses of mechanisms/params.py
(PKCS#11 v3.0 section 5.1.2 "CK_MECHANISM" and the parameter structures
of Current Mechanisms).

Every byte string is copied out of caller memory here; no cdata escapes
the ABI shell.  Length rules: a struct parameter must be exactly
sizeof(struct) (CKR_MECHANISM_PARAM_INVALID otherwise, section 5.1.6),
an inner pointer may be NULL only with a zero length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from craton_hsm.core.limits import MAX_DATA
from craton_hsm.errors import MechanismParamInvalid
from craton_hsm.mechanisms import params as P
from craton_hsm.mechanisms.registry import ParamKind

Decoder = Callable[[Any, Any, int], object]

# (ffi, C type name) -> (cdata type, sizeof); filled on first use because
# the ffi object is only known once the .so (or a test) supplies it.
_TYPES: dict[tuple[Any, str], tuple[Any, int]] = {}


def _ctype(ffi: Any, name: str) -> tuple[Any, int]:
    key = (ffi, name)
    found = _TYPES.get(key)
    if found is None:
        ctype = ffi.typeof(name)
        found = (ctype, ffi.sizeof(ctype.item if ctype.kind == "pointer"
                                   else ctype))
        _TYPES[key] = found
    return found


def _null(ffi: Any, p: Any) -> bool:
    return bool(p == ffi.NULL)


def copy(ffi: Any, p: Any, n: int) -> bytes:
    """Copy n bytes from caller memory; NULL is allowed only for n == 0,
    and a field longer than one buffer may be (core/limits.py) is refused
    before anything is read."""
    n = int(n)
    if n == 0:
        return b""
    if _null(ffi, p):
        raise MechanismParamInvalid("NULL pointer with non-zero length")
    if n > MAX_DATA:
        raise MechanismParamInvalid(f"parameter field of {n} bytes")
    ptr, _ = _ctype(ffi, "CK_BYTE *")
    return bytes(ffi.buffer(ffi.cast(ptr, p), n))


def _struct(ffi: Any, p: Any, length: int, name: str) -> Any:
    """A typed pointer to the caller's struct after the size check."""
    ptr, size = _ctype(ffi, name + " *")
    if _null(ffi, p) or int(length) != size:
        raise MechanismParamInvalid(f"{name} expected")
    return ffi.cast(ptr, p)


def _none(ffi: Any, p: Any, length: int) -> None:
    # The length first: the common case (0) then reads no pointer.
    if int(length) != 0 and not _null(ffi, p):
        raise MechanismParamInvalid("mechanism takes no parameter")


def _bytes(ffi: Any, p: Any, length: int) -> bytes:
    return copy(ffi, p, length)


def _ulong(ffi: Any, p: Any, length: int) -> int:
    return int(_struct(ffi, p, length, "CK_ULONG")[0])


def _object_handle(ffi: Any, p: Any, length: int) -> P.ObjectHandleParam:
    return P.ObjectHandleParam(
        int(_struct(ffi, p, length, "CK_OBJECT_HANDLE")[0]))


def _rsa_pss(ffi: Any, p: Any, length: int) -> P.RsaPssParams:
    s = _struct(ffi, p, length, "CK_RSA_PKCS_PSS_PARAMS")
    return P.RsaPssParams(int(s.hashAlg), int(s.mgf), int(s.sLen))


def _rsa_oaep(ffi: Any, p: Any, length: int) -> P.RsaOaepParams:
    s = _struct(ffi, p, length, "CK_RSA_PKCS_OAEP_PARAMS")
    return P.RsaOaepParams(int(s.hashAlg), int(s.mgf), int(s.source),
                           copy(ffi, s.pSourceData, s.ulSourceDataLen))


def _aes_ctr(ffi: Any, p: Any, length: int) -> P.AesCtrParams:
    s = _struct(ffi, p, length, "CK_AES_CTR_PARAMS")
    return P.AesCtrParams(int(s.ulCounterBits), bytes(ffi.buffer(s.cb)))


def _gcm(ffi: Any, p: Any, length: int) -> P.GcmParams:
    _ptr, size = _ctype(ffi, "CK_GCM_PARAMS *")
    ulong = ffi.sizeof("CK_ULONG")
    if not _null(ffi, p) and int(length) == size - ulong:
        return _gcm_v240(ffi, p)
    s = _struct(ffi, p, length, "CK_GCM_PARAMS")
    return P.GcmParams(copy(ffi, s.pIv, s.ulIvLen), int(s.ulIvBits),
                       copy(ffi, s.pAAD, s.ulAADLen), int(s.ulTagBits))


def _gcm_v240(ffi: Any, p: Any) -> P.GcmParams:
    # PKCS#11 2.40 errata header: {pIv, ulIvLen, pAAD, ulAADLen,
    # ulTagBits} without ulIvBits.  Many clients still send it.  Pointers
    # and CK_ULONG have one size on the LP64/ILP32 ABIs we target, so the
    # fields are read as word slots.
    words = ffi.cast("CK_ULONG *", p)
    ptrs = ffi.cast("void **", p)
    if ffi.sizeof("void *") != ffi.sizeof("CK_ULONG"):
        raise MechanismParamInvalid("legacy CK_GCM_PARAMS unsupported")
    return P.GcmParams(copy(ffi, ptrs[0], words[1]), 0,
                       copy(ffi, ptrs[2], words[3]), int(words[4]))


def _ccm(ffi: Any, p: Any, length: int) -> P.CcmParams:
    s = _struct(ffi, p, length, "CK_CCM_PARAMS")
    return P.CcmParams(int(s.ulDataLen), copy(ffi, s.pNonce, s.ulNonceLen),
                       copy(ffi, s.pAAD, s.ulAADLen), int(s.ulMACLen))


def _chacha(ffi: Any, p: Any, length: int) -> P.ChaCha20Poly1305Params:
    s = _struct(ffi, p, length, "CK_SALSA20_CHACHA20_POLY1305_PARAMS")
    return P.ChaCha20Poly1305Params(copy(ffi, s.pNonce, s.ulNonceLen),
                                    copy(ffi, s.pAAD, s.ulAADLen))


def _ecdh1(ffi: Any, p: Any, length: int) -> P.Ecdh1Params:
    s = _struct(ffi, p, length, "CK_ECDH1_DERIVE_PARAMS")
    return P.Ecdh1Params(int(s.kdf),
                         copy(ffi, s.pSharedData, s.ulSharedDataLen),
                         copy(ffi, s.pPublicData, s.ulPublicDataLen))


def _eddsa(ffi: Any, p: Any, length: int) -> P.EddsaParams | None:
    # CK_EDDSA_PARAMS is optional for CKM_EDDSA (section 2.3.14).
    if _null(ffi, p) or int(length) == 0:
        return None
    s = _struct(ffi, p, length, "CK_EDDSA_PARAMS")
    return P.EddsaParams(bool(s.phFlag),
                         copy(ffi, s.pContextData, s.ulContextDataLen))


def _sign_context(ffi: Any, p: Any,
                  length: int) -> P.SignAdditionalContext | None:
    # CK_SIGN_ADDITIONAL_CONTEXT is optional for CKM_ML_DSA (v3.2).
    if _null(ffi, p) or int(length) == 0:
        return None
    s = _struct(ffi, p, length, "CK_SIGN_ADDITIONAL_CONTEXT")
    n = int(s.ulContextLen)
    if n > 255:
        # FIPS 204 bounds the context string at 255 bytes; refuse before
        # copying a hostile length.
        raise MechanismParamInvalid("context longer than 255 bytes")
    return P.SignAdditionalContext(int(s.hedgeVariant),
                                   copy(ffi, s.pContext, n))


def _kdf_string(ffi: Any, p: Any, length: int) -> P.KeyDerivationStringData:
    s = _struct(ffi, p, length, "CK_KEY_DERIVATION_STRING_DATA")
    return P.KeyDerivationStringData(copy(ffi, s.pData, s.ulLen))


def _aes_cbc_data(ffi: Any, p: Any,
                  length: int) -> P.AesCbcEncryptDataParams:
    s = _struct(ffi, p, length, "CK_AES_CBC_ENCRYPT_DATA_PARAMS")
    return P.AesCbcEncryptDataParams(bytes(ffi.buffer(s.iv)),
                                     copy(ffi, s.pData, s.length))


def _hkdf(ffi: Any, p: Any, length: int) -> P.HkdfParams:
    s = _struct(ffi, p, length, "CK_HKDF_PARAMS")
    return P.HkdfParams(bool(s.bExtract), bool(s.bExpand),
                        int(s.prfHashMechanism), int(s.ulSaltType),
                        copy(ffi, s.pSalt, s.ulSaltLen), int(s.hSaltKey),
                        copy(ffi, s.pInfo, s.ulInfoLen))


def _pbkd2(ffi: Any, p: Any, length: int) -> P.Pbkd2Params:
    s = _struct(ffi, p, length, "CK_PKCS5_PBKD2_PARAMS2")
    return P.Pbkd2Params(
        int(s.saltSource),
        copy(ffi, s.pSaltSourceData, s.ulSaltSourceDataLen),
        int(s.iterations), int(s.prf), copy(ffi, s.pPrfData, s.ulPrfDataLen),
        copy(ffi, s.pPassword, s.ulPasswordLen))


# Upper bound on CK_PRF_DATA_PARAM entries; the spec defines four kinds.
MAX_PRF_DATA = 64
# CK_PRF_DATA_TYPE values (section 2.42.1).
_ITERATION_VARIABLE, _OPTIONAL_COUNTER = 1, 2
_DKM_LENGTH, _BYTE_ARRAY = 3, 4


def _prf_value(ffi: Any, d: Any) -> bytes | P.CounterFormat | \
        P.DkmLengthFormat:
    kind = int(d.type)
    if kind in (_ITERATION_VARIABLE, _OPTIONAL_COUNTER):
        c = _struct(ffi, d.pValue, d.ulValueLen,
                    "CK_SP800_108_COUNTER_FORMAT")
        return P.CounterFormat(bool(c.bLittleEndian), int(c.ulWidthInBits))
    if kind == _DKM_LENGTH:
        k = _struct(ffi, d.pValue, d.ulValueLen,
                    "CK_SP800_108_DKM_LENGTH_FORMAT")
        return P.DkmLengthFormat(int(k.dkmLengthMethod),
                                 bool(k.bLittleEndian),
                                 int(k.ulWidthInBits))
    if kind == _BYTE_ARRAY:
        return copy(ffi, d.pValue, d.ulValueLen)
    # CK_SP800_108_KEY_HANDLE (3.1) and unknown kinds.
    raise MechanismParamInvalid(f"unsupported CK_PRF_DATA_TYPE {kind}")


def _sp800_108(ffi: Any, p: Any, length: int) -> P.Sp800108Params:
    s = _struct(ffi, p, length, "CK_SP800_108_KDF_PARAMS")
    n = int(s.ulNumberOfDataParams)
    if int(s.ulAdditionalDerivedKeys) != 0:
        raise MechanismParamInvalid("additional derived keys unsupported")
    if n > MAX_PRF_DATA or (n and _null(ffi, s.pDataParams)):
        raise MechanismParamInvalid("bad CK_PRF_DATA_PARAM array")
    items = tuple(P.PrfDataParam(int(d.type), _prf_value(ffi, d))
                  for d in (s.pDataParams[i] for i in range(n)))
    return P.Sp800108Params(int(s.prfType), items)


DECODERS: dict[ParamKind, Decoder] = {
    ParamKind.NONE: _none,
    ParamKind.BYTES: _bytes,
    ParamKind.ULONG: _ulong,
    ParamKind.RSA_PSS: _rsa_pss,
    ParamKind.RSA_OAEP: _rsa_oaep,
    ParamKind.AES_CTR: _aes_ctr,
    ParamKind.GCM: _gcm,
    ParamKind.CCM: _ccm,
    ParamKind.CHACHA20_POLY1305: _chacha,
    ParamKind.ECDH1: _ecdh1,
    ParamKind.EDDSA: _eddsa,
    ParamKind.KEY_DERIVATION_STRING: _kdf_string,
    ParamKind.AES_CBC_ENCRYPT_DATA: _aes_cbc_data,
    ParamKind.HKDF: _hkdf,
    ParamKind.PBKD2: _pbkd2,
    ParamKind.SP800_108: _sp800_108,
    ParamKind.OBJECT_HANDLE: _object_handle,
    ParamKind.SIGN_CONTEXT: _sign_context,
}


def decode(kind: ParamKind, ffi: Any, p_param: Any, length: int) -> object:
    """Decode one mechanism parameter; raises MechanismParamInvalid."""
    return DECODERS[kind](ffi, p_param, length)

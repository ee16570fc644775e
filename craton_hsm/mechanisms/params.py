"""Decoded mechanism parameters (PKCS#11 v3.0 Current Mechanisms, the
CK_*_PARAMS structures).

``abi/params.py`` turns the caller's CK_MECHANISM.pParameter into one of
these frozen dataclasses so that mechanisms never see cdata.  Byte
strings are copies; CK_ULONG fields are ints.  ParamKind.BYTES decodes to
plain ``bytes``, ParamKind.ULONG to ``int`` and ParamKind.NONE to
``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RsaPssParams:
    """CK_RSA_PKCS_PSS_PARAMS (section 2.1.3)."""

    hash_alg: int
    mgf: int
    s_len: int


@dataclass(frozen=True)
class RsaOaepParams:
    """CK_RSA_PKCS_OAEP_PARAMS (section 2.1.2)."""

    hash_alg: int
    mgf: int
    source: int
    source_data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class AesCtrParams:
    """CK_AES_CTR_PARAMS (section 2.10.4)."""

    counter_bits: int
    cb: bytes


@dataclass(frozen=True)
class GcmParams:
    """CK_GCM_PARAMS (section 2.12.3); iv_bits is 0 for the 2.40 layout."""

    iv: bytes
    iv_bits: int
    aad: bytes = field(repr=False)
    tag_bits: int


@dataclass(frozen=True)
class CcmParams:
    """CK_CCM_PARAMS (section 2.12.4)."""

    data_len: int
    nonce: bytes
    aad: bytes = field(repr=False)
    mac_len: int


@dataclass(frozen=True)
class ChaCha20Poly1305Params:
    """CK_SALSA20_CHACHA20_POLY1305_PARAMS (section 2.46)."""

    nonce: bytes
    aad: bytes = field(repr=False)


@dataclass(frozen=True)
class AeadMessageParams:
    """CK_GCM_MESSAGE_PARAMS, CK_CCM_MESSAGE_PARAMS and
    CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS (v3.0 sections 2.12.3-4,
    2.46) in one shape: ``iv`` is pIv / pNonce as given, ``tag`` the
    pTag / pMAC bytes read for decryption (empty when encrypting),
    ``tag_len`` in bytes, ``data_len`` CCM's ulDataLen (else None)."""

    iv: bytes
    fixed_bits: int
    generator: int
    tag: bytes = field(repr=False)
    tag_len: int
    data_len: int | None = None


@dataclass(frozen=True)
class Ecdh1Params:
    """CK_ECDH1_DERIVE_PARAMS (section 2.3.13)."""

    kdf: int
    shared_data: bytes
    public_data: bytes


@dataclass(frozen=True)
class EddsaParams:
    """CK_EDDSA_PARAMS (section 2.3.14)."""

    ph_flag: bool
    context: bytes


@dataclass(frozen=True)
class SignAdditionalContext:
    """CK_SIGN_ADDITIONAL_CONTEXT (PKCS#11 v3.2, CKM_ML_DSA)."""

    hedge: int
    context: bytes


@dataclass(frozen=True)
class KeyDerivationStringData:
    """CK_KEY_DERIVATION_STRING_DATA (section 2.43.1)."""

    data: bytes = field(repr=False)


@dataclass(frozen=True)
class AesCbcEncryptDataParams:
    """CK_AES_CBC_ENCRYPT_DATA_PARAMS (section 2.10.5)."""

    iv: bytes
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class HkdfParams:
    """CK_HKDF_PARAMS (section 2.41.2)."""

    extract: bool
    expand: bool
    prf_hash_mechanism: int
    salt_type: int
    salt: bytes = field(repr=False)
    salt_key: int
    info: bytes


@dataclass(frozen=True)
class Pbkd2Params:
    """CK_PKCS5_PBKD2_PARAMS2 (section 2.44.5); the password is secret."""

    salt_source: int
    salt: bytes
    iterations: int
    prf: int
    prf_data: bytes
    password: bytes = field(repr=False)


@dataclass(frozen=True)
class CounterFormat:
    """CK_SP800_108_COUNTER_FORMAT (section 2.42.1)."""

    little_endian: bool
    width_bits: int


@dataclass(frozen=True)
class DkmLengthFormat:
    """CK_SP800_108_DKM_LENGTH_FORMAT (section 2.42.1)."""

    method: int
    little_endian: bool
    width_bits: int


@dataclass(frozen=True)
class PrfDataParam:
    """CK_PRF_DATA_PARAM (section 2.42.1), its pValue decoded by type:
    a CounterFormat for ITERATION_VARIABLE / OPTIONAL_COUNTER, a
    DkmLengthFormat for DKM_LENGTH, bytes for BYTE_ARRAY."""

    type: int
    value: bytes | CounterFormat | DkmLengthFormat = field(repr=False)


@dataclass(frozen=True)
class Sp800108Params:
    """CK_SP800_108_KDF_PARAMS (section 2.42.2).

    Additional derived keys are not supported yet; the decoder rejects a
    non-empty list rather than silently ignoring it.
    """

    prf_type: int
    data_params: tuple[PrfDataParam, ...]


@dataclass(frozen=True)
class ObjectHandleParam:
    """CK_OBJECT_HANDLE parameter (CKM_CONCATENATE_BASE_AND_KEY)."""

    handle: int


@dataclass(frozen=True)
class OtherKey:
    """An ObjectHandleParam after dispatch resolved it: the other key's
    value and protection flags.  Mechanisms never see handles."""

    value: bytes = field(repr=False)
    sensitive: bool
    extractable: bool
    always_sensitive: bool
    never_extractable: bool

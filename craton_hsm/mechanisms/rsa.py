"""RSA mechanisms (PKCS#11 v3.0 section 2.1): key pair generation,
PKCS#1 v1.5 (raw, with SHA-1/SHA-2/SHA-3, and C_SignRecover /
C_VerifyRecover for CKM_RSA_PKCS), PSS (SHA-1/2/3) and OAEP.  CKM_RSA_X_509 is
deliberately absent: the backend has no constant-time raw RSA."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from craton_hsm._generated_ck import CKF, CKK, CKM, CKZ
from craton_hsm.backend import rsa as backend
from craton_hsm.backend.hashes import digest_size
from craton_hsm.errors import (
    DataLenRange,
    EncryptedDataLenRange,
    KeySizeRange,
    MechanismParamInvalid,
    SignatureLenRange,
)
from craton_hsm.mechanisms.checks import no_params, params_of
from craton_hsm.mechanisms.hashnames import (
    mgf_name,
    pss_hash_name,
    sha2_name,
)
from craton_hsm.mechanisms.params import RsaOaepParams, RsaPssParams
from craton_hsm.mechanisms.registry import (
    Factory,
    KeyLike,
    MechSpec,
    Op,
    ParamKind,
)
from craton_hsm.mechanisms.rsa_keys import (
    GEN_BITS,
    KEY_TYPES,
    OP_BITS,
    keypair_generator,
    modulus_bytes,
    private_key,
    public_key,
)
from craton_hsm.mechanisms.signing import HashSign, HashVerify, any_length
from craton_hsm.mechanisms.wrap import by_encryption

# PKCS#1 v1.5 padding needs at least 11 bytes (RFC 8017 section 7.2.1).
PKCS1_OVERHEAD = 11


def _at_most(limit: int) -> Callable[[bytes], None]:
    def check(m: bytes) -> None:
        if len(m) > limit:
            raise DataLenRange("input too long for the modulus")
    return check


def _exactly(n: int) -> Callable[[bytes], None]:
    def check(m: bytes) -> None:
        if len(m) != n:
            raise DataLenRange("input must be a digest of the PSS hash")
    return check


# -- PKCS#1 v1.5 signatures (section 2.1.6, 2.1.14) --------------------------

def _pkcs1_factory(hash_name: str | None, verify: bool) -> Factory:
    def make(key: KeyLike | None, params: object) -> HashSign | HashVerify:
        no_params(params)
        if verify:
            pub = public_key(key)
            k = modulus_bytes(pub)
            check = _at_most(k - PKCS1_OVERHEAD) if hash_name is None \
                else any_length
            return HashVerify(
                k, hash_name,
                lambda m, s: backend.verify_pkcs1(pub, s, m, hash_name),
                check)
        priv = private_key(key)
        k = modulus_bytes(priv)
        check = _at_most(k - PKCS1_OVERHEAD) if hash_name is None \
            else any_length
        return HashSign(k, hash_name,
                        partial(backend.sign_pkcs1, priv,
                                hash_name=hash_name), check)
    return make


# -- C_VerifyRecover (section 2.1.6: CKM_RSA_PKCS "sign with recovery")

class RsaRecover:
    """Single-part: the signature in, the recovered data out."""

    def __init__(self, pub: backend.PublicKey) -> None:
        self._pub = pub
        self._k = modulus_bytes(pub)

    def one_shot_size(self, n: int) -> int:
        return self._k - PKCS1_OVERHEAD

    def one_shot(self, signature: bytes) -> bytes:
        if len(signature) != self._k:
            raise SignatureLenRange("signature length wrong for key")
        # The binding takes bytes only, not a view of the caller's buffer.
        return backend.recover_pkcs1(self._pub, bytes(signature))


def _verify_recover(key: KeyLike | None, params: object) -> RsaRecover:
    no_params(params)
    return RsaRecover(public_key(key))


# -- PSS (section 2.1.9, 2.1.16) ---------------------------------------------

def _pss_setup(params: object, bits: int,
               fixed_hash: int | None) -> tuple[str, str, int]:
    p = params_of(params, RsaPssParams)
    if fixed_hash is not None and p.hash_alg != fixed_hash:
        raise MechanismParamInvalid("hashAlg differs from the mechanism's")
    name, mgf = pss_hash_name(p.hash_alg), mgf_name(p.mgf, sha3=True)
    em_len = (bits - 1 + 7) // 8
    if p.s_len > em_len - digest_size(name) - 2:
        raise MechanismParamInvalid("sLen too large for the modulus")
    return name, mgf, p.s_len


def _pss_factory(fixed_hash: int | None, verify: bool) -> Factory:
    # Combined mechanisms hash here; raw CKM_RSA_PKCS_PSS takes a digest.
    def make(key: KeyLike | None, params: object) -> HashSign | HashVerify:
        rsa_key = public_key(key) if verify else private_key(key)
        name, mgf, s_len = _pss_setup(params, rsa_key.key_size, fixed_hash)
        hashing = name if fixed_hash is not None else None
        check = any_length if hashing else _exactly(digest_size(name))
        k = modulus_bytes(rsa_key)
        if isinstance(rsa_key, backend.PublicKey):
            pub = rsa_key
            return HashVerify(k, hashing, lambda m, s: backend.verify_pss(
                pub, s, m, name, mgf, s_len), check)
        return HashSign(k, hashing, partial(
            backend.sign_pss, rsa_key, hash_name=name, mgf_name=mgf,
            salt_len=s_len), check)
    return make


# -- Encryption (section 2.1.6 and 2.1.8) ------------------------------------

class RsaCipher:
    """Single-part by nature; Update input is buffered until Final."""

    def __init__(self, k: int, run: Callable[[bytes], bytes],
                 check: Callable[[bytes], None]) -> None:
        self._k = k
        self._run = run
        self._check = check
        self._buf = bytearray()  # amortised O(1) appends

    def update(self, data: bytes) -> bytes:
        self._buf += data
        return b""

    def final(self) -> bytes:
        buf, self._buf = bytes(self._buf), bytearray()
        self._check(buf)
        return self._run(buf)

    def one_shot(self, data: bytes) -> bytes:
        return self.update(data) + self.final()

    def update_size(self, n: int) -> int:
        return 0

    def final_size(self) -> int:
        return self._k

    def one_shot_size(self, n: int) -> int:
        return self._k


def _ciphertext_of(k: int) -> Callable[[bytes], None]:
    def check(c: bytes) -> None:
        if len(c) != k:
            raise EncryptedDataLenRange("ciphertext must be modulus-sized")
    return check


def _pkcs1_encrypt(key: KeyLike | None, params: object) -> RsaCipher:
    no_params(params)
    pub = public_key(key)
    k = modulus_bytes(pub)
    return RsaCipher(k, partial(backend.encrypt_pkcs1, pub),
                     _at_most(k - PKCS1_OVERHEAD))


def _pkcs1_decrypt(key: KeyLike | None, params: object) -> RsaCipher:
    no_params(params)
    priv = private_key(key)
    k = modulus_bytes(priv)
    return RsaCipher(k, partial(backend.decrypt_pkcs1, priv),
                     _ciphertext_of(k))


def _oaep_setup(params: object) -> tuple[str, str, bytes]:
    p = params_of(params, RsaOaepParams)
    # Section 2.1.8: source is CKZ_DATA_SPECIFIED; an empty label with
    # source 0 is what several clients send and means the same.
    if p.source != CKZ.DATA_SPECIFIED and (p.source or p.source_data):
        raise MechanismParamInvalid("unsupported OAEP source")
    return sha2_name(p.hash_alg), mgf_name(p.mgf), p.source_data


def _oaep(encrypt: bool) -> Factory:
    def make(key: KeyLike | None, params: object) -> RsaCipher:
        name, mgf, label = _oaep_setup(params)
        rsa_key = public_key(key) if encrypt else private_key(key)
        k = modulus_bytes(rsa_key)
        room = k - 2 * digest_size(name) - 2   # RFC 8017 section 7.1.1
        if room < 0:
            raise KeySizeRange("modulus too small for the OAEP hash")
        if isinstance(rsa_key, backend.PublicKey):
            return RsaCipher(k, partial(
                backend.encrypt_oaep, rsa_key, hash_name=name,
                mgf_name=mgf, label=label), _at_most(room))
        return RsaCipher(k, partial(
            backend.decrypt_oaep, rsa_key, hash_name=name, mgf_name=mgf,
            label=label), _ciphertext_of(k))
    return make


# -- Registry rows -----------------------------------------------------------

SIGN = CKF.SIGN | CKF.VERIFY
RECOVER = CKF.SIGN_RECOVER | CKF.VERIFY_RECOVER
# Key transport by encryption (spec 2.1.6, 2.1.8): wrap and unwrap too.
CRYPT = CKF.ENCRYPT | CKF.DECRYPT | CKF.WRAP | CKF.UNWRAP
SIGN_OPS = frozenset({Op.SIGN, Op.VERIFY})

_HASHED = (
    # (PKCS#1 v1.5 mech, PSS mech, hash mech, name, approved)
    # SHA-1: approved for legacy verification only (SP 800-131A Rev.2
    # section 9); core/approved.py ONLY_FOR withholds signing.
    (CKM.SHA1_RSA_PKCS, CKM.SHA1_RSA_PKCS_PSS, CKM.SHA_1, "sha1", True),
    (CKM.SHA224_RSA_PKCS, CKM.SHA224_RSA_PKCS_PSS, CKM.SHA224, "sha224",
     True),
    (CKM.SHA256_RSA_PKCS, CKM.SHA256_RSA_PKCS_PSS, CKM.SHA256, "sha256",
     True),
    (CKM.SHA384_RSA_PKCS, CKM.SHA384_RSA_PKCS_PSS, CKM.SHA384, "sha384",
     True),
    (CKM.SHA512_RSA_PKCS, CKM.SHA512_RSA_PKCS_PSS, CKM.SHA512, "sha512",
     True),
    # FIPS 186-5 section 5.4 allows the SHA-3 family.
    (CKM.SHA3_224_RSA_PKCS, CKM.SHA3_224_RSA_PKCS_PSS, CKM.SHA3_224,
     "sha3_224", True),
    (CKM.SHA3_256_RSA_PKCS, CKM.SHA3_256_RSA_PKCS_PSS, CKM.SHA3_256,
     "sha3_256", True),
    (CKM.SHA3_384_RSA_PKCS, CKM.SHA3_384_RSA_PKCS_PSS, CKM.SHA3_384,
     "sha3_384", True),
    (CKM.SHA3_512_RSA_PKCS, CKM.SHA3_512_RSA_PKCS_PSS, CKM.SHA3_512,
     "sha3_512", True),
)


def _row(mech: int, flags: int, ops: dict[Op, Factory], approved: bool,
         params: ParamKind = ParamKind.NONE,
         multipart: frozenset[Op] = frozenset()) -> MechSpec:
    return MechSpec(mech, flags, key_size=OP_BITS, key_types=KEY_TYPES,
                    approved=approved, params=params, ops=ops,
                    multipart=multipart)


def _hashed_rows() -> list[MechSpec]:
    rows = []
    for pkcs, pss, hmech, name, approved in _HASHED:
        rows.append(_row(pkcs, SIGN, {
            Op.SIGN: _pkcs1_factory(name, False),
            Op.VERIFY: _pkcs1_factory(name, True)}, approved,
            multipart=SIGN_OPS))
        rows.append(_row(pss, SIGN, {
            Op.SIGN: _pss_factory(hmech, False),
            Op.VERIFY: _pss_factory(hmech, True)}, approved,
            ParamKind.RSA_PSS, SIGN_OPS))
    return rows


SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.RSA_PKCS_KEY_PAIR_GEN, CKF.GENERATE_KEY_PAIR,
             key_size=GEN_BITS, key_types=frozenset({CKK.RSA}),
             approved=True, ops={Op.GENERATE_KEY_PAIR: keypair_generator}),
    # PKCS#1 v1.5 signatures are approved (FIPS 186-5 section 5.4), its
    # encryption is not (SP 800-131A Rev.2 section 6): listed, and
    # core/approved.py ONLY_FOR limits it to sign/verify.
    _row(CKM.RSA_PKCS, SIGN | RECOVER | CRYPT, {
        Op.SIGN: _pkcs1_factory(None, False),
        Op.VERIFY: _pkcs1_factory(None, True),
        # Sign-with-recovery is the same EMSA-PKCS1-v1_5 type-1 block.
        Op.SIGN_RECOVER: _pkcs1_factory(None, False),
        Op.VERIFY_RECOVER: _verify_recover,
        Op.ENCRYPT: _pkcs1_encrypt, Op.DECRYPT: _pkcs1_decrypt,
        **by_encryption(_pkcs1_encrypt, _pkcs1_decrypt)}, True),
    _row(CKM.RSA_PKCS_PSS, SIGN, {
        Op.SIGN: _pss_factory(None, False),
        Op.VERIFY: _pss_factory(None, True)}, True, ParamKind.RSA_PSS),
    _row(CKM.RSA_PKCS_OAEP, CRYPT, {
        Op.ENCRYPT: _oaep(True), Op.DECRYPT: _oaep(False),
        **by_encryption(_oaep(True), _oaep(False))}, True,
        ParamKind.RSA_OAEP),
    *_hashed_rows(),
)

"""CKM digest mechanisms and CKG MGF1 values mapped to backend hash names
(PKCS#11 v3.0 sections 2.1.7, 2.16 and 2.25)."""

from __future__ import annotations

from craton_hsm._generated_ck import CKG, CKM
from craton_hsm.errors import MechanismParamInvalid

DIGEST_NAMES: dict[int, str] = {
    CKM.SHA_1: "sha1",
    CKM.SHA224: "sha224",
    CKM.SHA256: "sha256",
    CKM.SHA384: "sha384",
    CKM.SHA512: "sha512",
    CKM.SHA512_224: "sha512_224",
    CKM.SHA512_256: "sha512_256",
    CKM.SHA3_224: "sha3_224",
    CKM.SHA3_256: "sha3_256",
    CKM.SHA3_384: "sha3_384",
    CKM.SHA3_512: "sha3_512",
}

# SHA-1/SHA-2: the OAEP hashes offered (the issue asks for no more).
SHA2_FAMILY = frozenset(
    {CKM.SHA_1, CKM.SHA224, CKM.SHA256, CKM.SHA384, CKM.SHA512})
# PSS hashes: SHA-1/SHA-2 and SHA-3 (FIPS 186-5 section 5.4, OpenSSL 3).
PSS_HASHES = SHA2_FAMILY | frozenset(
    {CKM.SHA3_224, CKM.SHA3_256, CKM.SHA3_384, CKM.SHA3_512})

MGF1_NAMES: dict[int, str] = {
    CKG.MGF1_SHA1: "sha1",
    CKG.MGF1_SHA224: "sha224",
    CKG.MGF1_SHA256: "sha256",
    CKG.MGF1_SHA384: "sha384",
    CKG.MGF1_SHA512: "sha512",
    CKG.MGF1_SHA3_224: "sha3_224",
    CKG.MGF1_SHA3_256: "sha3_256",
    CKG.MGF1_SHA3_384: "sha3_384",
    CKG.MGF1_SHA3_512: "sha3_512",
}


def sha2_name(hash_alg: int) -> str:
    """Backend name of a CKM_SHA_1/SHA-2 value from a parameter struct."""
    if hash_alg not in SHA2_FAMILY:
        raise MechanismParamInvalid("unsupported hashAlg")
    return DIGEST_NAMES[hash_alg]


def pss_hash_name(hash_alg: int) -> str:
    """Backend name of a CK_RSA_PKCS_PSS_PARAMS hashAlg."""
    if hash_alg not in PSS_HASHES:
        raise MechanismParamInvalid("unsupported hashAlg")
    return DIGEST_NAMES[hash_alg]


def mgf_name(mgf: int, sha3: bool = False) -> str:
    """Backend name of a CKG_MGF1_* value; the SHA-3 ones only where the
    mechanism offers SHA-3 (PSS, not OAEP)."""
    name = MGF1_NAMES.get(mgf)
    if name is None or (name.startswith("sha3") and not sha3):
        raise MechanismParamInvalid("unsupported MGF")
    return name

"""Hash-then-sign and hash-then-verify operations shared by the RSA and
ECDSA families (PKCS#11 v3.0 sections 5.13-5.14).

For the combined mechanisms (CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256...)
multi-part input is hashed here as it arrives; for the raw mechanisms
(CKM_RSA_PKCS, CKM_ECDSA, CKM_RSA_PKCS_PSS) the input is buffered and
checked for length once at the end.
"""

from __future__ import annotations

from collections.abc import Callable

from craton_hsm.backend.hashes import Hash
from craton_hsm.errors import SignatureLenRange

Check = Callable[[bytes], None]
SignFn = Callable[[bytes], bytes]
VerifyFn = Callable[[bytes, bytes], None]


class _Input:
    """The message: hashed incrementally, or buffered when raw."""

    def __init__(self, hash_name: str | None, check: Check) -> None:
        self._hash = Hash(hash_name) if hash_name else None
        self._buf = bytearray()
        self._check = check

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        else:
            self._buf += data

    def message(self) -> bytes:
        m = self._hash.finalize() if self._hash else bytes(self._buf)
        self._check(m)
        return m


class HashSign:
    def __init__(self, size: int, hash_name: str | None, sign: SignFn,
                 check: Check) -> None:
        self.size = size
        self._input = _Input(hash_name, check)
        self._sign = sign

    def update(self, data: bytes) -> None:
        self._input.update(data)

    def final(self) -> bytes:
        return self._sign(self._input.message())

    def sign(self, data: bytes) -> bytes:
        self.update(data)
        return self.final()


class HashVerify:
    def __init__(self, size: int, hash_name: str | None, verify: VerifyFn,
                 check: Check) -> None:
        self.size = size
        self._input = _Input(hash_name, check)
        self._verify = verify

    def update(self, data: bytes) -> None:
        self._input.update(data)

    def final(self, signature: bytes) -> None:
        # The length check comes first: CKR_SIGNATURE_LEN_RANGE is "known
        # invalid purely on the basis of its length" (section 5.1.6).
        if len(signature) != self.size:
            raise SignatureLenRange("signature length wrong for key")
        self._verify(self._input.message(), signature)

    def verify(self, data: bytes, signature: bytes) -> None:
        self.update(data)
        self.final(signature)


def any_length(message: bytes) -> None:
    """The check for hashed input: the digest length is fixed."""

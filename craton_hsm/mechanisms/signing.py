"""Hash-then-sign and hash-then-verify operations shared by the RSA and
ECDSA families (PKCS#11 v3.0 sections 5.13-5.14).

For the combined mechanisms (CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256...)
multi-part input is hashed here as it arrives; for the raw mechanisms
(CKM_RSA_PKCS, CKM_ECDSA, CKM_RSA_PKCS_PSS) the input is buffered and
checked for length once at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from craton_hsm.backend.hashes import Hash, digest
from craton_hsm.errors import SignatureLenRange

Check = Callable[[bytes], None]
SignFn = Callable[[bytes], bytes]
VerifyFn = Callable[[bytes, bytes], None]


class _Input:
    """The message: hashed incrementally, or buffered when raw.  The hash
    context is made at the first C_*Update only: a single-part call
    hashes its input in one go (``whole``)."""

    __slots__ = ("_buf", "_check", "_hash", "_name")

    def __init__(self, hash_name: str | None, check: Check) -> None:
        self._name = hash_name
        self._hash: Hash | None = None
        self._buf = bytearray()
        self._check = check

    def update(self, data: Any) -> None:
        if self._name is None:
            self._buf += data
            return
        if self._hash is None:
            self._hash = Hash(self._name)
        self._hash.update(data)

    def message(self) -> bytes:
        if self._name is None:
            m = bytes(self._buf)
        else:
            if self._hash is None:
                self._hash = Hash(self._name)
            m = self._hash.finalize()
        self._check(m)
        return m

    def whole(self, data: Any) -> bytes:
        """The message of a single-part call (no update before it):
        ``data`` may be a view of the caller's buffer, consumed here."""
        if self._hash is not None or self._buf:
            self.update(data)
            return self.message()
        m = bytes(data) if self._name is None else digest(self._name, data)
        self._check(m)
        return m


class HashSign:
    __slots__ = ("_input", "_sign", "size")

    def __init__(self, size: int, hash_name: str | None, sign: SignFn,
                 check: Check) -> None:
        self.size = size
        self._input = _Input(hash_name, check)
        self._sign = sign

    def update(self, data: Any) -> None:
        self._input.update(data)

    def final(self) -> bytes:
        return self._sign(self._input.message())

    def sign(self, data: Any) -> bytes:
        return self._sign(self._input.whole(data))


class HashVerify:
    __slots__ = ("_input", "_verify", "size")

    def __init__(self, size: int, hash_name: str | None, verify: VerifyFn,
                 check: Check) -> None:
        self.size = size
        self._input = _Input(hash_name, check)
        self._verify = verify

    def update(self, data: Any) -> None:
        self._input.update(data)

    def final(self, signature: bytes) -> None:
        # The length check comes first: CKR_SIGNATURE_LEN_RANGE is "known
        # invalid purely on the basis of its length" (section 5.1.6).
        if len(signature) != self.size:
            raise SignatureLenRange("signature length wrong for key")
        self._verify(self._input.message(), signature)

    def verify(self, data: Any, signature: bytes) -> None:
        if len(signature) != self.size:
            raise SignatureLenRange("signature length wrong for key")
        self._verify(self._input.whole(data), signature)


def any_length(message: bytes) -> None:
    """The check for hashed input: the digest length is fixed."""

"""Hash and HMAC adapters (FIPS 180-4, FIPS 202, FIPS 198-1).

Algorithms are named by short strings ("sha256"); the mechanisms layer
maps CKM values to these names.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac

from craton_hsm.errors import SignatureInvalid

_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha512_224": hashes.SHA512_224,
    "sha512_256": hashes.SHA512_256,
    "sha3_224": hashes.SHA3_224,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}


def algorithm(name: str) -> hashes.HashAlgorithm:
    return _ALGORITHMS[name]()


def digest_size(name: str) -> int:
    return algorithm(name).digest_size


class Hash:
    """An incremental hash context."""

    def __init__(self, name: str) -> None:
        self._ctx = hashes.Hash(algorithm(name))

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        return self._ctx.finalize()

    def copy(self) -> Hash:
        twin = Hash.__new__(Hash)
        twin._ctx = self._ctx.copy()
        return twin


class Hmac:
    """An incremental HMAC context; the key stays inside OpenSSL."""

    def __init__(self, name: str, key: bytes) -> None:
        self._ctx = _hmac.HMAC(key, algorithm(name))

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        return self._ctx.finalize()

    def verify(self, tag: bytes) -> None:
        """Constant-time comparison inside OpenSSL (FIPS 198-1 section 5
        allows no early exit that would leak the matching prefix)."""
        try:
            self._ctx.verify(tag)
        except InvalidSignature:
            raise SignatureInvalid("MAC mismatch") from None

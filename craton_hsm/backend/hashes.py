"""Hash and HMAC adapters (FIPS 180-4, FIPS 202, FIPS 198-1).

Algorithms are named by short strings ("sha256"); the mechanisms layer
maps CKM values to these names.
"""

from __future__ import annotations

from typing import Any

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


# One instance per algorithm (they are immutable parameter objects), and
# one fresh context each that is never fed, only copied: copying an
# initialised OpenSSL context costs a fraction of building one (issue 9).
_INSTANCES: dict[str, hashes.HashAlgorithm] = {
    name: cls() for name, cls in _ALGORITHMS.items()}
_FRESH: dict[str, hashes.Hash] = {}


def algorithm(name: str) -> hashes.HashAlgorithm:
    return _INSTANCES[name]


def digest_size(name: str) -> int:
    return algorithm(name).digest_size


def _fresh(name: str) -> hashes.Hash:
    fresh = _FRESH.get(name)
    if fresh is None:
        fresh = _FRESH[name] = hashes.Hash(algorithm(name))
    return fresh.copy()


def digest(name: str, data: Any) -> bytes:
    """A one-shot digest of ``data`` (any bytes-like object)."""
    ctx = _fresh(name)
    ctx.update(data)
    return ctx.finalize()


class Hash:
    """An incremental hash context."""

    def __init__(self, name: str) -> None:
        self._ctx = _fresh(name)

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        return self._ctx.finalize()

    def copy(self) -> Hash:
        twin = Hash.__new__(Hash)
        twin._ctx = self._ctx.copy()
        return twin


class Hmac:
    """An incremental HMAC context; the key stays inside OpenSSL.

    ``copy`` gives a fresh context under the same key without the key
    set-up: a key object keeps one unfed Hmac per hash in its cache and
    every operation starts from a copy (issue 9)."""

    def __init__(self, name: str, key: bytes) -> None:
        self._ctx = _hmac.HMAC(key, algorithm(name))

    def copy(self) -> Hmac:
        twin = Hmac.__new__(Hmac)
        twin._ctx = self._ctx.copy()
        return twin

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

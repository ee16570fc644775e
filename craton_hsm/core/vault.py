"""The master-key vault and sealed object secrets (AES-256-GCM).

Seed 004 "Data at Rest": each token has a random 256-bit master key
(MK).  The MK is stored only wrapped, once under the SO's and once under
the user's PIN-derived KEK (core/pins.py); secret attributes of token
objects are sealed under the MK, each with a fresh 96-bit nonce from the
DRBG (SP 800-38D 8.2.2).  The additional authenticated data binds every
blob to its place -- token serial plus role, or serial plus object uid
plus the object's public attributes -- so a blob copied to another
object, token or role fails to open, and so does an object whose stored
public attributes were edited (turning CKA_SENSITIVE off or
CKA_EXTRACTABLE on in the file must not reveal the key).
Re-initialising a token replaces the MK, which crypto-shreds every
old blob.

Blob layout: version:u8 || nonce:12 || ciphertext || tag:16.
"""

from __future__ import annotations

from typing import Any

from craton_hsm import secmem
from craton_hsm.backend import storage_crypto
from craton_hsm.backend.storage_crypto import AuthenticationFailed
from craton_hsm.drbg import random_bytes
from craton_hsm.errors import DeviceError
from craton_hsm.store.codec import (
    StoreCorrupt,
    decode_attrs,
    encode_attrs,
    encode_parts,
    write_parts,
)

FORMAT_VERSION = 2       # 2: the object AAD covers the public attributes
MK_BYTES = storage_crypto.AES256_KEY_BYTES
_NONCE = storage_crypto.GCM_NONCE_BYTES
_MIN_BLOB = 1 + _NONCE + storage_crypto.GCM_TAG_BYTES
_ROLES = ("so", "user")

# Keys arrive as bytes, wipeable bytearrays (STYLE R8) or read-only views
# of the key-material arena (craton_hsm/secmem.py).
Key = bytes | bytearray | memoryview


# errors.py builds its classes at run time, so mypy cannot see that
# DeviceError is a class; the ignore is for that alone.
class VaultError(DeviceError):  # type: ignore[misc,valid-type]
    """A wrapped key or sealed record failed to open (CKR_DEVICE_ERROR).

    Tampering and a wrong key look the same to GCM; either way the
    stored data is unusable, which PKCS#11 reports as a device error.
    """


def new_master_key() -> secmem.Secret:
    """A fresh 32-byte master key in the key-material arena (the DRBG's
    output bytes object is a copy we cannot wipe: docs/memory.md)."""
    return secmem.secret(random_bytes(MK_BYTES))


def wipe(buf: bytearray) -> None:
    """Overwrite ``buf`` in place (best effort: Python may hold copies)."""
    buf[:] = bytes(len(buf))


def _aad(kind: bytes, serial: str, name: str) -> bytes:
    # Length-prefixed fields, so ("ab", "c") and ("a", "bc") differ.
    parts = [kind, serial.encode(), name.encode()]
    return b"craton-hsm/v1" + b"".join(
        len(p).to_bytes(4, "big") + p for p in parts)


def _encrypt(key: Key, plaintext: Key, aad: bytes) -> bytes:
    nonce = random_bytes(_NONCE)
    return bytes([FORMAT_VERSION]) + nonce + storage_crypto.gcm_encrypt(
        key, nonce, plaintext, aad)


def _decrypt(key: Key, blob: bytes, aad: bytes, what: str) -> secmem.Secret:
    """The plaintext, decrypted straight into the key-material arena
    (the caller frees it): it never exists as immutable bytes."""
    if len(blob) < _MIN_BLOB:
        raise VaultError(f"{what} is truncated")
    if blob[0] != FORMAT_VERSION:
        raise VaultError(f"{what} has unknown format version {blob[0]}")
    nonce = bytes(blob[1:1 + _NONCE])
    data = bytes(blob[1 + _NONCE:])
    out = secmem.alloc(len(data) - storage_crypto.GCM_TAG_BYTES)
    try:
        storage_crypto.gcm_decrypt_into(key, nonce, data, aad,
                                        out.writable())
    except AuthenticationFailed:
        out.free()
        raise VaultError(f"{what} failed authentication (tampered, "
                         "moved or wrong key)") from None
    return out


def _check_role(role: str) -> None:
    if role not in _ROLES:
        raise ValueError(f"unknown role {role!r}")


def wrap_master_key(mk: Key, kek: Key, serial: str, role: str) -> bytes:
    """The MK encrypted under a PIN-derived KEK, bound to serial+role."""
    _check_role(role)
    if len(mk) != MK_BYTES:
        raise ValueError("master key must be 32 bytes")
    return _encrypt(kek, mk, _aad(b"mk", serial, role))


def unwrap_master_key(blob: bytes, kek: Key, serial: str,
                      role: str) -> secmem.Secret:
    """Inverse of ``wrap_master_key``, in the arena (the caller frees
    it); VaultError on any mismatch."""
    _check_role(role)
    mk = _decrypt(kek, blob, _aad(b"mk", serial, role),
                  f"wrapped {role} master key")
    if len(mk) != MK_BYTES:
        mk.free()
        raise VaultError(f"wrapped {role} master key has a bad length")
    return mk


def _object_aad(serial: str, uid: str, public: dict[int, Any] | None,
                public_blob: bytes | None = None) -> bytes:
    # encode_attrs is canonical, so equal attribute dicts give equal AAD;
    # a caller that already holds the encoded record (the stored form,
    # store/codec.py) passes it instead of having it encoded again.
    attrs = public_blob if public_blob is not None else \
        encode_attrs(public or {})
    return _aad(b"obj", serial, uid) + len(attrs).to_bytes(4, "big") + attrs


def seal(mk: Key, serial: str, uid: str, secrets: dict[int, Any],
         public: dict[int, Any] | None = None, *,
         public_blob: bytes | None = None) -> bytes:
    """Encrypt an object's secret attributes, bound to serial, uid and
    the public attributes stored beside them (``public``, or their
    encoding ``public_blob``)."""
    aad = _object_aad(serial, uid, public, public_blob)
    # The plaintext record is assembled in the key-material arena, not
    # joined into immutable bytes (encode_attrs): a bytes copy of the
    # key cannot be wiped and outlives the call in the heap (issue 8,
    # docs/memory.md).  GCM reads it there; the slice is wiped after.
    parts = encode_parts(secrets)
    plain = secmem.alloc(sum(len(p) for p in parts))
    try:
        write_parts(parts, plain.writable())
        return _encrypt(mk, plain.view, aad)
    finally:
        plain.free()


def open_sealed(mk: Key, serial: str, uid: str, blob: bytes,
                public: dict[int, Any] | None = None, *,
                public_blob: bytes | None = None) -> dict[int, Any]:
    """Inverse of ``seal``; VaultError naming the uid on any failure,
    including public attributes that differ from those sealed with.

    Byte values come back as ``secmem.Secret`` (the caller owns and
    frees them), copied from the decrypted record, which is wiped."""
    plain = _decrypt(mk, blob, _object_aad(serial, uid, public, public_blob),
                     f"sealed secrets of object {uid}")
    try:
        found = decode_attrs(plain.view)
        return {t: secmem.secret(v) if isinstance(v, memoryview) else v
                for t, v in found.items()}
    except StoreCorrupt:
        # Authenticated yet undecodable means a writer bug, not tamper.
        raise VaultError(f"sealed secrets of object {uid} cannot be "
                         "decoded") from None
    finally:
        plain.free()

"""The backup archive file format: a bound header, then sealed chunks.

Layout::

    archive = MAGIC(8) || header_len:u32be || header || chunk*
    header  = canonical JSON (sorted keys, no spaces, UTF-8)
    chunk   = AES-256-GCM(key, nonce, plaintext_i, aad=MAGIC..header)
    nonce   = nonce_prefix(7) || index:u32be || last:u8

The key comes from the passphrase with the password KDF of the
``[crypto] profile`` in force when the archive is made
(``craton_hsm/password_kdf.py``): PBKDF2-HMAC-SHA256 (SP 800-132, at
least 600,000 iterations) under ``governance``, Argon2id (RFC 9106,
19 MiB, t=2) under ``leading-edge``; the KDF name, work factor and the
32-byte DRBG salt are recorded in the header, so an archive opens under
any later profile.  The derivation yields 64 bytes: the first 32 are the AES key,
the last 32 key an HMAC whose value (``kdf.check``) tells a wrong
passphrase apart from a damaged archive and commits the archive to one
key.  Every chunk authenticates the whole header as associated data,
so the format version, KDF parameters, slot, token serial, token
creation time and archive creation time cannot be changed without
detection.  The chunk index and final-chunk flag in the nonce (the
STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizar, 2015)
detect reordered, dropped or truncated chunks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from craton_hsm import password_kdf
from craton_hsm.backend import storage_crypto
from craton_hsm.backend.storage_crypto import AuthenticationFailed
from craton_hsm.drbg import random_bytes

MAGIC = b"CRTNBKP\x00"
FORMAT_VERSION = 1
KDF_NAME = "pbkdf2-hmac-sha256"   # this format's name for PBKDF2
CIPHER_NAME = "aes-256-gcm"
MIN_ITERATIONS = 600_000
MAX_ITERATIONS = 100_000_000     # bounds the work a forged header can cause
SALT_BYTES = 32
CHUNK_BYTES = 1 << 16
MAX_HEADER_BYTES = 1 << 16
_PREFIX_BYTES = 7
_TAG = storage_crypto.GCM_TAG_BYTES
_CHECK_LABEL = b"craton-hsm backup key check v1"

Progress = Callable[[str, int, int], None]


class ArchiveError(Exception):
    """The archive cannot be used; the message tells the operator why."""


class WrongPassphrase(ArchiveError):
    """The passphrase does not match the archive's key check."""


class ArchiveTampered(ArchiveError):
    """The archive failed authentication or is malformed."""


@dataclass(frozen=True)
class Header:
    """The archive's cleartext, authenticated description."""

    format: int
    kdf: str
    iterations: int
    salt: str             # hex
    check: str            # hex HMAC of _CHECK_LABEL under the check key
    cipher: str
    chunk_bytes: int
    nonce_prefix: str     # hex
    slot: int
    token_serial: str
    token_label: str
    token_created_at: str
    created_at: str       # ISO 8601 UTC, when the archive was made
    plaintext_bytes: int
    objects: int

    def encode(self) -> bytes:
        body = json.dumps(asdict(self), sort_keys=True,
                          separators=(",", ":")).encode()
        return MAGIC + struct.pack(">I", len(body)) + body


_FIELDS: dict[str, type] = {
    "format": int, "kdf": str, "iterations": int, "salt": str,
    "check": str, "cipher": str, "chunk_bytes": int, "nonce_prefix": str,
    "slot": int, "token_serial": str, "token_label": str,
    "token_created_at": str, "created_at": str, "plaintext_bytes": int,
    "objects": int,
}


def _derive(passphrase: bytes, salt: bytes, kdf: str,
            iterations: int) -> tuple[bytearray, bytes]:
    out = bytearray(password_kdf.derive(passphrase, salt, kdf, iterations,
                                        64))
    check = hmac.new(bytes(out[32:]), _CHECK_LABEL, hashlib.sha256)
    key = out[:32]
    out[:] = bytes(len(out))
    return key, check.digest()


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _chunk_count(size: int, chunk: int) -> int:
    return max(1, -(-size // chunk))


def kdf_for_profile(profile: str) -> tuple[str, int]:
    """(KDF name, work factor) a new archive uses under ``profile``."""
    name, work = password_kdf.for_profile(profile, MIN_ITERATIONS)
    return (KDF_NAME if name == password_kdf.PBKDF2 else name), work


def new_header(passphrase: bytes, fields: dict[str, Any],
               plaintext_bytes: int,
               profile: str = "governance") -> tuple[Header, bytearray]:
    """A header with a fresh salt and nonce prefix, and its AES key."""
    kdf, iterations = kdf_for_profile(profile)
    salt = random_bytes(SALT_BYTES)
    key, check = _derive(passphrase, salt, kdf, iterations)
    header = Header(format=FORMAT_VERSION, kdf=kdf,
                    iterations=iterations, salt=salt.hex(),
                    check=check.hex(), cipher=CIPHER_NAME,
                    chunk_bytes=CHUNK_BYTES,
                    nonce_prefix=random_bytes(_PREFIX_BYTES).hex(),
                    plaintext_bytes=plaintext_bytes, **fields)
    return header, key


def write(out: BinaryIO, header: Header, key: bytearray, data: bytes,
          progress: Progress | None = None) -> None:
    """Write the header and ``data`` sealed chunk by chunk."""
    aad = header.encode()
    out.write(aad)
    prefix = bytes.fromhex(header.nonce_prefix)
    count = _chunk_count(len(data), header.chunk_bytes)
    for i in range(count):
        piece = data[i * header.chunk_bytes:(i + 1) * header.chunk_bytes]
        out.write(storage_crypto.gcm_encrypt(
            key, _nonce(prefix, i, i == count - 1), piece, aad))
        if progress:
            progress("encrypt", min(len(data), (i + 1) * header.chunk_bytes),
                     len(data))


def read_header(src: BinaryIO) -> tuple[Header, bytes]:
    """The parsed header and its exact bytes (the chunks' AAD)."""
    magic = src.read(len(MAGIC))
    if magic != MAGIC:
        raise ArchiveTampered("not a Craton HSM backup archive (bad magic "
                              "bytes)")
    raw_len = src.read(4)
    if len(raw_len) != 4:
        raise ArchiveTampered("archive header is truncated")
    (length,) = struct.unpack(">I", raw_len)
    if length > MAX_HEADER_BYTES:
        raise ArchiveTampered(f"archive header length {length} is "
                              "implausible; the archive is damaged")
    body = src.read(length)
    if len(body) != length:
        raise ArchiveTampered("archive header is truncated")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ArchiveTampered("archive header is damaged (not valid "
                              "JSON)") from None
    return _header(doc), magic + raw_len + body


def _header(doc: Any) -> Header:
    if not isinstance(doc, dict) or set(doc) != set(_FIELDS):
        raise ArchiveTampered("archive header is damaged (unexpected "
                              "fields)")
    for name, kind in _FIELDS.items():
        value = doc[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ArchiveTampered(f"archive header field {name!r} is "
                                  "damaged")
    header = Header(**doc)
    if header.format != FORMAT_VERSION:
        raise ArchiveTampered(f"archive format version {header.format} is "
                              f"not supported (this build reads "
                              f"{FORMAT_VERSION})")
    _check_params(header)
    return header


def _hex(value: str, size: int, name: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ArchiveTampered(f"archive header field {name!r} is damaged")
    return raw


def _check_params(h: Header) -> None:
    argon2 = h.kdf == password_kdf.ARGON2ID
    if not (argon2 or h.kdf == KDF_NAME) or h.cipher != CIPHER_NAME:
        raise ArchiveTampered(
            f"archive uses {h.kdf}/{h.cipher}; this build reads only "
            f"{KDF_NAME} or {password_kdf.ARGON2ID} with {CIPHER_NAME}")
    # Bounds on the work a forged header can demand, and no weaker
    # setting than a new archive would get.
    low, high = ((password_kdf.ARGON2_PASSES, 16) if argon2
                 else (MIN_ITERATIONS, MAX_ITERATIONS))
    if not low <= h.iterations <= high:
        raise ArchiveTampered(f"archive KDF work factor {h.iterations} "
                              "is outside the accepted range")
    if not 4096 <= h.chunk_bytes <= (1 << 24) or h.plaintext_bytes < 0:
        raise ArchiveTampered("archive chunk parameters are damaged")
    _hex(h.salt, SALT_BYTES, "salt")
    _hex(h.check, 32, "check")
    _hex(h.nonce_prefix, _PREFIX_BYTES, "nonce_prefix")


def body_size(header: Header) -> int:
    """The exact number of bytes the chunks of ``header`` occupy."""
    n = _chunk_count(header.plaintext_bytes, header.chunk_bytes)
    return header.plaintext_bytes + n * _TAG


def unlock(header: Header, passphrase: bytes) -> bytearray:
    """The AES key, or WrongPassphrase."""
    key, check = _derive(passphrase, bytes.fromhex(header.salt),
                         header.kdf, header.iterations)
    if not hmac.compare_digest(check, bytes.fromhex(header.check)):
        key[:] = bytes(len(key))
        raise WrongPassphrase("wrong passphrase (or the archive's KDF "
                              "fields were altered)")
    return key


def read_chunks(src: BinaryIO, header: Header, aad: bytes,
                key: bytearray) -> Iterator[bytes]:
    """Decrypted chunks; ArchiveTampered on the first bad one."""
    prefix = bytes.fromhex(header.nonce_prefix)
    count = _chunk_count(header.plaintext_bytes, header.chunk_bytes)
    left = header.plaintext_bytes
    for i in range(count):
        size = min(left, header.chunk_bytes) + _TAG
        sealed = src.read(size)
        if len(sealed) != size:
            raise ArchiveTampered("archive is truncated")
        try:
            plain = storage_crypto.gcm_decrypt(
                key, _nonce(prefix, i, i == count - 1), sealed, aad)
        except AuthenticationFailed:
            raise ArchiveTampered(
                f"archive failed authentication at chunk {i}: it was "
                "modified or damaged after it was written") from None
        left -= len(plain)
        yield plain
    if src.read(1):
        raise ArchiveTampered("archive has trailing bytes after its last "
                              "chunk")

"""AES block and counter modes as operations (PKCS#11 v3.0 sections
2.10.1-2.10.4: CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR;
SP 800-38A).

Block modes keep partial blocks here so that every length query is
exact (section 5.2) and the backend only ever sees whole blocks.
"""

from __future__ import annotations

from typing import Any

from craton_hsm.backend.symmetric import BLOCK, Context, pkcs7_unpad
from craton_hsm.errors import DataLenRange, EncryptedDataLenRange


def _whole(n: int) -> int:
    return n - n % BLOCK


def _pkcs7_last(tail: Any) -> bytes:
    """The final block of a PKCS#7-padded message (RFC 5652 section
    6.3) from its last 0..15 bytes."""
    pad = BLOCK - len(tail)
    return bytes(tail) + bytes((pad,)) * pad


class BlockOp:
    """ECB/CBC encryption or decryption, optionally with PKCS#7 padding
    (CKM_AES_CBC_PAD, section 2.10.3)."""

    def __init__(self, ctx: Context, encrypt: bool, pad: bool) -> None:
        self._ctx = ctx
        self._encrypt = encrypt
        self._pad = pad
        self._buf = b""

    def _holds_back_last_block(self) -> bool:
        # A padded decryption cannot release the last block before final:
        # it may be all padding.
        return self._pad and not self._encrypt

    def _ready(self, total: int) -> int:
        if self._holds_back_last_block():
            return max(0, _whole(total - 1))
        return _whole(total)

    def update(self, data: Any) -> bytes:
        buf = self._buf + data
        n = self._ready(len(buf))
        self._buf = buf[n:]
        return self._ctx.update(buf[:n]) if n else b""

    def final(self) -> bytes:
        buf, self._buf = self._buf, b""
        if not self._pad:
            if buf:
                raise (DataLenRange if self._encrypt
                       else EncryptedDataLenRange)(
                    "input is not a whole number of blocks")
            return b""
        if self._encrypt:
            return self._ctx.update(_pkcs7_last(buf))
        if len(buf) != BLOCK:
            raise EncryptedDataLenRange("input is not a whole number of "
                                        "blocks")
        return pkcs7_unpad(self._ctx.update(buf))

    def one_shot(self, data: Any) -> bytes:
        if self._encrypt and not self._buf:
            # One backend call over the whole input plus its padding.
            n = len(data)
            whole = _whole(n)
            if whole == n and not self._pad:
                return self._ctx.update(data)
            if self._pad:
                view = memoryview(data)
                return self._ctx.update(
                    b"".join((view[:whole], _pkcs7_last(view[whole:]))))
        return self.update(data) + self.final()

    def one_shot_into(self, data: Any, out: Any) -> int:
        """Encryption straight into ``out`` (at least one_shot_size
        bytes, which leaves the 15 spare bytes OpenSSL asks of a block
        mode's update_into).  Decryption never comes here: a padded
        decryption must not show plaintext before its padding checks
        out."""
        if not self._encrypt or self._buf:
            value = self.one_shot(data)
            out[:len(value)] = value
            return len(value)
        n = len(data)
        whole = _whole(n)
        view = memoryview(data)
        if whole != n and not self._pad:
            raise DataLenRange("input is not a whole number of blocks")
        # Read the partial block before writing: the buffers may be the
        # same (in-place encryption, which PKCS#11 allows).
        last = _pkcs7_last(view[whole:]) if self._pad else b""
        if whole + BLOCK - 1 <= len(out):
            k = self._ctx.update_into(view[:whole], out) if whole else 0
        else:
            # An exactly sized buffer (unpadded ECB/CBC): OpenSSL's
            # update_into wants 15 spare bytes, so one copy.
            out[:whole] = self._ctx.update(view[:whole])
            k = whole
        if last:
            out[k:k + BLOCK] = self._ctx.update(last)
            k += BLOCK
        return k

    def update_size(self, n: int) -> int:
        return self._ready(len(self._buf) + n)

    def final_size(self) -> int:
        # Padded decryption: an upper bound, the padding is unknown yet.
        return BLOCK if self._pad else 0

    def one_shot_size(self, n: int) -> int:
        if self._pad and self._encrypt:
            return _whole(n) + BLOCK
        return n


class CtrOp:
    """CKM_AES_CTR (section 2.10.4): only the low ``counter_bits`` of the
    counter block count; running past them would wrap into the nonce
    part, so it is refused before any output is produced."""

    def __init__(self, ctx: Context, counter_block: bytes,
                 counter_bits: int, encrypt: bool) -> None:
        self._ctx = ctx
        modulus = 1 << counter_bits
        start = int.from_bytes(counter_block, "big") % modulus
        self._blocks_left = modulus - start
        self._done = 0
        self._encrypt = encrypt

    def _advance(self, n: int) -> None:
        total = self._done + n
        # The backend increments all 128 bits; staying within the
        # counter's range means no carry ever leaves the low bits, so the
        # two agree.
        if -(-total // BLOCK) > self._blocks_left:
            raise (DataLenRange if self._encrypt
                   else EncryptedDataLenRange)("counter would wrap")
        self._done = total

    def update(self, data: Any) -> bytes:
        self._advance(len(data))
        return self._ctx.update(data)

    def update_into(self, data: Any, out: Any) -> int:
        """A stream mode: output as long as the input, written into
        ``out`` (in place allowed)."""
        self._advance(len(data))
        return self._ctx.update_into(data, out)

    def one_shot_into(self, data: Any, out: Any) -> int:
        return self.update_into(data, out)

    def final(self) -> bytes:
        return b""

    def one_shot(self, data: bytes) -> bytes:
        return self.update(data)

    def update_size(self, n: int) -> int:
        return n

    def final_size(self) -> int:
        return 0

    def one_shot_size(self, n: int) -> int:
        return n

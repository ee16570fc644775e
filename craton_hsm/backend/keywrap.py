"""AES key wrap adapters: RFC 3394 (NIST SP 800-38F KW) and RFC 5649
(SP 800-38F KWP)."""

from __future__ import annotations

from cryptography.hazmat.primitives import keywrap

from craton_hsm.errors import WrappedKeyInvalid


def wrap(kek: bytes, key: bytes, padded: bool) -> bytes:
    if padded:
        return keywrap.aes_key_wrap_with_padding(kek, key)
    return keywrap.aes_key_wrap(kek, key)


def unwrap(kek: bytes, wrapped: bytes, padded: bool) -> bytes:
    try:
        if padded:
            return keywrap.aes_key_unwrap_with_padding(kek, wrapped)
        return keywrap.aes_key_unwrap(kek, wrapped)
    except (keywrap.InvalidUnwrap, ValueError):
        # One generic answer: no oracle on which check failed.
        raise WrappedKeyInvalid("wrapped key failed integrity check") \
            from None

"""Message-based AEAD (PKCS#11 v3.0 sections 5.11-5.12 with the message
parameters of 2.12.3 CK_GCM_MESSAGE_PARAMS, 2.12.4
CK_CCM_MESSAGE_PARAMS and 2.46 CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS).

One ``MessageAead`` per C_MessageEncryptInit / C_MessageDecryptInit
holds the key; each message brings its own IV, AAD and tag.  The tag is
not part of the ciphertext here: it travels in pTag / pMAC, so the
output of a message is exactly as long as its input.

``make_iv`` builds the IV for the generator options (CK_GENERATOR_
FUNCTION): the leading ``ulIvFixedBits`` bits of the caller's IV are
kept, the rest is a counter (CKG_GENERATE_COUNTER, the SP 800-38D 8.2.1
deterministic construction: the fixed field names the context) or DRBG
output (CKG_GENERATE_RANDOM, SP 800-38D 8.2.2; also CKG_GENERATE, "the
token's choice": a random field needs no state shared between sessions
and processes using one key, a counter would).  The counter value is
supplied by dispatch, which keeps it per session, key and fixed field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from craton_hsm import drbg
from craton_hsm._generated_ck import CKF, CKG, CKR
from craton_hsm.backend import aead
from craton_hsm.backend.symmetric import (
    GCM_IV_BYTES,
    GcmEncryptor,
    gcm_decrypt,
)
from craton_hsm.errors import (
    CKRError,
    DataLenRange,
    EncryptedDataLenRange,
    MechanismParamInvalid,
)
from craton_hsm.mechanisms.aes_gcm import TAG_BITS
from craton_hsm.mechanisms.checks import no_params, params_of
from craton_hsm.mechanisms.params import AeadMessageParams
from craton_hsm.mechanisms.registry import (
    KeyLike,
    MechSpec,
    Op,
    ParamKind,
)

COUNTING = frozenset({CKG.GENERATE_COUNTER})
GENERATORS = COUNTING | {CKG.NO_GENERATE, CKG.GENERATE,
                         CKG.GENERATE_RANDOM}
TAG_BYTES = frozenset(b // 8 for b in TAG_BITS)

Seal = Callable[[bytes, bytes, bytes, int], tuple[bytes, bytes]]
Open = Callable[[bytes, bytes, bytes, bytes], bytes]
Check = Callable[[AeadMessageParams], None]
KeyOf = Callable[[KeyLike | None], bytes]
MESSAGE_CRYPT = CKF.MESSAGE_ENCRYPT | CKF.MESSAGE_DECRYPT
MESSAGE_MAC = CKF.MESSAGE_SIGN | CKF.MESSAGE_VERIFY


def free_bits(p: AeadMessageParams) -> int:
    """The IV bits the module generates; MECHANISM_PARAM_INVALID when
    the fixed part leaves none."""
    total = 8 * len(p.iv)
    if p.generator not in GENERATORS:
        raise MechanismParamInvalid(f"unknown IV generator {p.generator}")
    if p.generator == CKG.NO_GENERATE:
        return 0
    if not 0 <= p.fixed_bits < total:
        raise MechanismParamInvalid("ulIvFixedBits leaves no bits to "
                                    "generate")
    return total - p.fixed_bits


def fixed_part(p: AeadMessageParams) -> bytes:
    """The caller's fixed field (the counter's name space)."""
    keep = int.from_bytes(p.iv, "big") >> (8 * len(p.iv) - p.fixed_bits)
    return p.fixed_bits.to_bytes(2, "big") + keep.to_bytes(len(p.iv),
                                                           "big")


def make_iv(p: AeadMessageParams, counter: int) -> bytes:
    """The IV of one message (``counter`` used for counting generators)."""
    free = free_bits(p)
    if free == 0:
        return p.iv
    if p.generator in COUNTING:
        if counter >= 1 << free:
            # SP 800-38D 8.3: the invocation field must never wrap.
            raise CKRError(CKR.FUNCTION_FAILED,
                           "IV counter exhausted for this key")
        low = counter
    else:
        low = int.from_bytes(drbg.random_bytes((free + 7) // 8), "big") \
            & ((1 << free) - 1)
    n = 8 * len(p.iv)
    high = int.from_bytes(p.iv, "big") >> free << free
    return (high | low).to_bytes(n // 8, "big")


class MessageAead:
    """The key of a message-based AEAD operation and its algorithm."""

    def __init__(self, seal: Seal, open_: Open, check: Check) -> None:
        self._seal = seal
        self._open = open_
        self.check = check

    def encrypt(self, p: AeadMessageParams, iv: bytes, aad: bytes,
                data: bytes) -> tuple[bytes, bytes]:
        """(ciphertext, tag) of one whole message."""
        self.check(p)
        if p.data_len is not None and len(data) != p.data_len:
            raise DataLenRange("message length differs from ulDataLen")
        return self._seal(iv, aad, data, p.tag_len)

    def decrypt(self, p: AeadMessageParams, aad: bytes,
                data: bytes) -> bytes:
        self.check(p)
        if p.data_len is not None and len(data) != p.data_len:
            raise EncryptedDataLenRange("length differs from ulDataLen")
        return self._open(p.iv, aad, data, p.tag)


def _gcm_check(p: AeadMessageParams) -> None:
    if p.tag_len not in TAG_BYTES:
        raise MechanismParamInvalid("unsupported GCM tag length")
    if not GCM_IV_BYTES[0] <= len(p.iv) <= GCM_IV_BYTES[1]:
        raise MechanismParamInvalid("unsupported GCM IV length")
    free_bits(p)


def _ccm_check(p: AeadMessageParams) -> None:
    lo, hi = aead.CCM_NONCE_BYTES
    if not lo <= len(p.iv) <= hi:
        raise MechanismParamInvalid("CCM nonce must be 7..13 bytes")
    if p.tag_len not in aead.CCM_TAG_BYTES:
        raise MechanismParamInvalid("CCM MAC length must be 4..16, even")
    if p.data_len is None or p.data_len >= 1 << (8 * (15 - len(p.iv))):
        raise MechanismParamInvalid("ulDataLen too large for the nonce")
    free_bits(p)


def _chacha_check(p: AeadMessageParams) -> None:
    if len(p.iv) != aead.CHACHA_NONCE_BYTES:
        raise MechanismParamInvalid("only 12-byte nonces supported")


def _split(n: int, both: bytes) -> tuple[bytes, bytes]:
    return both[: len(both) - n], both[len(both) - n:]


def _gcm(k: bytes) -> MessageAead:
    def seal(iv: bytes, aad: bytes, data: bytes,
             n: int) -> tuple[bytes, bytes]:
        ctx = GcmEncryptor(k, iv, aad)
        out = ctx.update(data)
        return out, ctx.finalize()[:n]

    return MessageAead(seal, lambda iv, aad, d, t: gcm_decrypt(k, iv, aad,
                                                               d, t),
                       _gcm_check)


def _ccm(k: bytes) -> MessageAead:
    return MessageAead(
        lambda iv, aad, d, n: _split(n, aead.ccm_encrypt(k, iv, aad, d, n)),
        lambda iv, aad, d, t: aead.ccm_decrypt(k, iv, aad, d + t, len(t)),
        _ccm_check)


def _chacha(k: bytes) -> MessageAead:
    return MessageAead(
        lambda iv, aad, d, n: _split(16, aead.chacha_encrypt(k, iv, aad, d)),
        lambda iv, aad, d, t: aead.chacha_decrypt(k, iv, aad, d + t),
        _chacha_check)


_ALGORITHMS: dict[ParamKind, Callable[[bytes], MessageAead]] = {
    ParamKind.GCM_MESSAGE: _gcm,
    ParamKind.CCM_MESSAGE: _ccm,
    ParamKind.CHACHA20_POLY1305_MESSAGE: _chacha,
}


def with_messages(spec: MechSpec, kind: ParamKind,
                  key_of: KeyOf) -> MechSpec:
    """``spec`` plus message-based encryption and decryption (v3.0
    sections 5.11-5.12); ``kind`` names the per-message parameter and
    ``key_of`` reads the key value as the family's one-shot ops do.
    C_MessageEncryptInit itself takes no mechanism parameter."""
    build = _ALGORITHMS[kind]

    def make(key: KeyLike | None, params: object) -> MessageAead:
        no_params(params)
        return build(key_of(key))

    return replace(spec, flags=spec.flags | MESSAGE_CRYPT,
                   ops={**spec.ops, Op.MESSAGE_ENCRYPT: make,
                        Op.MESSAGE_DECRYPT: make},
                   message_params=kind)


def with_message_macs(spec: MechSpec) -> MechSpec:
    """``spec`` (a MAC) plus message-based signing and verification
    (v3.0 sections 5.13, 5.15): each message is one fresh MAC with the
    C_MessageSignInit parameters; messages carry no parameter."""
    return replace(spec, flags=spec.flags | MESSAGE_MAC,
                   ops={**spec.ops, Op.MESSAGE_SIGN: spec.ops[Op.SIGN],
                        Op.MESSAGE_VERIFY: spec.ops[Op.VERIFY]})


def params(p: object) -> AeadMessageParams:
    return params_of(p, AeadMessageParams)

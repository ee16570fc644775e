"""Key material for the secrets matrix: one importable key per key type
the module supports, with the secret bytes it carries, so every output
can be searched for them.

Keys are imported (C_CreateObject) rather than generated because only an
imported key's secret bytes are known to the test; ``SECRET_ATTRS`` is the
spec's list of attributes that can hold key material (v3.0 section 4.9
Table 33, 4.10 Table 38 footnote 7, the 3.0 PQC/Edwards/Montgomery
tables): every one of them must come back CKR_ATTRIBUTE_SENSITIVE."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed25519,
    mldsa,
    mlkem,
    rsa,
    x25519,
)

from craton_hsm._generated_ck import CKA, CKK, CKO, CKP
from tests.abi.test_hostile import P256, ulong

SECRET_ATTRS = (CKA.VALUE, CKA.PRIVATE_EXPONENT, CKA.PRIME_1, CKA.PRIME_2,
                CKA.EXPONENT_1, CKA.EXPONENT_2, CKA.COEFFICIENT, CKA.SEED)
ED25519_OID = bytes.fromhex("06032b6570")     # RFC 8410 id-Ed25519
X25519_OID = bytes.fromhex("06032b656e")      # RFC 8410 id-X25519
HMAC_TYPES = (CKK.SHA_1_HMAC, CKK.SHA224_HMAC, CKK.SHA256_HMAC,
              CKK.SHA384_HMAC, CKK.SHA512_HMAC, CKK.SHA512_224_HMAC,
              CKK.SHA512_256_HMAC, CKK.SHA3_224_HMAC, CKK.SHA3_256_HMAC,
              CKK.SHA3_384_HMAC, CKK.SHA3_512_HMAC)


@dataclass(frozen=True)
class KeyCase:
    name: str
    cls: int
    key_type: int
    attrs: tuple[tuple[int, bytes], ...]    # public part and material
    secrets: tuple[bytes, ...]               # byte strings that must not leave

    def template(self, sensitive: bool, extractable: bool
                 ) -> tuple[tuple[int, bytes], ...]:
        flag = {True: b"\x01", False: b"\x00"}
        return ((CKA.CLASS, ulong(self.cls)),
                (CKA.KEY_TYPE, ulong(self.key_type)),
                (CKA.TOKEN, b"\x01"), (CKA.PRIVATE, b"\x00"),
                (CKA.LABEL, self.name.encode()),
                (CKA.SENSITIVE, flag[sensitive]),
                (CKA.EXTRACTABLE, flag[extractable]), *self.attrs)


def _secret(name: str, key_type: int, n: int, fill: int) -> KeyCase:
    value = bytes((fill + 7 * i) % 256 for i in range(n))
    return KeyCase(name, CKO.SECRET_KEY, key_type, ((CKA.VALUE, value),),
                   (value,))


def _be(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _rsa() -> KeyCase:
    k = rsa.generate_private_key(65537, 2048).private_numbers()
    parts = {CKA.PRIVATE_EXPONENT: k.d, CKA.PRIME_1: k.p, CKA.PRIME_2: k.q,
             CKA.EXPONENT_1: k.dmp1, CKA.EXPONENT_2: k.dmq1,
             CKA.COEFFICIENT: k.iqmp}
    return KeyCase("rsa-2048", CKO.PRIVATE_KEY, CKK.RSA,
                   ((CKA.MODULUS, _be(k.public_numbers.n)),
                    (CKA.PUBLIC_EXPONENT, _be(k.public_numbers.e)),
                    *((t, _be(v)) for t, v in parts.items())),
                   tuple(_be(v) for v in parts.values()))


def _p256() -> KeyCase:
    d = ec.generate_private_key(ec.SECP256R1()).private_numbers()
    scalar = d.private_value.to_bytes(32, "big")
    return KeyCase("ec-p256", CKO.PRIVATE_KEY, CKK.EC,
                   ((CKA.EC_PARAMS, P256), (CKA.VALUE, scalar)), (scalar,))


def _ed25519() -> KeyCase:
    raw = ed25519.Ed25519PrivateKey.generate().private_bytes_raw()
    return KeyCase("ed25519", CKO.PRIVATE_KEY, CKK.EC_EDWARDS,
                   ((CKA.EC_PARAMS, ED25519_OID), (CKA.VALUE, raw)), (raw,))


def _x25519() -> KeyCase:
    raw = x25519.X25519PrivateKey.generate().private_bytes_raw()
    return KeyCase("x25519", CKO.PRIVATE_KEY, CKK.EC_MONTGOMERY,
                   ((CKA.EC_PARAMS, X25519_OID), (CKA.VALUE, raw)), (raw,))


def _mldsa() -> KeyCase:
    seed = mldsa.MLDSA44PrivateKey.generate().private_bytes_raw()
    return KeyCase("ml-dsa-44", CKO.PRIVATE_KEY, CKK.ML_DSA,
                   ((CKA.PARAMETER_SET, ulong(CKP.ML_DSA_44)),
                    (CKA.SEED, seed)), (seed,))


def _mlkem() -> KeyCase:
    seed = mlkem.MLKEM768PrivateKey.generate().private_bytes_raw()
    return KeyCase("ml-kem-768", CKO.PRIVATE_KEY, CKK.ML_KEM,
                   ((CKA.PARAMETER_SET, ulong(CKP.ML_KEM_768)),
                    (CKA.SEED, seed)), (seed,))


def key_cases() -> list[KeyCase]:
    """Every key type the module stores (core/schema.py), once."""
    cases = [_secret("aes-256", CKK.AES, 32, 0x11),
             _secret("generic-secret", CKK.GENERIC_SECRET, 40, 0x23),
             _secret("chacha20", CKK.CHACHA20, 32, 0x35),
             _secret("hkdf", CKK.HKDF, 32, 0x47)]
    cases += [_secret(f"hmac-{CKK(t).name.lower()}", t, 32, 0x59 + i)
              for i, t in enumerate(HMAC_TYPES)]
    return cases + [_rsa(), _p256(), _ed25519(), _x25519(), _mldsa(),
                    _mlkem()]


# (label, CKA_SENSITIVE, CKA_EXTRACTABLE): each protects the material.
PROTECTIONS = (("sensitive", True, True), ("unextractable", False, False),
               ("both", True, False))


def leaked(out: bytes, secrets: tuple[bytes, ...]) -> list[str]:
    """Which secrets (or their hex) appear in ``out``."""
    found = []
    for s in secrets:
        for form in (s, s.hex().encode(), s.hex().upper().encode()):
            if len(form) >= 8 and form in out:
                found.append(form[:8].hex())
    return found

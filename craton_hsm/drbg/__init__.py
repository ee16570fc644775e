"""The module's random bit generator: HMAC_DRBG with SHA-256 (NIST SP
800-90A Rev. 1, section 10.1.2) seeded from ``getrandom(2)`` through the
SP 800-90B health tests (docs/drbg.md).

* :mod:`.hmac_drbg` the mechanism (CAVP-tested), :mod:`.health` the
  repetition count, adaptive proportion and continuous tests,
  :mod:`.entropy` the health-tested source, :mod:`.process` the
  process's one instance (reseeding, prediction resistance, fork
  safety, the error state), :mod:`.kat` the known-answer self-test.

What it is the source of: every secret key value the module generates
(AES, HMAC/generic secret, ChaCha20 keys; EC private scalars; Ed25519,
Ed448, X25519 and X448 private keys; ML-DSA and ML-KEM seeds), the
master key, vault nonces, PIN salts, backup salts and nonces, token
serials, object ids and every C_GenerateRandom byte.  C_SeedRandom's
bytes are additional input to a reseed.

What it is honestly *not* the source of (OpenSSL's own SP 800-90A
CTR_DRBG, seeded from the kernel, supplies these inside pyca/
cryptography, which offers no hook for an external RNG):

* RSA key generation: the prime search runs in OpenSSL; feeding it from
  this DRBG would need a pure-Python FIPS 186-5 A.1.3 prime search
  (seconds per key).
* the per-signature ECDSA nonce k, the RSA-PSS salt, the RSA-OAEP seed,
  the ML-DSA hedged-signing randomness (rnd) and the ML-KEM encapsulation
  randomness (m): drawn inside the one OpenSSL call that uses them.
"""

from __future__ import annotations

from craton_hsm.drbg.hmac_drbg import HmacDrbg
from craton_hsm.drbg.kat import known_answer_test
from craton_hsm.drbg.process import ProcessDrbg

_INSTANCE = ProcessDrbg()
random_bytes = _INSTANCE.random_bytes
add_seed = _INSTANCE.add_seed
configure = _INSTANCE.configure

__all__ = ["HmacDrbg", "add_seed", "configure", "known_answer_test",
           "random_bytes"]

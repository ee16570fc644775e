"""The self-test table and its runner (FIPS 140-3 / ISO/IEC 19790
7.10.2: pre-operational and conditional cryptographic algorithm
self-tests; seed 004 "Self-tests").

C_Initialize calls :func:`run` before the module offers any service:
the SHA-256 and HMAC-SHA-256 KATs, then the software integrity test
(IG 10.3.A: the integrity technique's algorithm is tested before it is
used), then every other KAT.  The first failure latches the error state
(``craton_hsm.latch``) and C_Initialize returns CKR_GENERAL_ERROR with a
log line naming the test; success clears the latch.  Nothing is cached
between runs: every C_Initialize runs every test again.
``craton-hsm selftest`` calls :func:`run_all`, which runs every test
and reports each one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from craton_hsm import audit, latch
from craton_hsm.selftest import (
    integrity,
    kat_asymmetric,
    kat_pqc,
    kat_symmetric,
)
from craton_hsm.selftest.common import vectors

_log = logging.getLogger("craton_hsm")

KatFn = Callable[[str, dict[str, Any]], None]


class Unavailable(Exception):
    """A test whose implementation has not landed (reported, not run)."""


@dataclass(frozen=True)
class SelfTest:
    name: str
    family: str
    run: Callable[[Path | None], None]


@dataclass(frozen=True)
class Outcome:
    name: str
    family: str
    result: str          # "pass", "fail" or "unavailable"
    seconds: float
    detail: str = ""


def _kat(name: str, family: str, fn: KatFn, file: str = "kat.json"
         ) -> SelfTest:
    return SelfTest(name, family,
                    lambda _lib: fn(name, vectors(file)[name]))


def _drbg(_lib: Path | None) -> None:
    """HMAC_DRBG (SP 800-90A 11.3) KAT, owned by craton_hsm.drbg."""
    from craton_hsm import drbg
    kat = getattr(drbg, "known_answer_test", None)
    if kat is None:
        raise Unavailable("craton_hsm.drbg.known_answer_test not present")
    kat()


K = kat_symmetric
A = kat_asymmetric
# Order matters: the integrity test uses HMAC-SHA-256 (IG 10.3.A).
TESTS: tuple[SelfTest, ...] = (
    _kat("kat-sha256", "SHA-2", K.digest),
    _kat("kat-hmac-sha256", "HMAC", K.hmac_mac),
    SelfTest(integrity.NAME, "software integrity",
             lambda lib: integrity.check(lib)),
    _kat("kat-sha1", "SHA-1", K.digest),
    _kat("kat-sha224", "SHA-2", K.digest),
    _kat("kat-sha384", "SHA-2", K.digest),
    _kat("kat-sha512", "SHA-2", K.digest),
    _kat("kat-sha3-256", "SHA-3", K.digest),
    _kat("kat-sha3-512", "SHA-3", K.digest),
    _kat("kat-hmac-sha3-256", "HMAC", K.hmac_mac),
    _kat("kat-aes-ecb", "AES", K.aes_ecb),
    _kat("kat-aes-cbc", "AES", K.aes_cbc),
    _kat("kat-aes-gcm", "AES", K.aes_gcm),
    _kat("kat-aes-ccm", "AES", K.aes_ccm),
    _kat("kat-aes-kw", "AES", K.aes_kw),
    _kat("kat-cmac-aes", "CMAC", K.cmac),
    _kat("kat-pbkdf2", "PBKDF2", K.pbkdf2),
    _kat("kat-hkdf", "HKDF", K.hkdf),
    _kat("kat-kbkdf", "KBKDF", K.kbkdf),
    SelfTest("drbg-kat", "DRBG", _drbg),
    _kat("kat-rsa-pkcs1", "RSA", A.rsa_pkcs1),
    _kat("kat-rsa-pss", "RSA", A.rsa_pss),
    _kat("kat-rsa-oaep", "RSA", A.rsa_oaep),
    _kat("kat-ecdsa-p256", "ECDSA", A.ecdsa_p256),
    _kat("kat-ed25519", "EdDSA", A.ed25519),
    _kat("kat-ecdh-p256", "ECDH", A.ecdh_p256),
    _kat("kat-x25519", "ECDH", A.x25519),
    *(_kat(n, "ML-DSA", kat_pqc.ml_dsa, "pqc.json") for n in kat_pqc.DSA),
    *(_kat(n, "ML-KEM", kat_pqc.ml_kem, "pqc.json") for n in kat_pqc.KEM),
)
NAMES: tuple[str, ...] = tuple(t.name for t in TESTS)


def _one(test: SelfTest, library: Path | None) -> Outcome:
    start = time.perf_counter()
    try:
        test.run(library)
    except Unavailable as exc:
        return Outcome(test.name, test.family, "unavailable",
                       time.perf_counter() - start, str(exc))
    # Any exception is a failure: a typed CKRError from a mechanism (a
    # refused signature, a bad tag) as much as a wrong answer.
    except Exception as exc:  # noqa: BLE001
        return Outcome(test.name, test.family, "fail",
                       time.perf_counter() - start,
                       f"{type(exc).__name__}: {exc}")
    return Outcome(test.name, test.family, "pass",
                   time.perf_counter() - start)


def run_all(library: Path | None) -> list[Outcome]:
    """Every test, none skipped after a failure (the CLI report)."""
    return [_one(test, library) for test in TESTS]


def run(library: Path | None = None) -> float:
    """The power-on self-tests; returns their duration in seconds.
    Raises the latched ModuleErrorState on the first failure."""
    library = library or integrity.module_path()
    start = time.perf_counter()
    for test in TESTS:
        outcome = _one(test, library)
        if outcome.result == "fail":
            raise latch.latch(test.name, outcome.detail)
        if outcome.result == "unavailable":
            _log.warning("self-test %s not run: %s", test.name,
                         outcome.detail)
    latch.reset()
    took = time.perf_counter() - start
    audit.event("selftest", result="pass", tests=len(TESTS),
                ms=round(took * 1000, 1))
    _log.info("power-on self-tests passed (%d tests, %.1f ms)",
              len(TESTS), took * 1000)
    return took

"""The DRBG's known-answer self-test (SP 800-90A section 11.3.2; FIPS
140-3 IG 10.3.A: a KAT of instantiate, reseed and generate before first
use).  Run by the power-on self-tests (craton_hsm.selftest) on a
separate instantiation, never the process DRBG.

Vector: NIST CAVP, CAVS 14.3 drbgtestvectors.zip, drbgvectors_pr_false/
HMAC_DRBG.rsp, [SHA-256] [PredictionResistance = False]
[EntropyInputLen = 256] [NonceLen = 128] [PersonalizationStringLen = 256]
[AdditionalInputLen = 256] [ReturnedBitsLen = 1024], COUNT = 0 (the
shared vector set's nist_cavp_drbg/pr_false/HMAC_DRBG.rsp; PROVENANCE.md
there).  It exercises every input: personalisation string, an explicit
reseed with additional input, and additional input on both generates.
"""

from __future__ import annotations

import hmac

from craton_hsm.drbg.health import HealthTestFailure
from craton_hsm.drbg.hmac_drbg import HmacDrbg
from craton_hsm.selftest import faults

_X = bytes.fromhex
ENTROPY = _X("cdb0d9117cc6dbc9ef9dcb06a97579841d72dc18b2d46a1cb61e314012bdf416")
NONCE = _X("d0c0d01d156016d0eb6b7e9c7c3c8da8")
PERSONALIZATION = _X(
    "6f0fb9eab3f9ea7ab0a719bfa879bf0aaed683307fda0c6d73ce018b6e34faaa")
ENTROPY_RESEED = _X(
    "8ec6f7d5a8e2e88f43986f70b86e050d07c84b931bcf18e601c5a3eee3064c82")
ADDITIONAL_RESEED = _X(
    "1ab4ca9014fa98a55938316de8ba5a68c629b0741bdd058c4d70c91cda5099b3")
ADDITIONAL = (
    _X("16e2d0721b58d839a122852abd3bf2c942a31c84d82fca74211871880d7162ff"),
    _X("53686f042a7b087d5d2eca0d2a96de131f275ed7151189f7ca52deaa78b79fb2"),
)
RETURNED = _X(
    "dda04a2ca7b8147af1548f5d086591ca4fd951a345ce52b3cd49d47e84aa31a1"
    "83e31fbc42a1ff1d95afec7143c8008c97bc2a9c091df0a763848391f68cb4a3"
    "66ad89857ac725a53b303ddea767be8dc5f605b1b95f6d24c9f06be65a973a08"
    "9320b3cc42569dcfd4b92b62a993785b0301b3fc452445656fce22664827b88f")


def known_answer_test() -> None:
    """Raises HealthTestFailure("drbg-kat", ...) on a wrong answer (or
    when the test-only switch names ``drbg-kat``)."""
    drbg = HmacDrbg(ENTROPY, NONCE, PERSONALIZATION)
    drbg.reseed(ENTROPY_RESEED, ADDITIONAL_RESEED)
    drbg.generate(len(RETURNED), ADDITIONAL[0])
    got = drbg.generate(len(RETURNED), ADDITIONAL[1])
    if not hmac.compare_digest(got, faults.expected("drbg-kat", RETURNED)):
        raise HealthTestFailure("drbg-kat", "HMAC_DRBG SHA-256 output "
                                "differs from the CAVP known answer")

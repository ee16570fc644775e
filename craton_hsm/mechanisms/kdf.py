"""The key-derivation family: HKDF (kdf_hkdf), PBKDF2 (kdf_pbkd2),
SP 800-108 counter mode (kdf_sp800108) and the simple and
data-encryption derivations (kdf_simple), listed once for the registry."""

from __future__ import annotations

from craton_hsm.mechanisms import kdf_hkdf, kdf_pbkd2, kdf_simple, kdf_sp800108
from craton_hsm.mechanisms.registry import MechSpec

SPECS: tuple[MechSpec, ...] = (
    kdf_hkdf.SPECS + kdf_pbkd2.SPECS + kdf_sp800108.SPECS + kdf_simple.SPECS
)

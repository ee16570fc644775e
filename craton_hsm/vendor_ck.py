"""Craton HSM's vendor-defined PKCS#11 constants.

PKCS#11 v3.0 section 3.4 reserves values from CKA_VENDOR_DEFINED
(0x80000000) up for vendors.  ``_generated_ck`` is generated from the
OASIS headers and never edited, so the module's own values live here,
one leaf module beside it that every layer may import.
"""

from __future__ import annotations

from craton_hsm._generated_ck import CKA

# CK_BBOOL.  Marks a key compromised (SP 800-57 Part 1 section 5.3.4:
# a compromised key may only process, never protect).  Settable only to
# CK_TRUE, like CKA_SENSITIVE; see docs/key-lifecycle.md.
# Bit 30 (CKF_ARRAY_ATTRIBUTE) stays clear: that bit means "attribute
# array" to every PKCS#11 marshaller, ours included.
CKA_CRATON_COMPROMISED = int(CKA.VENDOR_DEFINED) | 0x0352_0001

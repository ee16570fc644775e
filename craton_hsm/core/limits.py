"""Size bounds at the C ABI boundary, in one place (seed 004 "Hostile
input"; the reference module sets the same numbers).

A hostile length is refused before anything is allocated or copied out
of caller memory.  The ABI shell checks single arguments; the session
layer checks the running total of a multi-part operation.  Codes:
CKR_PIN_LEN_RANGE for a PIN (PKCS#11 v3.0 section 5.1.6), CKR_DATA_LEN_RANGE
for data input and multi-part totals ("the plaintext input data to a
cryptographic operation has a bad length"), CKR_ATTRIBUTE_VALUE_INVALID
for an attribute value, CKR_MECHANISM_PARAM_INVALID inside a mechanism
parameter, and CKR_ARGUMENTS_BAD where the spec names nothing better
(template and output sizes).
"""

from __future__ import annotations

MAX_PIN = 256
MAX_TEMPLATE = 256
MAX_ATTRIBUTE = 64 * 1024
# One input or output buffer, and the sum of the C_*Update inputs of one
# multi-part operation.
MAX_DATA = 64 * 1024 * 1024
# Handles one C_FindObjects call returns at most; the spec lets a module
# return fewer than ulMaxObjectCount (section 5.7.8), so larger requests
# are clamped, not refused.
MAX_FIND = 65536

"""Key lifecycle: CKA_START_DATE, CKA_END_DATE and compromise.

SP 800-57 Part 1 Rev.5 section 5.3 (cryptoperiods): a key protects data
(signs, encrypts, wraps, derives, encapsulates) only during its
originator-usage period, and may still process data it protected
(verify, decrypt, unwrap, decapsulate) afterwards (5.3.4, recipient
usage period).  PKCS#11 v3.0 section 4.7 gives the period as the
CK_DATE attributes CKA_START_DATE / CKA_END_DATE (empty = no limit);
the spec leaves their enforcement to the token, and we enforce them on
the protecting operations, inclusive of both dates, in UTC.

A key marked CKA_CRATON_COMPROMISED (section 5.3.4 / 8.3.4:
"compromised keys ... used only to process") behaves as past its end
date, whatever its dates say.  See docs/key-lifecycle.md.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA
from craton_hsm.core.approved import PROTECT
from craton_hsm.errors import KeyFunctionNotPermitted
from craton_hsm.vendor_ck import CKA_CRATON_COMPROMISED


def today() -> bytes:
    """The CK_DATE of the current UTC day."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%d").encode()


def check_use(capability: int, attrs: Mapping[int, Any],
              day: bytes | None = None) -> None:
    """Refuse a protecting operation outside the key's usage period or
    with a compromised key (CKR_KEY_FUNCTION_NOT_PERMITTED)."""
    if capability not in PROTECT:
        return
    if attrs.get(CKA_CRATON_COMPROMISED, False):
        raise KeyFunctionNotPermitted("key is marked compromised")
    start = bytes(attrs.get(CKA.START_DATE, b""))
    end = bytes(attrs.get(CKA.END_DATE, b""))
    if not (start or end):
        return          # no usage period: skip the clock on the hot path
    # CK_DATE is YYYYMMDD in ASCII digits, so byte order is date order.
    now = day if day is not None else today()
    if start and now < start:
        raise KeyFunctionNotPermitted("key usage period has not started")
    if end and now > end:
        raise KeyFunctionNotPermitted("key usage period has ended")

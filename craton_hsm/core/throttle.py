"""Login throttling: wrong PINs make the next attempt wait.

Issue 8 "Login throttling".  After ``f`` consecutive failures of a role
(the counter the store keeps, so every process sees it; core/token.py
``verify``) the next C_Login for that role first sleeps
``min(backoff_max_ms, backoff_ms * 2**(f-1))``.  PKCS#11 v3.0 has no
"try later" return code (section 5.1), so a delay inside C_Login is the
only honest signal; it is taken before the token lock (other sessions,
other slots and other roles go on) and ``time.sleep`` releases the GIL.
A locked PIN (``[pin] max_failures`` reached) is refused at once with
CKR_PIN_LOCKED: nothing is checked, so nothing is slowed, and nothing
before that point ever reports CKR_PIN_LOCKED.  A correct PIN resets the
counter and so the delay (store/base.py ``next_failures``).
"""

from __future__ import annotations

import time

from craton_hsm._generated_ck import CKU
from craton_hsm.config import Config
from craton_hsm.store.base import TokenState


def delay_ms(config: Config, failures: int) -> int:
    """The wait before the next attempt after ``failures`` failures."""
    if failures <= 0 or failures >= config.max_login_failures or \
            config.login_backoff_ms == 0:
        return 0
    # Cap the exponent first: 2**f for a large counter is a huge int.
    step = config.login_backoff_ms << min(failures - 1, 32)
    return min(step, config.login_backoff_max_ms)


def wait(config: Config, state: TokenState | None, role: int) -> float:
    """Sleep the delay the role's failure counter asks for; the seconds
    slept (0.0 when none)."""
    if state is None:
        return 0.0
    failures = state.so_failures if role == CKU.SO else state.user_failures
    ms = delay_ms(config, failures)
    if ms:
        time.sleep(ms / 1000)
    return ms / 1000

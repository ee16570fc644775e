"""Self-tests of the module (FIPS 140-3 / ISO/IEC 19790 section 7.10;
seed 004 "Self-tests"; docs/selftests.md lists every test).

* ``power_on``: the pre-operational software integrity test and the
  cryptographic algorithm self-tests (known-answer tests) that
  C_Initialize runs before any service; ``craton-hsm selftest`` runs
  the same table.
* ``pct``: the conditional pair-wise consistency tests after key-pair
  generation and private-key import.
* ``faults``: the test-only switch that makes one named test fail.

Deliberately empty: ``craton_hsm.drbg`` imports ``selftest.faults``, and
importing this package must not pull the mechanisms in behind it.
"""

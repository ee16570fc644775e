"""PKCS#11 semantics on Python values, one module per spec chapter.

Each function checks module, session, login and operation state in the
order the spec's return-value lists imply, then calls into the core and
the mechanisms.  Nothing here touches cffi.
"""

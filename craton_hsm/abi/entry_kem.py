"""C entry points of key encapsulation: C_EncapsulateKey and
C_DecapsulateKey (PKCS#11 v3.2 sections 5.18.8-9)."""

from __future__ import annotations

from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKR
from craton_hsm.abi import marshal as m
from craton_hsm.abi.exports import export
from craton_hsm.dispatch import kem
from craton_hsm.errors import ArgumentsBad

OK = int(CKR.OK)
NULL = ffi.NULL


@export("C_EncapsulateKey")
def c_encapsulate_key(h: int, p_mech: Any, h_public: int, p_tmpl: Any,
                      n: int, p_ct: Any, p_ct_len: Any, p_key: Any) -> int:
    mech, params = m.mechanism(p_mech)
    cap = m.capacity(p_ct, p_ct_len)
    if cap is not None and p_key == NULL:
        raise ArgumentsBad("NULL key handle pointer")
    out, handle = kem.encapsulate_key(int(h), mech, params, int(h_public),
                                      m.template(p_tmpl, int(n)), cap)
    if handle is not None:
        p_key[0] = handle
    return m.write_out(p_ct, p_ct_len, out)


@export("C_DecapsulateKey")
def c_decapsulate_key(h: int, p_mech: Any, h_private: int, p_tmpl: Any,
                      n: int, p_ct: Any, n_ct: int, p_key: Any) -> int:
    if p_key == NULL:
        raise ArgumentsBad("NULL key handle pointer")
    mech, params = m.mechanism(p_mech)
    p_key[0] = kem.decapsulate_key(int(h), mech, params, int(h_private),
                                   m.template(p_tmpl, int(n)),
                                   m.data(p_ct, int(n_ct)))
    return OK

"""C_EncapsulateKey and C_DecapsulateKey (PKCS#11 v3.2 sections 5.18.8-9).

The public key needs CKA_ENCAPSULATE, the private key CKA_DECAPSULATE.
The shared secret becomes CKA_VALUE of a new secret key whose class and
type come from the template (default CKO_SECRET_KEY / CKK_GENERIC_SECRET).
It is built like a derived key without a base (templates.Op.DERIVE):
CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE are false.
A NULL ciphertext buffer (or a short one) only reports the ciphertext
length: no encapsulation runs and no key is created.
"""

from __future__ import annotations

from typing import Any

from craton_hsm._generated_ck import CKA, CKK, CKO
from craton_hsm.core import approved, attributes, templates
from craton_hsm.core.session import Out
from craton_hsm.dispatch.common import key as key_of
from craton_hsm.dispatch.common import session
from craton_hsm.dispatch.crypto import check_key
from craton_hsm.dispatch.object import Pairs, store_new
from craton_hsm.errors import TemplateInconsistent
from craton_hsm.mechanisms.registry import Op


def _secret_template(pairs: Pairs,
                     secret: bytes) -> tuple[dict[int, Any], bytes]:
    """The new key's template and value: a CKA_VALUE_LEN shorter than the
    shared secret takes its leading bytes (as CKD_NULL does for ECDH, and
    as python-pkcs11's ML-KEM suite expects for AES-128); longer is
    inconsistent."""
    tmpl = attributes.parse_template(pairs)
    tmpl.setdefault(CKA.CLASS, int(CKO.SECRET_KEY))
    if tmpl[CKA.CLASS] != CKO.SECRET_KEY:
        raise TemplateInconsistent("a KEM makes secret keys only")
    tmpl.setdefault(CKA.KEY_TYPE, int(CKK.GENERIC_SECRET))
    length = tmpl.pop(CKA.VALUE_LEN, None)
    if length is None:
        return tmpl, secret
    if not 0 < int(length) <= len(secret):
        raise TemplateInconsistent(
            f"the shared secret is {len(secret)} bytes, not {length}")
    return tmpl, secret[:int(length)]


def _new_key(s: Any, mechanism: int, pairs: Pairs, secret: bytes) -> int:
    tmpl, value = _secret_template(pairs, secret)
    attrs = templates.build_object(
        templates.Op.DERIVE, tmpl, material={CKA.VALUE: value},
        mechanism=mechanism)
    return store_new(s, attrs)


def encapsulate_key(h: int, mechanism: int, params: Any, h_public: int,
                    pairs: Pairs, cap: int | None) -> tuple[Out, int | None]:
    """((ciphertext length, ciphertext or None), new key handle or None)."""
    s = session(h)
    spec = approved.mechanism(mechanism, Op.ENCAPSULATE, params)
    factory = spec.factory(Op.ENCAPSULATE)
    public = key_of(s, h_public)
    check_key(None, CKA.ENCAPSULATE, mechanism, spec.key_types, public,
              int(CKO.PUBLIC_KEY))
    op = factory(public, params)
    size = int(op.ciphertext_size)
    if cap is None or cap < size:
        return (size, None), None
    ciphertext, secret = op.encapsulate()
    return (len(ciphertext), ciphertext), _new_key(s, mechanism, pairs,
                                                   secret)


def decapsulate_key(h: int, mechanism: int, params: Any, h_private: int,
                    pairs: Pairs, ciphertext: bytes) -> int:
    s = session(h)
    spec = approved.mechanism(mechanism, Op.DECAPSULATE, params)
    factory = spec.factory(Op.DECAPSULATE)
    private = key_of(s, h_private)
    check_key(None, CKA.DECAPSULATE, mechanism, spec.key_types, private,
              int(CKO.PRIVATE_KEY))
    secret = factory(private, params).decapsulate(ciphertext)
    return _new_key(s, mechanism, pairs, secret)

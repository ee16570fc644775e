"""Key management functions: C_GenerateKey, C_GenerateKeyPair
(PKCS#11 v3.0 section 5.15).  Wrap, unwrap and derive arrive with the
mechanisms that need them."""

from __future__ import annotations

from typing import Any

from craton_hsm._generated_ck import CKA, CKO
from craton_hsm.core import approved, attributes, templates
from craton_hsm.dispatch.common import require_user, session
from craton_hsm.dispatch.object import Pairs, store_new
from craton_hsm.errors import (
    MechanismInvalid,
    TemplateIncomplete,
    TemplateInconsistent,
)
from craton_hsm.mechanisms.registry import MechSpec, Op
from craton_hsm.selftest import pct


def _key_type(spec: MechSpec, tmpl: dict[int, Any] | None = None) -> int:
    # A generation mechanism makes exactly one key type (its registry row),
    # except CKM_PKCS5_PBKD2, whose row lists the types the template may
    # name (Current Mechanisms 2.44.7).
    if len(spec.key_types) == 1:
        return next(iter(spec.key_types))
    if tmpl is None or not spec.key_types:
        raise MechanismInvalid("not a key generation mechanism")
    if CKA.KEY_TYPE not in tmpl:
        raise TemplateIncomplete("CKA_KEY_TYPE missing")
    if tmpl[CKA.KEY_TYPE] not in spec.key_types:
        raise TemplateInconsistent("key type not made by this mechanism")
    return int(tmpl[CKA.KEY_TYPE])


def generate_key(h: int, mechanism: int, params: Any, pairs: Pairs) -> int:
    s = session(h)
    spec = approved.mechanism(mechanism, Op.GENERATE, params)
    factory = spec.factory(Op.GENERATE)
    # Seed 004: key generation is a User service (the Rust reference let
    # anyone generate; we do not).
    require_user(s)
    tmpl = attributes.parse_template(pairs)
    attrs = templates.build_object(
        templates.Op.GENERATE, tmpl, obj_class=int(CKO.SECRET_KEY),
        key_type=_key_type(spec, tmpl), mechanism=mechanism)
    material = factory(None, params).generate(tmpl)
    attrs.update(material)
    return store_new(s, attrs)


def generate_key_pair(h: int, mechanism: int, params: Any,
                      pub_pairs: Pairs,
                      priv_pairs: Pairs) -> tuple[int, int]:
    s = session(h)
    spec = approved.mechanism(mechanism, Op.GENERATE_KEY_PAIR, params)
    factory = spec.factory(Op.GENERATE_KEY_PAIR)
    require_user(s)
    key_type = _key_type(spec)
    pub_t = attributes.parse_template(pub_pairs)
    priv_t = attributes.parse_template(priv_pairs)
    pub = templates.build_object(
        templates.Op.GENERATE_PUBLIC, pub_t, obj_class=int(CKO.PUBLIC_KEY),
        key_type=key_type, mechanism=mechanism)
    priv = templates.build_object(
        templates.Op.GENERATE_PRIVATE, priv_t,
        obj_class=int(CKO.PRIVATE_KEY), key_type=key_type,
        mechanism=mechanism)
    generator = factory(None, params)
    pub_material, priv_material = generator.generate(pub_t, priv_t)
    pub.update(pub_material)
    priv.update(priv_material)
    # Pair-wise consistency test before storing (ISO/IEC 19790 7.10.3.3),
    # with the private key the generator already loaded, if it offers
    # it; the public key is still read from its new attributes.
    pct.key_pair(key_type, pub, priv,
                 getattr(generator, "private_cache", None))
    h_pub = store_new(s, pub)
    try:
        h_priv = store_new(s, priv)
    except BaseException:
        from craton_hsm.dispatch.object import destroy
        destroy(h, h_pub)
        raise
    return h_pub, h_priv

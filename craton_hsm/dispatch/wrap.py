"""C_WrapKey, C_UnwrapKey, C_DeriveKey (PKCS#11 v3.0 sections 5.18.5-7).

Which keys may leave the token is decided here, before any mechanism
runs: the wrapping key needs CKA_WRAP, the target CKA_EXTRACTABLE, a
CKA_WRAP_WITH_TRUSTED target a CKA_TRUSTED wrapping key, and the
wrapping key's CKA_WRAP_TEMPLATE must match the target (spec 4.8/4.9).
Unwrapped and derived keys get their attributes from the template plus
CKA_UNWRAP_TEMPLATE / CKA_DERIVE_TEMPLATE (templates.build_object sets
CKA_LOCAL false and the ALWAYS_SENSITIVE / NEVER_EXTRACTABLE rules).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKK, CKO
from craton_hsm.core import approved, attributes, strength, templates
from craton_hsm.core.objects import Obj
from craton_hsm.core.session import Out
from craton_hsm.dispatch.common import key as key_of
from craton_hsm.dispatch.common import session
from craton_hsm.dispatch.crypto import ASYMMETRIC, check_key
from craton_hsm.dispatch.object import Pairs, store_new
from craton_hsm.errors import (
    CKRError,
    KeyHandleInvalid,
    KeyNotWrappable,
    KeyTypeInconsistent,
    KeyUnextractable,
    MechanismParamInvalid,
    TemplateInconsistent,
    UnwrappingKeyHandleInvalid,
    UnwrappingKeyTypeInconsistent,
    WrappingKeyHandleInvalid,
    WrappingKeySizeRange,
    WrappingKeyTypeInconsistent,
)
from craton_hsm.mechanisms import private_key_info
from craton_hsm.mechanisms.params import (
    HkdfParams,
    ObjectHandleParam,
    OtherKey,
)
from craton_hsm.mechanisms.registry import Op
from craton_hsm.selftest import pct


def _key_class(key_types: frozenset[int], private_side: bool) -> int:
    if key_types & ASYMMETRIC:
        return int(CKO.PRIVATE_KEY if private_side else CKO.PUBLIC_KEY)
    return int(CKO.SECRET_KEY)


def _checked(obj: Obj, capability: int, mechanism: int,
             key_types: frozenset[int], expect: int,
             type_error: type[CKRError]) -> Obj:
    try:
        check_key(None, capability, mechanism, key_types, obj, expect)
    except KeyTypeInconsistent as exc:
        raise type_error(str(exc)) from None
    return obj


def _lookup_key(h: int, oh: int, error: type[CKRError]) -> Obj:
    try:
        return key_of(session(h), oh)
    except KeyHandleInvalid:
        raise error(f"no key {oh}") from None


def wrap_key(h: int, mechanism: int, params: Any, h_wrapping: int,
             h_key: int, cap: int | None) -> Out:
    spec = approved.mechanism(mechanism, Op.WRAP, params)
    factory = spec.factory(Op.WRAP)
    wrapping = _checked(
        _lookup_key(h, h_wrapping, WrappingKeyHandleInvalid), CKA.WRAP,
        mechanism, spec.key_types, _key_class(spec.key_types, False),
        WrappingKeyTypeInconsistent)
    target = key_of(session(h), h_key)
    attrs = target.attrs
    if attrs.get(CKA.CLASS) not in (CKO.SECRET_KEY, CKO.PRIVATE_KEY):
        raise KeyNotWrappable("only secret and private keys are wrapped")
    if not attrs.get(CKA.EXTRACTABLE, False):
        raise KeyUnextractable("key is not extractable")
    if attrs.get(CKA.WRAP_WITH_TRUSTED) and \
            not wrapping.attrs.get(CKA.TRUSTED):
        raise KeyNotWrappable("key may be wrapped by trusted keys only")
    _require_match(wrapping.attrs.get(CKA.WRAP_TEMPLATE, {}), attrs,
                   KeyNotWrappable)
    if attrs.get(CKA.SENSITIVE, True):
        _wrap_policy(wrapping.attrs, attrs)
    op = factory(wrapping, params)
    if attrs[CKA.CLASS] == CKO.PRIVATE_KEY:
        # Section 5.18.5 / Current Mechanisms 2.1, 2.3: a private key is
        # wrapped as its PKCS#8 PrivateKeyInfo, by mechanisms that can
        # carry arbitrary lengths (KW/KWP, CBC_PAD, GCM).
        if not getattr(op, "private_keys", False):
            raise KeyNotWrappable("mechanism wraps secret keys only")
        value = private_key_info.encode(target)
    else:
        value = bytes(attrs[CKA.VALUE])
    if cap is None:
        return op.wrap_size(len(value)), None
    out: bytes = op.wrap(value)
    return len(out), out if cap >= len(out) else None


def _wrap_policy(wrapping: Mapping[int, Any],
                 target: Mapping[int, Any]) -> None:
    """Our policy for sensitive keys, beyond the spec's rules (which let
    any CKA_WRAP key wrap any extractable key): the wrapping key must be
    at least as strong as the target (SP 800-57 Part 1 Rev. 5 section
    5.6.1; core/strength.py), else the blob protects the key with fewer
    bits than the key itself has.  CKR_WRAPPING_KEY_SIZE_RANGE: the
    wrapping key's size is outside what this target needs.  Keys that
    are readable anyway (not sensitive) are exempt: refusing would
    protect nothing.  docs/threat-model.md "Wrapping policy" also says
    what is not refused (wrap/decrypt with one key, attacker-known
    wrapping keys) and why."""
    need, have = strength.strength(target), strength.strength(wrapping)
    if have < need:
        raise WrappingKeySizeRange(
            f"wrapping key gives {have} bits of security, the sensitive "
            f"key needs {need}")


def _require_match(required: Mapping[int, Any], attrs: Mapping[int, Any],
                   error: type[CKRError]) -> None:
    for t, v in required.items():
        if attrs.get(t) != v:
            raise error(f"attribute 0x{t:x} does not match the template")


def _merge(template: dict[int, Any], forced: Mapping[int, Any]) -> None:
    """A key's *_TEMPLATE attributes apply to what it makes (spec 4.8)."""
    _require_match({t: v for t, v in forced.items() if t in template},
                   template, TemplateInconsistent)
    template.update(forced)


def unwrap_key(h: int, mechanism: int, params: Any, h_unwrapping: int,
               wrapped: bytes, pairs: Pairs) -> int:
    s = session(h)
    spec = approved.mechanism(mechanism, Op.UNWRAP, params)
    factory = spec.factory(Op.UNWRAP)
    unwrapping = _checked(
        _lookup_key(h, h_unwrapping, UnwrappingKeyHandleInvalid),
        CKA.UNWRAP, mechanism, spec.key_types,
        _key_class(spec.key_types, True), UnwrappingKeyTypeInconsistent)
    tmpl = attributes.parse_template(pairs)
    _merge(tmpl, unwrapping.attrs.get(CKA.UNWRAP_TEMPLATE, {}))
    op = factory(unwrapping, params)
    if tmpl.get(CKA.CLASS) == CKO.PRIVATE_KEY:
        if not getattr(op, "private_keys", False):
            raise TemplateInconsistent("mechanism unwraps secret keys only")
        # The template's CKA_KEY_TYPE, if any, must be the PKCS#8
        # algorithm's: build_object raises TEMPLATE_INCONSISTENT.
        key_type, material = private_key_info.decode(op.unwrap(wrapped))
        attrs = templates.build_object(
            templates.Op.UNWRAP, tmpl, key_type=key_type,
            material=material, so=False)
        pct.imported(attrs)     # ISO/IEC 19790 7.10.3.3, on import
        return store_new(s, attrs)
    value = op.trim(op.unwrap(wrapped), tmpl)
    attrs = templates.build_object(
        templates.Op.UNWRAP, tmpl, material={CKA.VALUE: value},
        so=False)
    return store_new(s, attrs)


def _resolve(s: Any, params: Any) -> Any:
    """Key handles inside mechanism parameters become key values here,
    after the same visibility checks as any key: mechanisms never see
    handles (CKM_CONCATENATE_BASE_AND_KEY, CKF_HKDF_SALT_KEY)."""
    if isinstance(params, ObjectHandleParam):
        other = _secret_key(s, params.handle)
        a = other.attrs
        return OtherKey(bytes(a[CKA.VALUE]),
                        bool(a.get(CKA.SENSITIVE, True)),
                        bool(a.get(CKA.EXTRACTABLE, False)),
                        bool(a.get(CKA.ALWAYS_SENSITIVE, False)),
                        bool(a.get(CKA.NEVER_EXTRACTABLE, False)))
    if isinstance(params, HkdfParams) and params.extract and \
            params.salt_type == CKF.HKDF_SALT_KEY:
        salt = _secret_key(s, params.salt_key)
        if salt.attrs.get(CKA.KEY_TYPE) not in (CKK.HKDF,
                                                CKK.GENERIC_SECRET):
            raise MechanismParamInvalid("salt key must be HKDF/generic")
        return dataclasses.replace(params, salt=bytes(salt.attrs[CKA.VALUE]),
                                   salt_key=0)
    return params


def _secret_key(s: Any, h: int) -> Obj:
    try:
        obj = key_of(s, h)
    except KeyHandleInvalid:
        raise MechanismParamInvalid(f"no key {h}") from None
    # The value is an arena view (secmem), not bytes: ask for presence.
    if obj.attrs.get(CKA.CLASS) != CKO.SECRET_KEY or \
            obj.attrs.get(CKA.VALUE) is None:
        raise MechanismParamInvalid(f"object {h} is not a secret key")
    return obj


def _protection(base: Mapping[int, Any], other: OtherKey | None,
                tmpl: dict[int, Any]) -> Mapping[int, Any]:
    """Section 2.43 (simple derivations): a sensitive / unextractable
    original makes the derived key so; ALWAYS_SENSITIVE and
    NEVER_EXTRACTABLE survive only if every original had them."""
    sensitive = bool(base.get(CKA.SENSITIVE, True))
    extractable = bool(base.get(CKA.EXTRACTABLE, False))
    always = bool(base.get(CKA.ALWAYS_SENSITIVE, False))
    never = bool(base.get(CKA.NEVER_EXTRACTABLE, False))
    if other is not None:
        sensitive = sensitive or other.sensitive
        extractable = extractable and other.extractable
        always = always and other.always_sensitive
        never = never and other.never_extractable
    if sensitive:
        tmpl[CKA.SENSITIVE] = True
    if not extractable:
        tmpl[CKA.EXTRACTABLE] = False
    return {**base, CKA.ALWAYS_SENSITIVE: always,
            CKA.NEVER_EXTRACTABLE: never}


def derive_key(h: int, mechanism: int, params: Any, h_base: int,
               pairs: Pairs) -> int:
    s = session(h)
    spec = approved.mechanism(mechanism, Op.DERIVE, params)
    factory = spec.factory(Op.DERIVE)
    base = _checked(key_of(s, h_base), CKA.DERIVE, mechanism,
                    spec.key_types, _key_class(spec.key_types, True),
                    KeyTypeInconsistent)
    tmpl = attributes.parse_template(pairs)
    _merge(tmpl, base.attrs.get(CKA.DERIVE_TEMPLATE, {}))
    op = factory(base, _resolve(s, params))
    out_class = int(getattr(op, "object_class", CKO.SECRET_KEY))
    tmpl.setdefault(CKA.CLASS, out_class)
    if (tmpl[CKA.CLASS] == CKO.DATA) != (out_class == CKO.DATA):
        raise TemplateInconsistent("class does not match the mechanism")
    if out_class == CKO.SECRET_KEY:
        tmpl.setdefault(CKA.KEY_TYPE, int(CKK.GENERIC_SECRET))
    base_attrs: Mapping[int, Any] = base.attrs
    if getattr(op, "inherits_protection", False):
        base_attrs = _protection(base.attrs, getattr(op, "other", None),
                                 tmpl)
    material = op.derive(tmpl)
    if out_class == CKO.DATA:
        # HKDF_DATA: CKA_VALUE_LEN only sized the output; a data object
        # has no such attribute.
        tmpl.pop(CKA.VALUE_LEN, None)
    attrs = templates.build_object(
        templates.Op.DERIVE, tmpl, material=material, base=base_attrs,
        mechanism=mechanism)
    return store_new(s, attrs)

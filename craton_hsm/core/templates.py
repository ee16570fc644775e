"""Template validation against the object schema (PKCS#11 v3.0 section 4
and the template rules of C_CreateObject, C_CopyObject, C_GenerateKey,
C_GenerateKeyPair, C_UnwrapKey and C_DeriveKey in section 5).

``build_object`` turns an application template into the complete
attribute set of a new object; ``check_modify`` applies the rules of
C_SetAttributeValue and C_CopyObject.  The rules themselves are data in
``schema.py``; this module only interprets them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CK_UNAVAILABLE_INFORMATION, CKA, CKO
from craton_hsm.core import attributes
from craton_hsm.core import constraints as cons
from craton_hsm.core.schema import (
    CAPABILITY,
    CAPS,
    KEY_CLASSES,
    NO_DEFAULT,
    F,
    Rule,
    has_class,
    schema_for,
    subtype_attr,
)
from craton_hsm.errors import (
    ActionProhibited,
    AttributeReadOnly,
    AttributeTypeInvalid,
    AttributeValueInvalid,
    TemplateIncomplete,
    TemplateInconsistent,
)


class Op(enum.Enum):
    """Which function is creating the object."""

    CREATE = "create"
    GENERATE = "generate"
    GENERATE_PUBLIC = "generate_public"
    GENERATE_PRIVATE = "generate_private"
    UNWRAP = "unwrap"
    DERIVE = "derive"
    COPY = "copy"

    # Members are singletons compared by identity, so the identity hash
    # is consistent with Enum's equality; Enum's own __hash__ (of the
    # name) is a Python-level call on every dict or set lookup, and
    # build_object makes a dozen per object (issue 9).
    __hash__ = object.__hash__


_GEN = frozenset({Op.GENERATE, Op.GENERATE_PUBLIC, Op.GENERATE_PRIVATE})
# The footnote flags that require / forbid an attribute for each op.
# Derive is treated like unwrap: the mechanism supplies the key material.
_REQUIRED = {Op.CREATE: F.REQ_CREATE, Op.UNWRAP: F.REQ_UNWRAP,
             **{op: F.REQ_GEN for op in _GEN}}
_FORBIDDEN = {Op.CREATE: F.NO_CREATE, Op.UNWRAP: F.NO_UNWRAP,
              Op.DERIVE: F.NO_UNWRAP, **{op: F.NO_GEN for op in _GEN}}
_FORBIDDEN_BITS = {op: f.value for op, f in _FORBIDDEN.items()}
# The class each op may produce.
_CLASSES_FOR = {
    Op.CREATE: frozenset({CKO.DATA, CKO.CERTIFICATE, CKO.PUBLIC_KEY,
                          CKO.PRIVATE_KEY, CKO.SECRET_KEY}),
    Op.GENERATE: frozenset({CKO.SECRET_KEY}),
    Op.GENERATE_PUBLIC: frozenset({CKO.PUBLIC_KEY}),
    Op.GENERATE_PRIVATE: frozenset({CKO.PRIVATE_KEY}),
    Op.UNWRAP: frozenset({CKO.SECRET_KEY, CKO.PRIVATE_KEY}),
    # CKM_HKDF_DATA derives a data object (Current Mechanisms 2.43).
    Op.DERIVE: frozenset({CKO.SECRET_KEY, CKO.PRIVATE_KEY, CKO.DATA}),
}
_DEFAULT_CLASS = {Op.GENERATE: CKO.SECRET_KEY,
                  Op.GENERATE_PUBLIC: CKO.PUBLIC_KEY,
                  Op.GENERATE_PRIVATE: CKO.PRIVATE_KEY,
                  Op.DERIVE: CKO.SECRET_KEY}


def _name(t: int) -> str:
    try:
        return "CKA_" + CKA(t).name
    except ValueError:
        return f"CKA_0x{t:x}"


def _pick(t: int, given: int | None, template: Mapping[int, Any],
          default: int | None = None) -> int:
    """Class or subtype: the caller's value and the template's must agree
    (CKR_TEMPLATE_INCONSISTENT); neither at all is TEMPLATE_INCOMPLETE."""
    value = template.get(t)
    if value is not None:
        attributes.encode(t, value)
        if given is not None and int(value) != int(given):
            raise TemplateInconsistent(f"{_name(t)} contradicts the "
                                       "mechanism")
        return int(value)
    if given is not None:
        return int(given)
    if default is not None:
        return int(default)
    raise TemplateIncomplete(f"{_name(t)} missing")


def _identify(op: Op, template: Mapping[int, Any], obj_class: int | None,
              key_type: int | None) -> tuple[int, int | None]:
    cls = _pick(CKA.CLASS, obj_class, template, _DEFAULT_CLASS.get(op))
    if not has_class(cls):
        raise AttributeValueInvalid(f"object class 0x{cls:x}")
    if cls not in _CLASSES_FOR[op]:
        if op is Op.CREATE:
            # Section 4.13: profile objects are the token's own.
            raise AttributeValueInvalid(f"class 0x{cls:x} not creatable")
        raise TemplateInconsistent(f"class 0x{cls:x} with {op.value}")
    sub_t = subtype_attr(cls)
    if sub_t is None:
        return cls, None
    given = key_type if sub_t == CKA.KEY_TYPE else None
    return cls, _pick(sub_t, given, template)


_MODULE_BIT = F.MODULE.value
_SO_TRUE_BIT = F.SO_TRUE.value


def _check_one(op: Op, rule: Rule, t: int, v: Any, so: bool) -> None:
    bits = rule.bits
    if bits & _MODULE_BIT:
        raise AttributeReadOnly(f"{_name(t)} is set by the token")
    if bits & _SO_TRUE_BIT and v is True and not so:
        raise AttributeReadOnly(f"only the SO may set {_name(t)}")
    if bits & _FORBIDDEN_BITS.get(op, 0):
        raise TemplateInconsistent(f"{_name(t)} not allowed for "
                                   f"{op.value}")


# (id(schema), flag) -> (schema, its attributes with that flag but CLASS
# and KEY_TYPE, in schema order).  Holding the schema keeps its id from
# being reused; schema_for's tables live for the process anyway.
_REQUIRED_OF: dict[tuple[int, F], tuple[Mapping[int, Rule],
                                        tuple[int, ...]]] = {}


def _required(schema: Mapping[int, Rule], need: F) -> tuple[int, ...]:
    """The attributes a template must give: computed once per schema and
    operation instead of a Flag test per schema row per object (issue 9)."""
    key = (id(schema), need)
    hit = _REQUIRED_OF.get(key)
    if hit is not None and hit[0] is schema:
        return hit[1]
    found = tuple(t for t, rule in schema.items()
                  if rule.flags & need and t not in (CKA.CLASS,
                                                      CKA.KEY_TYPE))
    if len(_REQUIRED_OF) < 1024:
        _REQUIRED_OF[key] = (schema, found)
    return found


def _validate(op: Op, schema: Mapping[int, Rule], cls: int,
              sub: int | None, template: Mapping[int, Any],
              so: bool) -> None:
    for t, v in template.items():
        if t not in schema:
            attributes.kind_of(t)       # unknown anywhere: TYPE_INVALID
            raise AttributeTypeInvalid(f"{_name(t)} for this object")
        attributes.encode(t, v)
        cons.check(cls, sub, t, v)
        if t not in (CKA.CLASS, subtype_attr(cls)):
            _check_one(op, schema[t], t, v, so)
    for t in _required(schema, _REQUIRED.get(op, F.NONE)):
        if t not in template:
            raise TemplateIncomplete(f"{_name(t)} missing")
    if op is Op.CREATE:
        cons.check_whole(cls, sub, template)


# (id(schema), cls, sub) -> (schema, default attributes, the types whose
# default is a mutable template).  Defaults are data of the schema, so
# they are computed once per object kind, not once per object (issue 9).
_DEFAULTS_OF: dict[tuple[int, int, int | None],
                   tuple[Mapping[int, Rule], dict[int, Any],
                         tuple[int, ...]]] = {}


def _defaults(schema: Mapping[int, Rule], cls: int,
              sub: int | None) -> dict[int, Any]:
    key = (id(schema), cls, sub)
    hit = _DEFAULTS_OF.get(key)
    if hit is None or hit[0] is not schema:
        hit = (schema, *_compute_defaults(schema, cls, sub))
        if len(_DEFAULTS_OF) < 1024:
            _DEFAULTS_OF[key] = hit
    out = dict(hit[1])
    for t in hit[2]:
        # Copy mutable defaults (nested templates) per object.
        out[t] = dict(out[t])
    return out


def _compute_defaults(schema: Mapping[int, Rule], cls: int,
                      sub: int | None) -> tuple[dict[int, Any],
                                                tuple[int, ...]]:
    caps = CAPS.get((cls, sub if sub is not None else -1), frozenset())
    out: dict[int, Any] = {}
    for t, rule in schema.items():
        if rule.default is CAPABILITY:
            out[t] = t in caps
        elif rule.default is not NO_DEFAULT:
            out[t] = rule.default
    mutable = tuple(t for t, v in out.items() if isinstance(v, dict))
    return out, mutable


def _derived(op: Op, attrs: dict[int, Any], mechanism: int | None,
             base: Mapping[int, Any] | None) -> None:
    """Attributes the token computes (fn 2, 4, 6 rows; section 4.7, 4.9,
    4.10 describe LOCAL, KEY_GEN_MECHANISM, ALWAYS_SENSITIVE and
    NEVER_EXTRACTABLE)."""
    cls = attrs[CKA.CLASS]
    if cls not in KEY_CLASSES:
        return
    made = op in _GEN or op is Op.DERIVE
    attrs[CKA.LOCAL] = op in _GEN
    attrs[CKA.KEY_GEN_MECHANISM] = (
        int(mechanism) if made and mechanism is not None
        else CK_UNAVAILABLE_INFORMATION)
    if cls == CKO.SECRET_KEY and isinstance(attrs.get(CKA.VALUE), bytes):
        attrs[CKA.VALUE_LEN] = len(attrs[CKA.VALUE])
    if cls == CKO.PUBLIC_KEY and isinstance(attrs.get(CKA.MODULUS), bytes):
        attrs[CKA.MODULUS_BITS] = int.from_bytes(
            attrs[CKA.MODULUS], "big").bit_length()
    if cls == CKO.PUBLIC_KEY:
        return
    sensitive = bool(attrs[CKA.SENSITIVE])
    never = not attrs[CKA.EXTRACTABLE]
    if op in _GEN:
        attrs[CKA.ALWAYS_SENSITIVE] = sensitive
        attrs[CKA.NEVER_EXTRACTABLE] = never
    elif op is Op.DERIVE and base is not None:
        # Section 5.16 (C_DeriveKey): the flags carry over from the base
        # key only while the new key keeps the same protection.
        attrs[CKA.ALWAYS_SENSITIVE] = bool(
            base.get(CKA.ALWAYS_SENSITIVE, False)) and sensitive
        attrs[CKA.NEVER_EXTRACTABLE] = bool(
            base.get(CKA.NEVER_EXTRACTABLE, False)) and never
    else:
        attrs[CKA.ALWAYS_SENSITIVE] = False
        attrs[CKA.NEVER_EXTRACTABLE] = False


def build_object(op: Op, template: Mapping[int, Any], *,
                 obj_class: int | None = None,
                 key_type: int | None = None,
                 mechanism: int | None = None,
                 material: Mapping[int, Any] | None = None,
                 so: bool = False,
                 base: Mapping[int, Any] | None = None) -> dict[int, Any]:
    """The complete attribute dict of a new object.

    ``material`` is what the mechanism produced (VALUE, MODULUS, EC_POINT
    ...), merged after the template is validated.  ``base`` is the base
    key of C_DeriveKey, or the source object of C_CopyObject.
    """
    template = {int(t): v for t, v in template.items()}
    if op is Op.COPY:
        if base is None:
            raise TypeError("Op.COPY needs the source object as base")
        check_modify(base, template, copy=True, so=so)
        out = {**base, **template}
        out.pop(CKA.UNIQUE_ID, None)
        return out
    cls, sub = _identify(op, template, obj_class, key_type)
    schema = schema_for(cls, sub)
    _validate(op, schema, cls, sub, template, so)
    attrs = _defaults(schema, cls, sub)
    attrs.update(template)
    attrs[CKA.CLASS] = cls
    sub_t = subtype_attr(cls)
    if sub_t is not None:
        attrs[sub_t] = sub
    for t, v in (material or {}).items():
        if int(t) not in schema:
            raise AttributeTypeInvalid(f"{_name(t)} from the mechanism")
        attributes.encode(t, v)
        cons.check(cls, sub, int(t), v)
        attrs[int(t)] = v
    _derived(op, attrs, mechanism, base)
    return attrs


def _may_change(rule: Rule, cur: Any, new: Any, *, copy: bool,
                so: bool, modifiable: bool) -> bool:
    f = rule.flags
    if f & F.ONLY_TO_TRUE and cur is True and new is False:
        return False
    if f & F.ONLY_TO_FALSE and cur is False and new is True:
        return False
    if f & F.COPY:
        return copy                                      # fn 14
    if f & F.SO_TRUE:
        return so                                        # fn 10
    # A copy of an unmodifiable object may not rewrite its fn 8
    # attributes: that would be C_SetAttributeValue by another name.
    return bool(f & F.MODIFY) and (modifiable or not copy)  # fn 8


def check_modify(obj: Mapping[int, Any], changes: Mapping[int, Any], *,
                 copy: bool = False, so: bool = False) -> None:
    """Rules of C_SetAttributeValue (``copy=False``) and of the template
    of C_CopyObject (``copy=True``), v3.0 sections 5.7 and 4.0 fn 8-14."""
    modifiable = bool(obj.get(CKA.MODIFIABLE, True))
    if not copy and not modifiable:
        raise ActionProhibited("object is not modifiable")
    cls = int(obj[CKA.CLASS])
    sub_t = subtype_attr(cls)
    sub = obj.get(sub_t) if sub_t is not None else None
    schema = schema_for(cls, sub)
    for t, new in changes.items():
        t = int(t)
        if t not in schema:
            attributes.kind_of(t)
            raise AttributeTypeInvalid(f"{_name(t)} for this object")
        rule = schema[t]
        attributes.encode(t, new)
        cons.check(cls, sub, t, new)
        cur = obj.get(t)
        if _may_change(rule, cur, new, copy=copy, so=so,
                       modifiable=modifiable):
            continue
        # Restating the current value is not a change.  Key material is
        # never compared: it is read-only anyway and must not leak timing.
        if not rule.flags & F.SECRET and t in obj and cur == new:
            continue
        raise AttributeReadOnly(f"{_name(t)} may not be changed")


def is_sensitive(obj: Mapping[int, Any], t: int) -> bool:
    """Fn 7: key material is not revealed while the key is SENSITIVE or
    not EXTRACTABLE (C_GetAttributeValue, CKR_ATTRIBUTE_SENSITIVE)."""
    if obj.get(CKA.CLASS) not in (CKO.SECRET_KEY, CKO.PRIVATE_KEY):
        return False
    if not _flagged(obj, t, F.SENSITIVE):
        return False
    return bool(obj.get(CKA.SENSITIVE, True)) or \
        not obj.get(CKA.EXTRACTABLE, False)


SECRET_ATTRS: frozenset[int] = frozenset({
    CKA.VALUE, CKA.PRIVATE_EXPONENT, CKA.PRIME_1, CKA.PRIME_2,
    CKA.EXPONENT_1, CKA.EXPONENT_2, CKA.COEFFICIENT, CKA.SEED,
})


def _flagged(obj: Mapping[int, Any], t: int, flag: F) -> bool:
    cls = int(obj[CKA.CLASS])
    sub_t = subtype_attr(cls)
    try:
        schema = schema_for(cls, obj.get(sub_t) if sub_t else None)
    except AttributeValueInvalid:
        # An object of a kind the table no longer knows: be strict.
        return t in SECRET_ATTRS
    rule = schema.get(t)
    return rule is not None and bool(rule.bits & flag.value)


def is_secret_attr(obj: Mapping[int, Any], t: int) -> bool:
    """Attributes the store must encrypt at rest: key material of secret
    and private keys, and the value of a private data object."""
    cls = obj.get(CKA.CLASS)
    if cls in (CKO.SECRET_KEY, CKO.PRIVATE_KEY):
        return t in SECRET_ATTRS and _flagged(obj, t, F.SECRET)
    if cls == CKO.DATA:
        return t == CKA.VALUE and bool(obj.get(CKA.PRIVATE, False))
    return False


_NO_SECRETS: frozenset[int] = frozenset()


def secret_types(obj: Mapping[int, Any]) -> frozenset[int]:
    """Every ``t`` of ``obj`` with ``is_secret_attr(obj, t)``: the class
    is looked at once, not once per attribute (issue 9: every create)."""
    cls = obj.get(CKA.CLASS)
    if cls in (CKO.SECRET_KEY, CKO.PRIVATE_KEY):
        return frozenset(t for t in SECRET_ATTRS.intersection(obj)
                         if _flagged(obj, t, F.SECRET))
    if cls == CKO.DATA and obj.get(CKA.PRIVATE, False) and \
            CKA.VALUE in obj:
        return frozenset((int(CKA.VALUE),))
    return _NO_SECRETS


# Per-attribute overhead for C_GetObjectSize: type and length words.
_ATTR_OVERHEAD = 2 * attributes.ULONG_SIZE


def object_size(obj: Mapping[int, Any]) -> int:
    """Approximate bytes the object occupies (v3.0 section 5.7,
    C_GetObjectSize: "the size is token-specific")."""
    total = 0
    for t, v in obj.items():
        try:
            total += _ATTR_OVERHEAD + attributes.raw_size(
                attributes.encode(t, v))
        except (AttributeTypeInvalid, AttributeValueInvalid):
            total += _ATTR_OVERHEAD
    return total


_CAPABILITIES = {
    "encrypt": CKA.ENCRYPT, "decrypt": CKA.DECRYPT, "sign": CKA.SIGN,
    "verify": CKA.VERIFY, "sign_recover": CKA.SIGN_RECOVER,
    "verify_recover": CKA.VERIFY_RECOVER, "wrap": CKA.WRAP,
    "unwrap": CKA.UNWRAP, "derive": CKA.DERIVE,
    "encapsulate": CKA.ENCAPSULATE, "decapsulate": CKA.DECAPSULATE,
}


def capability_attr(op_name: str) -> int:
    """The key attribute that permits an operation ("sign" -> CKA_SIGN);
    accepts the values of ``OpKind`` / registry ``Op``."""
    try:
        return int(_CAPABILITIES[op_name.lower()])
    except KeyError:
        raise ValueError(f"no capability attribute for {op_name!r}") \
            from None

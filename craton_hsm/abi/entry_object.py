"""C entry points: object management (PKCS#11 v3.0 section 5.7)."""

from __future__ import annotations

from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKR
from craton_hsm.abi import marshal as m
from craton_hsm.abi.exports import export
from craton_hsm.core.limits import MAX_FIND
from craton_hsm.dispatch import object as obj
from craton_hsm.errors import ArgumentsBad

OK = int(CKR.OK)
NULL = ffi.NULL


def _handle_out(p: Any) -> None:
    if p == NULL:
        raise ArgumentsBad("NULL object handle pointer")


@export("C_CreateObject")
def c_create_object(h: int, p_tmpl: Any, n: int, p_obj: Any) -> int:
    _handle_out(p_obj)
    p_obj[0] = obj.create(int(h), m.template(p_tmpl, int(n)))
    return OK


@export("C_CopyObject")
def c_copy_object(h: int, src: int, p_tmpl: Any, n: int,
                  p_obj: Any) -> int:
    _handle_out(p_obj)
    p_obj[0] = obj.copy(int(h), int(src), m.template(p_tmpl, int(n)))
    return OK


@export("C_DestroyObject")
def c_destroy_object(h: int, oh: int) -> int:
    obj.destroy(int(h), int(oh))
    return OK


@export("C_GetObjectSize")
def c_get_object_size(h: int, oh: int, p_size: Any) -> int:
    size = obj.size(int(h), int(oh))
    if p_size == NULL:
        raise ArgumentsBad("NULL size pointer")
    p_size[0] = size
    return OK


@export("C_GetAttributeValue")
def c_get_attribute_value(h: int, oh: int, p_tmpl: Any, n: int) -> int:
    types = m.types(p_tmpl, int(n))
    results = obj.get_attribute_values(int(h), int(oh), types)
    return m.attributes_out(p_tmpl, int(n), results)


@export("C_SetAttributeValue")
def c_set_attribute_value(h: int, oh: int, p_tmpl: Any, n: int) -> int:
    obj.set_attribute_values(int(h), int(oh), m.template(p_tmpl, int(n)))
    return OK


@export("C_FindObjectsInit")
def c_find_objects_init(h: int, p_tmpl: Any, n: int) -> int:
    obj.find_init(int(h), m.template(p_tmpl, int(n)))
    return OK


@export("C_FindObjects")
def c_find_objects(h: int, p_out: Any, max_count: int,
                   p_count: Any) -> int:
    if p_count == NULL or (p_out == NULL and max_count):
        raise ArgumentsBad("NULL output pointer")
    found = obj.find(int(h), min(int(max_count), MAX_FIND))
    for i, handle in enumerate(found):
        p_out[i] = handle
    p_count[0] = len(found)
    return OK


@export("C_FindObjectsFinal")
def c_find_objects_final(h: int) -> int:
    obj.find_final(int(h))
    return OK

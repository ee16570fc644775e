"""CKO_PROFILE objects (PKCS#11 v3.0 section 4.13): read-only token
objects naming the PKCS#11 Profiles the token implements, found with
C_FindObjects (CKA_CLASS = CKO_PROFILE), never modifiable, copyable or
destroyable.

Claimed: CKP_BASELINE_PROVIDER only.  Its mechanisms and functions
(RSA, EC, AES, SHA-2, HMAC, session/object management) are all
implemented; the Extended Provider and the token profiles are not
claimed until someone has checked every requirement of the PKCS#11
Profiles v3.0 document against the module.
"""

from __future__ import annotations

from craton_hsm._generated_ck import CKA, CKO, CKP
from craton_hsm.core.objects import HandleTable, Obj

PROFILES = (CKP.BASELINE_PROVIDER,)


def _attrs(profile: int) -> dict[int, object]:
    return {CKA.CLASS: int(CKO.PROFILE), CKA.TOKEN: True,
            CKA.PRIVATE: False, CKA.MODIFIABLE: False, CKA.COPYABLE: False,
            CKA.DESTROYABLE: False, CKA.PROFILE_ID: int(profile)}


def ensure(handles: HandleTable, slot_id: int) -> None:
    """Give ``slot_id`` its profile objects once per module instance."""
    # Runs at every C_FindObjectsInit: the class index visits only the
    # profile objects, not every object of the process (issue 9).
    have = {o.attrs.get(CKA.PROFILE_ID)
            for o in handles.candidates({CKA.CLASS: int(CKO.PROFILE)})
            if o.slot_id == slot_id and o.attrs.get(CKA.CLASS) == CKO.PROFILE
            and o.uid.startswith("profile-")}
    for profile in PROFILES:
        if int(profile) not in have:
            handles.add(Obj(handles.new_handle(),
                            f"profile-{slot_id}-{int(profile)}",
                            _attrs(profile), slot_id))

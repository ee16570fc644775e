"""The calls the fuzz harness can make, one decoder each.

``OPS[i]`` is the call an input's step byte ``i`` selects (modulo the
length).  Each decoder reads its arguments from the step's payload;
choice 0 everywhere gives a well-formed call on the execution's own session with
a fitting setup key, so ``bytes([i, 0])`` is a valid call (the seeds in
tests/fuzz/seeds.py are written that way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from abi.test_hostile import NULL, P256, SO_PIN, TRUE, ffi

from craton_hsm._generated_ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKA,
    CKF,
    CKK,
    CKM,
    CKO,
    CKR,
    CKU,
)
from fuzz import values as v
from fuzz.reader import Reader

if TYPE_CHECKING:
    from fuzz.harness import Harness

Op = Callable[["Harness", Reader], None]
OPS: list[tuple[str, Op]] = []


def op(fn: Op) -> Op:
    OPS.append((fn.__name__, fn))
    return fn


def slot(r: Reader) -> int:
    return [0, 1, 2, 99][r.pick(4)] if r.pick(3) else v.number(r, 0)


def ptr(h: Harness, r: Reader, ctype: str) -> Any:
    """An output structure, NULL one time in eight."""
    return NULL if r.pick(8) == 7 else h.arena.new(ctype)


# --- general, slot and token -----------------------------------------------

@op
def info(h: Harness, r: Reader) -> None:
    what = r.pick(6)
    if what == 0:
        h.call("C_GetInfo", ptr(h, r, "CK_INFO *"))
    elif what == 1:
        ids, count = ulongs(h, r, 8)
        h.call("C_GetSlotList", r.pick(2), ffi.cast("CK_SLOT_ID *", ids),
               count)
    elif what == 2:
        h.call("C_GetSlotInfo", slot(r), ptr(h, r, "CK_SLOT_INFO *"))
    elif what == 3:
        h.call("C_GetTokenInfo", slot(r), ptr(h, r, "CK_TOKEN_INFO *"))
    elif what == 4:
        ids, count = ulongs(h, r, 256)
        h.call("C_GetMechanismList", slot(r),
               ffi.cast("CK_MECHANISM_TYPE *", ids), count)
    else:
        m = h.mechs[r.pick(len(h.mechs))][0]
        h.call("C_GetMechanismInfo", slot(r), v.number(r, m),
               ptr(h, r, "CK_MECHANISM_INFO *"))


def ulongs(h: Harness, r: Reader, default: int) -> tuple[Any, Any]:
    """A CK_ULONG array and its count word (capacity in elements):
    big, NULL (count query), too small, or a NULL count pointer."""
    how = r.pick(4)
    cap = [default, 0, r.ConsumeIntInRange(0, 4), default][how]
    arr = NULL if how == 1 else h.arena.new("CK_ULONG[]", max(1, cap))
    count = NULL if how == 3 else h.arena.new("CK_ULONG *", cap)
    return arr, count


# --- sessions and login ----------------------------------------------------

@op
def open_session(h: Harness, r: Reader) -> None:
    flags = CKF.SERIAL_SESSION | (CKF.RW_SESSION if r.pick(2) == 0 else 0)
    out = ptr(h, r, "CK_SESSION_HANDLE *")
    rv = h.call("C_OpenSession", slot(r) if r.pick(4) == 3 else 0,
                v.number(r, int(flags)), NULL, NULL, out)
    if rv == CKR.OK:
        h.sessions.append(int(out[0]))


@op
def close_session(h: Harness, r: Reader) -> None:
    if r.pick(4) == 3:
        s = slot(r)
        h.call("C_CloseAllSessions", s if s else 1)
        return
    h.call("C_CloseSession", h.session(r))


@op
def session_info(h: Harness, r: Reader) -> None:
    h.call("C_GetSessionInfo", h.session(r), ptr(h, r, "CK_SESSION_INFO *"))


@op
def login(h: Harness, r: Reader) -> None:
    user = [CKU.USER, CKU.SO, CKU.CONTEXT_SPECIFIC][r.pick(3)]
    if r.pick(4) == 3:
        user = v.number(r, 0)
    pin, n = h.pin(r, h.user_pin if user != CKU.SO else SO_PIN)
    h.call("C_Login", h.session(r), user, pin, n)


@op
def logout(h: Harness, r: Reader) -> None:
    # Any session of slot 0 logs the token out: a real logout only in a
    # costly execution (the login afterwards costs a PBKDF2).
    s = h.session(r)
    if not h.costly():
        s = 0
    h.call("C_Logout", s)


@op
def pins(h: Harness, r: Reader) -> None:
    what = r.pick(3)
    if what == 0:
        old, n_old = h.pin(r, h.user_pin)
        new = r.ConsumeBytes(r.ConsumeIntInRange(4, 12))
        rv = h.call("C_SetPIN", h.session(r), old, n_old,
                    h.arena.buf(new), len(new))
        if rv == CKR.OK:
            h.user_pin = new
    elif what == 1:
        pin, n = h.pin(r, h.user_pin)
        h.call("C_InitPIN", h.session(r), pin, n)
    else:
        s = slot(r)
        pin, n = h.pin(r, SO_PIN) if s == 0 else (
            h.arena.buf(b"9" * 257), 257)
        label = NULL if r.pick(6) == 5 else h.arena.buf(b"fuzz".ljust(32))
        h.call("C_InitToken", s, pin, n, label)


# --- objects ---------------------------------------------------------------

def data_object() -> list[v.Pair]:
    return [(int(CKA.CLASS), v.ulong_bytes(CKO.DATA)),
            (int(CKA.LABEL), b"fuzz"), (int(CKA.VALUE), b"value")]


def secret_key(sensitive: bool = True) -> list[v.Pair]:
    return [(int(CKA.CLASS), v.ulong_bytes(CKO.SECRET_KEY)),
            (int(CKA.KEY_TYPE), v.ulong_bytes(CKK.AES)),
            (int(CKA.VALUE), bytes(range(16))),
            (int(CKA.SENSITIVE), b"\x01" if sensitive else b"\x00"),
            (int(CKA.ENCRYPT), TRUE)]


@op
def create_object(h: Harness, r: Reader) -> None:
    default = [data_object, secret_key][r.pick(2)]()
    tmpl, n = v.template(h.arena, r, default)
    out = h.handle_out(r)
    rv = h.call("C_CreateObject", h.session(r), tmpl, n, out)
    h.created(rv, out)


@op
def copy_object(h: Harness, r: Reader) -> None:
    src = h.obj(r, h.keys.aes)
    tmpl, n = v.template(h.arena, r, [(int(CKA.LABEL), b"copy")])
    out = h.handle_out(r)
    was_secret = h.is_secret(src)
    rv = h.call("C_CopyObject", h.session(r), src, tmpl, n, out)
    h.created(rv, out)
    if rv == CKR.OK and was_secret and not h.is_secret(int(out[0])):
        # CKA_SENSITIVE only goes to true and CKA_EXTRACTABLE only to
        # false, in a copy too (spec 4.4.1 table 25, footnote 11).
        from fuzz.harness import Finding
        raise Finding(f"copy of secret object {src} is not secret")


@op
def destroy_object(h: Harness, r: Reader) -> None:
    target = h.obj(r, h.objects[-1] if h.objects else 0)
    if target in h.protected:
        target = 0
    h.call("C_DestroyObject", h.session(r), target)


@op
def object_size(h: Harness, r: Reader) -> None:
    h.call("C_GetObjectSize", h.session(r), h.obj(r, h.keys.data),
           ptr(h, r, "CK_ULONG *"))


@op
def get_attributes(h: Harness, r: Reader) -> None:
    target = h.obj(r, h.keys.aes)
    count = r.ConsumeIntInRange(1, 6)
    if r.pick(16) == 15:
        count = 256 + r.pick(2)
    arr = h.arena.new("CK_ATTRIBUTE[]", count)
    marks = []
    for i in range(count):
        t = v.ATTR_TYPES[r.pick(len(v.ATTR_TYPES))] if r.pick(6) else \
            v.number(r, CKA.VALUE)
        if i == 0 and r.pick(2) == 0:
            t = CKA.VALUE
        arr[i].type = t
        how = r.pick(4)
        cap = [4096, 0, r.ConsumeIntInRange(0, 16), 4096][how]
        # A nested template comes back into the caller's CK_ATTRIBUTE
        # array, whose pValue words must be NULL or real (spec 4.1.5);
        # every other buffer is pre-filled to spot a leaked value.
        fill = b"\x00" if t in v.ARRAYS else b"\xa5"
        buf = h.arena.buf(fill * max(1, cap)) if how != 1 else NULL
        arr[i].pValue, arr[i].ulValueLen = buf, cap
        marks.append((t, buf, cap))
    secret = h.is_secret(target)
    rv = h.call("C_GetAttributeValue", h.session(r), target, arr, count)
    if secret and rv in (CKR.OK, CKR.ATTRIBUTE_SENSITIVE,
                                     CKR.ATTRIBUTE_TYPE_INVALID,
                                     CKR.BUFFER_TOO_SMALL):
        from fuzz.harness import SECRET_ATTRS, Finding
        for i, (t, buf, cap) in enumerate(marks):
            if t in SECRET_ATTRS and buf != NULL and \
                    arr[i].ulValueLen != CK_UNAVAILABLE_INFORMATION \
                    and bytes(ffi.buffer(buf, max(1, cap))) != \
                    b"\xa5" * max(1, cap):
                raise Finding(f"sensitive attribute 0x{t:x} of object "
                              f"{target} returned")


@op
def set_attributes(h: Harness, r: Reader) -> None:
    target = h.obj(r, h.objects[-1] if h.objects else h.keys.data)
    if target in h.protected and target != h.keys.data:
        target = 0
    tmpl, n = v.template(h.arena, r, [(int(CKA.LABEL), b"relabel")])
    h.call("C_SetAttributeValue", h.session(r), target, tmpl, n)


@op
def find(h: Harness, r: Reader) -> None:
    s = h.session(r)
    what = r.pick(3)
    if what == 0:
        tmpl, n = v.template(h.arena, r, [(int(CKA.CLASS),
                                           v.ulong_bytes(CKO.SECRET_KEY))])
        h.call("C_FindObjectsInit", s, tmpl, n)
    elif what == 1:
        cap = [64, 0, 1, r.ConsumeIntInRange(0, 300)][r.pick(4)]
        out = h.arena.new("CK_OBJECT_HANDLE[]", max(1, cap))
        count = NULL if r.pick(8) == 7 else h.arena.new("CK_ULONG *")
        h.call("C_FindObjects", s, out if r.pick(8) != 7 else NULL, cap,
               count)
    else:
        h.call("C_FindObjectsFinal", s)


# --- cryptographic operations ----------------------------------------------

INITS = (("C_SignInit", "SIGN"), ("C_VerifyInit", "VERIFY"),
         ("C_EncryptInit", "ENCRYPT"), ("C_DecryptInit", "DECRYPT"),
         ("C_DigestInit", "DIGEST"), ("C_SignRecoverInit", "SIGN_RECOVER"),
         ("C_VerifyRecoverInit", "VERIFY_RECOVER"))


@op
def init(h: Harness, r: Reader) -> None:
    name, kind = INITS[r.pick(len(INITS))]
    mech, key = h.mech(r, kind)
    s = h.session(r)
    if kind == "DIGEST":
        h.call(name, s, NULL if r.pick(16) == 15 else mech)
    else:
        h.call(name, s, NULL if r.pick(16) == 15 else mech, h.obj(r, key))


IN_OUT = ("C_Sign", "C_Encrypt", "C_Decrypt", "C_Digest", "C_EncryptUpdate",
          "C_DecryptUpdate", "C_SignRecover", "C_VerifyRecover",
          "C_DigestEncryptUpdate", "C_SignEncryptUpdate",
          "C_DecryptDigestUpdate", "C_DecryptVerifyUpdate")


@op
def in_out(h: Harness, r: Reader) -> None:
    name = IN_OUT[r.pick(len(IN_OUT))]
    data, n = v.pointer(h.arena, r, bytes(32))
    out = v.output(h.arena, r)
    h.call(name, h.session(r), data, n, out.buf, out.length)


UPDATES = ("C_DigestUpdate", "C_SignUpdate", "C_VerifyUpdate")


@op
def update(h: Harness, r: Reader) -> None:
    what = r.pick(4)
    if what == 3:
        h.call("C_DigestKey", h.session(r), h.obj(r, h.keys.aes_x))
        return
    data, n = v.pointer(h.arena, r, b"message")
    h.call(UPDATES[what], h.session(r), data, n)


FINALS = ("C_SignFinal", "C_DigestFinal", "C_EncryptFinal",
          "C_DecryptFinal")


@op
def final(h: Harness, r: Reader) -> None:
    what = r.pick(6)
    s = h.session(r)
    if what == 4:
        sig, n = v.pointer(h.arena, r, bytes(64))
        h.call("C_VerifyFinal", s, sig, n)
    elif what == 5:
        data, n = v.pointer(h.arena, r, b"message")
        sig, n_sig = v.pointer(h.arena, r, bytes(64))
        h.call("C_Verify", s, data, n, sig, n_sig)
    else:
        out = v.output(h.arena, r)
        h.call(FINALS[what], s, out.buf, out.length)


KEYGENS = ((CKM.AES_KEY_GEN, [(CKA.VALUE_LEN, 32)]),
           (CKM.GENERIC_SECRET_KEY_GEN, [(CKA.VALUE_LEN, 32)]),
           (CKM.CHACHA20_KEY_GEN, []), (CKM.HKDF_KEY_GEN,
                                        [(CKA.VALUE_LEN, 32)]),
           (CKM.PKCS5_PBKD2, [(CKA.KEY_TYPE, CKK.GENERIC_SECRET),
                              (CKA.VALUE_LEN, 32)]))


@op
def generate_key(h: Harness, r: Reader) -> None:
    mech, extra = KEYGENS[r.pick(len(KEYGENS))]
    kind = "PBKD2" if mech == CKM.PKCS5_PBKD2 else "NONE"
    m = v.mechanism(h.arena, r, mech, h.defaults[kind], 0)
    sensitive = r.pick(2) == 0
    default: list[v.Pair] = [(int(t), v.ulong_bytes(x)) for t, x in extra]
    default += [(int(CKA.SENSITIVE), b"\x01" if sensitive else b"\x00"),
                (int(CKA.ENCRYPT), TRUE), (int(CKA.SIGN), TRUE)]
    tmpl, n = v.template(h.arena, r, default)
    out = h.handle_out(r)
    rv = h.call("C_GenerateKey", h.session(r), m, tmpl, n, out)
    h.created(rv, out)


PAIRS = ((CKM.EC_KEY_PAIR_GEN, [(CKA.EC_PARAMS, P256)]),
         (CKM.EC_EDWARDS_KEY_PAIR_GEN, [(CKA.EC_PARAMS,
                                         b"\x13\x0cedwards25519")]),
         (CKM.EC_MONTGOMERY_KEY_PAIR_GEN, [(CKA.EC_PARAMS,
                                            b"\x13\x0acurve25519")]),
         (CKM.ML_DSA_KEY_PAIR_GEN, [(CKA.PARAMETER_SET, v.ulong_bytes(1))]),
         (CKM.ML_KEM_KEY_PAIR_GEN, [(CKA.PARAMETER_SET, v.ulong_bytes(2))]),
         (CKM.RSA_PKCS_KEY_PAIR_GEN, [(CKA.MODULUS_BITS,
                                       v.ulong_bytes(1024))]))


@op
def generate_key_pair(h: Harness, r: Reader) -> None:
    mech, pub_default = PAIRS[r.pick(len(PAIRS))]
    if mech == CKM.RSA_PKCS_KEY_PAIR_GEN and not h.costly():
        mech = CKM.EC_KEY_PAIR_GEN
        pub_default = PAIRS[0][1]
    m = v.mechanism(h.arena, r, mech, h.defaults["NONE"], 0)
    if m.mechanism == CKM.RSA_PKCS_KEY_PAIR_GEN and mech != m.mechanism:
        m.mechanism = CKM.EC_KEY_PAIR_GEN
    pub, n_pub = v.template(h.arena, r, [(int(t), x)
                                         for t, x in pub_default])
    priv, n_priv = v.template(h.arena, r, [(int(CKA.SENSITIVE), TRUE),
                                           (int(CKA.SIGN), TRUE)])
    hp, hk = h.handle_out(r), h.handle_out(r)
    rv = h.call("C_GenerateKeyPair", h.session(r), m, pub, n_pub, priv,
                n_priv, hp, hk)
    h.created(rv, hp, hk)


@op
def wrap_key(h: Harness, r: Reader) -> None:
    mech, wrapping = h.mech(r, "WRAP")
    target = h.obj(r, h.keys.aes_x)
    out = v.output(h.arena, r)
    unextractable = target in h.keys.unextractable()
    rv = h.call("C_WrapKey", h.session(r), mech, h.obj(r, wrapping),
                target, out.buf, out.length)
    if rv == CKR.OK and out.buf != NULL and unextractable:
        from fuzz.harness import Finding
        raise Finding(f"unextractable key {target} wrapped")


@op
def unwrap_key(h: Harness, r: Reader) -> None:
    mech, key = h.mech(r, "UNWRAP")
    wrapped, n = v.pointer(h.arena, r, bytes(24))
    tmpl, n_t = v.template(h.arena, r, [
        (int(CKA.CLASS), v.ulong_bytes(CKO.SECRET_KEY)),
        (int(CKA.KEY_TYPE), v.ulong_bytes(CKK.AES))])
    out = h.handle_out(r)
    rv = h.call("C_UnwrapKey", h.session(r), mech, h.obj(r, key), wrapped,
                n, tmpl, n_t, out)
    h.created(rv, out)


@op
def derive_key(h: Harness, r: Reader) -> None:
    mech, key = h.mech(r, "DERIVE")
    tmpl, n = v.template(h.arena, r, [
        (int(CKA.CLASS), v.ulong_bytes(CKO.SECRET_KEY)),
        (int(CKA.KEY_TYPE), v.ulong_bytes(CKK.GENERIC_SECRET)),
        (int(CKA.VALUE_LEN), v.ulong_bytes(16))])
    out = h.handle_out(r)
    rv = h.call("C_DeriveKey", h.session(r), mech, h.obj(r, key), tmpl, n,
                out)
    h.created(rv, out)


@op
def kem(h: Harness, r: Reader) -> None:
    mech = h.arena.new("CK_MECHANISM *")
    mech.mechanism = v.number(r, CKM.ML_KEM)
    tmpl, n = v.template(h.arena, r, [])
    out = h.handle_out(r)
    if r.pick(2) == 0:
        ct = v.output(h.arena, r, 1568)
        rv = h.call("C_EncapsulateKey", h.session(r), mech,
                    h.obj(r, h.keys.mlkem[0]), tmpl, n, ct.buf, ct.length,
                    out)
    else:
        ct_in, n_ct = v.pointer(h.arena, r, bytes(1088))
        rv = h.call("C_DecapsulateKey", h.session(r), mech,
                    h.obj(r, h.keys.mlkem[1]), tmpl, n, ct_in, n_ct, out)
    h.created(rv, out)


@op
def random(h: Harness, r: Reader) -> None:
    s = h.session(r)
    if r.pick(2):
        seed, n = v.pointer(h.arena, r, b"seed")
        h.call("C_SeedRandom", s, seed, n)
        return
    how = r.pick(4)
    if how == 3:
        # A lying length above the 64 MiB bound: refused before writing.
        h.call("C_GenerateRandom", s, h.arena.new("unsigned char[]", 8),
               v.LIES[r.pick(len(v.LIES))])
        return
    n = r.ConsumeIntInRange(0, 4096) if how else 32
    buf = NULL if how == 2 else h.arena.new("unsigned char[]", max(1, n))
    h.call("C_GenerateRandom", s, buf, n if how != 2 else max(1, n))


@op
def operation_state(h: Harness, r: Reader) -> None:
    s = h.session(r)
    if r.pick(2) == 0:
        out = v.output(h.arena, r)
        h.call("C_GetOperationState", s, out.buf, out.length)
    else:
        state, n = v.pointer(h.arena, r, bytes(48))
        h.call("C_SetOperationState", s, state, n, h.obj(r, 0),
               h.obj(r, 0))


@op
def legacy(h: Harness, r: Reader) -> None:
    what = r.pick(4)
    s = h.session(r)
    if what == 0:
        h.call("C_GetFunctionStatus", s)
    elif what == 1:
        h.call("C_CancelFunction", s)
    elif what == 2:
        h.call("C_SessionCancel", s, v.number(r, 0))
    else:
        mech, key = h.mech(r, "ENCRYPT")
        h.call("C_MessageEncryptInit", s, mech, h.obj(r, key))


NAMES = {name: i for i, (name, _fn) in enumerate(OPS)}

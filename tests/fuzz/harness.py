"""The C ABI fuzz target: random sequences of PKCS#11 calls into
build/libcraton_hsm.so (cffi ABI mode, the harness of
tests/abi/test_hostile.py), with invariants checked after every call.

Invariants (issue 8): the return value is a defined CKR; no exception
escaped into the guard (a CKR_GENERAL_ERROR whose log record carries a
traceback, unless the module is in its latched error state); a key the
harness made sensitive or unextractable never leaves (C_GetAttributeValue
of its secret attributes, C_WrapKey, C_CopyObject copies stay
sensitive); the module still answers C_GetInfo.

The token is set up once per process: storage mode "memory" in a
temporary data directory, one logged-in R/W session (the anchor) and a
set of keys.  A login costs a PBKDF2 of 600,000 iterations, so calls
that would hash a PIN (C_Login while logged out or context-specific,
C_SetPIN, C_InitToken on a free slot, C_Logout) and RSA key generation
run with real arguments only once per ``COSTLY_EVERY`` executions; the
rest of the time the harness sends a PIN one byte over the 256-byte
bound, which the module refuses before hashing.  After each execution
the harness closes what it opened, destroys what it created and logs
back in if it has to.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abi.test_hostile import (
    FALSE,
    NULL,
    P256,
    TRUE,
    USER_PIN,
    Token,
    ffi,
    ulong,
)

from craton_hsm._generated_ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKA,
    CKF,
    CKK,
    CKM,
    CKO,
    CKP,
    CKR,
    CKU,
)
from fuzz import values as v
from fuzz.ops import OPS
from fuzz.reader import Reader

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "build" / "libcraton_hsm.so"
DEFINED_RV = frozenset(int(c) for c in CKR)
COSTLY_EVERY = 500
SECRET_ATTRS = (CKA.VALUE, CKA.PRIVATE_EXPONENT, CKA.PRIME_1, CKA.PRIME_2,
                CKA.EXPONENT_1, CKA.EXPONENT_2, CKA.COEFFICIENT, CKA.SEED)
LONG_PIN = b"9" * 257


class Finding(AssertionError):
    """An invariant failed; the fuzzer records the input as a crash."""


class Escapes(logging.Handler):
    """Collects ERROR records with a traceback from the module's logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "not a CK_RV" in record.getMessage():
            self.records.append(record)


@dataclass
class Keys:
    """The setup objects, by role."""

    aes: int = 0          # AES-256, sensitive, unextractable
    aes_x: int = 0        # AES-128, extractable: wrapping key and target
    hmac: int = 0         # generic secret, sensitive
    ec: tuple[int, int] = (0, 0)
    ed: tuple[int, int] = (0, 0)
    rsa: tuple[int, int] = (0, 0)
    mldsa: tuple[int, int] = (0, 0)
    mlkem: tuple[int, int] = (0, 0)
    data: int = 0

    def all(self) -> list[int]:
        return [self.aes, self.aes_x, self.hmac, *self.ec, *self.ed,
                *self.rsa, *self.mldsa, *self.mlkem, self.data]

    def secret(self) -> set[int]:
        """Sensitive (or unextractable) objects: nothing may leave."""
        return {self.aes, self.hmac, self.ec[1], self.ed[1], self.rsa[1],
                self.mldsa[1], self.mlkem[1]}

    def unextractable(self) -> set[int]:
        return {self.aes, self.ec[1], self.rsa[1]}


@dataclass
class Stats:
    executions: int = 0
    calls: int = 0
    costly: int = 0
    rv: dict[str, int] = field(default_factory=dict)


class Harness:
    def __init__(self, lib_path: Path = LIB) -> None:
        self.lib = ffi.dlopen(str(lib_path))
        self.tok = Token(self.lib)
        self.keys = Keys()
        self.stats = Stats()
        self.escapes = Escapes()
        self.user_pin = USER_PIN
        self.anchor = 0
        self.work = 0
        self.ec_point = b""
        self.secret: set[int] = set()
        self.protected: set[int] = set()
        self.mechs: list[tuple[int, str, frozenset[int], frozenset[str]]]
        self.mechs = []
        self.ops = OPS
        # Per execution.
        self.sessions: list[int] = []
        self.objects: list[int] = []
        self.stale: list[int] = []
        self.costly_ok = False
        self.arena = v.Arena()

    # --- set-up -----------------------------------------------------------

    def setup(self) -> None:
        data = Path(tempfile.mkdtemp(prefix="craton-fuzz-"))
        config = data / "craton.toml"
        config.write_text('[storage]\nmode = "memory"\n'
                          "[pin]\nmax_failures = 1000\n")
        os.environ["CRATON_HSM_DATA_DIR"] = str(data / "data")
        os.environ["CRATON_HSM_CONFIG"] = str(config)
        self._rv(self.lib.C_Initialize(NULL), "C_Initialize", ok=True)
        logging.getLogger("craton_hsm").addHandler(self.escapes)
        self.anchor = self.tok.ready()
        self._make_keys()
        self.secret = self.keys.secret()
        self.protected = set(self.keys.all())
        from craton_hsm.mechanisms.registry import REGISTRY
        for m, spec in sorted(REGISTRY.items()):
            self.mechs.append((int(m), spec.params.name,
                               frozenset(int(k) for k in spec.key_types),
                               frozenset(o.name for o in spec.ops)))
        self.defaults = v.param_defaults(self.ec_point)

    def _make_keys(self) -> None:
        tok, h, k = self.tok, self.anchor, self.keys
        k.aes = self._gen(CKM.AES_KEY_GEN, (CKA.VALUE_LEN, ulong(32)),
                          (CKA.SENSITIVE, TRUE), (CKA.EXTRACTABLE, FALSE),
                          *_caps(TRUE, CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP,
                                 CKA.UNWRAP, CKA.DERIVE))
        k.aes_x = self._gen(CKM.AES_KEY_GEN, (CKA.VALUE_LEN, ulong(16)),
                            (CKA.SENSITIVE, FALSE),
                            (CKA.EXTRACTABLE, TRUE),
                            *_caps(TRUE, CKA.ENCRYPT, CKA.DECRYPT,
                                   CKA.WRAP, CKA.UNWRAP, CKA.DERIVE))
        k.hmac = self._gen(CKM.GENERIC_SECRET_KEY_GEN,
                           (CKA.VALUE_LEN, ulong(32)),
                           (CKA.SENSITIVE, TRUE), (CKA.EXTRACTABLE, TRUE),
                           *_caps(TRUE, CKA.SIGN, CKA.VERIFY, CKA.DERIVE))
        k.ec = self._pair(CKM.EC_KEY_PAIR_GEN, [(CKA.EC_PARAMS, P256)],
                          [(CKA.EXTRACTABLE, FALSE)], CKA.DERIVE)
        k.ed = self._pair(CKM.EC_EDWARDS_KEY_PAIR_GEN,
                          [(CKA.EC_PARAMS, _ed25519())],
                          [(CKA.EXTRACTABLE, TRUE)])
        k.rsa = self._pair(CKM.RSA_PKCS_KEY_PAIR_GEN,
                           [(CKA.MODULUS_BITS, ulong(2048)),
                            (CKA.ENCRYPT, TRUE), (CKA.WRAP, TRUE)],
                           [(CKA.EXTRACTABLE, FALSE), (CKA.DECRYPT, TRUE),
                            (CKA.UNWRAP, TRUE)])
        k.mldsa = self._pair(CKM.ML_DSA_KEY_PAIR_GEN,
                             [(CKA.PARAMETER_SET, ulong(CKP.ML_DSA_44))],
                             [(CKA.EXTRACTABLE, TRUE)])
        k.mlkem = self._pair(CKM.ML_KEM_KEY_PAIR_GEN,
                             [(CKA.PARAMETER_SET, ulong(CKP.ML_KEM_768)),
                              (CKA.ENCAPSULATE, TRUE)],
                             [(CKA.EXTRACTABLE, TRUE),
                              (CKA.DECAPSULATE, TRUE)], sign=False)
        out = ffi.new("CK_OBJECT_HANDLE *")
        self._rv(self.lib.C_CreateObject(h, tok.template(
            (CKA.CLASS, ulong(CKO.DATA)), (CKA.LABEL, b"fuzz-data"),
            (CKA.VALUE, b"public data")), 3, out), "C_CreateObject",
            ok=True)
        k.data = int(out[0])
        point = ffi.new("CK_ATTRIBUTE *")
        buf = ffi.new("unsigned char[]", 128)
        point.type, point.pValue, point.ulValueLen = CKA.EC_POINT, buf, 128
        self._rv(self.lib.C_GetAttributeValue(h, k.ec[0], point, 1),
                 "C_GetAttributeValue", ok=True)
        raw = bytes(ffi.buffer(buf, point.ulValueLen))
        self.ec_point = raw[2:] if raw[:1] == b"\x04" and len(raw) == 67 \
            else raw

    def _gen(self, mech: int, *attrs: tuple[int, bytes]) -> int:
        attrs = (*attrs, (CKA.TOKEN, TRUE))
        out = ffi.new("CK_OBJECT_HANDLE *")
        self._rv(self.lib.C_GenerateKey(
            self.anchor, self.tok.mechanism(mech), self.tok.template(*attrs),
            len(attrs), out), "C_GenerateKey", ok=True)
        return int(out[0])

    def _pair(self, mech: int, pub: list[tuple[int, bytes]],
              priv: list[tuple[int, bytes]], *extra: int,
              sign: bool = True) -> tuple[int, int]:
        caps = [(CKA.VERIFY, TRUE)] if sign else []
        pcaps = [(CKA.SIGN, TRUE)] if sign else []
        # Token objects: a logout destroys private session objects.
        pub = [*pub, *caps, (CKA.TOKEN, TRUE)]
        priv = [*priv, *pcaps, (CKA.SENSITIVE, TRUE), (CKA.TOKEN, TRUE)] + \
            [(e, TRUE) for e in extra]
        hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        self._rv(self.lib.C_GenerateKeyPair(
            self.anchor, self.tok.mechanism(mech), self.tok.template(*pub),
            len(pub), self.tok.template(*priv), len(priv), hp, hk),
            "C_GenerateKeyPair", ok=True)
        return int(hp[0]), int(hk[0])

    # --- one execution ----------------------------------------------------

    def run(self, data: bytes) -> None:
        self.stats.executions += 1
        self.costly_ok = self.stats.executions % COSTLY_EVERY == 1
        self.arena = v.Arena()
        self.sessions, self.objects = [], []
        # A fresh R/W session per execution is the default session, so
        # no operation state leaks from one execution into the next; the
        # anchor only holds the login and is out of the fuzzer's reach.
        out = ffi.new("CK_SESSION_HANDLE *")
        self._rv(self.lib.C_OpenSession(0, CKF.SERIAL_SESSION
                                        | CKF.RW_SESSION, NULL, NULL, out),
                 "C_OpenSession", ok=True)
        self.work = int(out[0])
        self.sessions.append(self.work)
        try:
            for op, r in Reader(data).steps()[:24]:
                _name, fn = self.ops[op % len(self.ops)]
                fn(self, r)
        finally:
            self._restore()

    def call(self, name: str, *args: Any) -> int:
        """Call one C function and check the per-call invariants."""
        self.escapes.records.clear()
        rv = int(getattr(self.lib, name)(*args))
        self.stats.calls += 1
        self._rv(rv, name)
        if self.escapes.records and not _latched():
            rec = self.escapes.records[0]
            raise Finding(f"{name} -> 0x{rv:x}: exception escaped into the "
                          f"guard: {rec.getMessage()}\n"
                          f"{logging.Formatter().formatException(rec.exc_info) if rec.exc_info else ''}")
        info = ffi.new("CK_INFO *")
        if int(self.lib.C_GetInfo(info)) != CKR.OK:
            raise Finding(f"after {name}: C_GetInfo no longer answers")
        return rv

    def _rv(self, rv: int, name: str, ok: bool = False) -> None:
        rv = int(rv)
        if rv not in DEFINED_RV:
            raise Finding(f"{name} returned undefined CK_RV 0x{rv:x}")
        key = f"{name}:{CKR(rv).name}"
        self.stats.rv[key] = self.stats.rv.get(key, 0) + 1
        if ok and rv != CKR.OK:
            raise RuntimeError(f"harness set-up: {name} -> {CKR(rv).name}")

    def costly(self) -> bool:
        """May this execution make one PIN-hashing or slow call?"""
        if self.costly_ok:
            self.costly_ok = False
            self.stats.costly += 1
            return True
        return False

    def _restore(self) -> None:
        """Close what the execution opened, destroy what it created,
        check the secret keys, log back in when needed."""
        for h in self.objects:
            if h not in self.protected:
                self.lib.C_DestroyObject(self.anchor, h)
        self.stale = (self.stale + self.objects)[-16:]
        for s in self.sessions:
            if s != self.anchor:
                self.lib.C_CloseSession(s)
        self.stale = (self.stale + self.sessions)[-24:]
        self.secret = self.keys.secret()
        info = ffi.new("CK_SESSION_INFO *")
        if int(self.lib.C_GetSessionInfo(self.anchor, info)) != CKR.OK:
            raise RuntimeError("harness: the anchor session is gone")
        if info.state != 3:   # CKS_RW_USER_FUNCTIONS
            self.lib.C_Logout(self.anchor)
            self._rv(self.tok.login(self.anchor, CKU.USER, self.user_pin),
                     "C_Login", ok=True)
        self._check_secrets()

    def is_secret(self, obj: int) -> bool:
        """CKA_SENSITIVE true or CKA_EXTRACTABLE false, read through the
        anchor session (spec 4.4.1: then no secret attribute leaves)."""
        a = ffi.new("CK_ATTRIBUTE[2]")
        vals = ffi.new("CK_BBOOL[2]")
        for i, t in enumerate((CKA.SENSITIVE, CKA.EXTRACTABLE)):
            a[i].type, a[i].pValue, a[i].ulValueLen = t, vals + i, 1
        vals[1] = 1
        self.lib.C_GetAttributeValue(self.anchor, obj, a, 2)
        return obj in self.secret or (
            a[0].ulValueLen == 1 and vals[0] != 0) or (
            a[1].ulValueLen == 1 and vals[1] == 0)

    def _check_secrets(self) -> None:
        """Every setup secret still refuses to show its value."""
        for h in (self.keys.aes, self.keys.ec[1]):
            a = ffi.new("CK_ATTRIBUTE *")
            buf = ffi.new("unsigned char[]", 8192)
            a.type, a.pValue, a.ulValueLen = CKA.VALUE, buf, 8192
            rv = int(self.lib.C_GetAttributeValue(self.anchor, h, a, 1))
            if rv != CKR.ATTRIBUTE_SENSITIVE or \
                    a.ulValueLen != CK_UNAVAILABLE_INFORMATION:
                raise Finding(f"setup secret {h}: CKA_VALUE read gave "
                              f"{CKR(rv).name}, length {a.ulValueLen}")

    # --- argument helpers -------------------------------------------------

    def session(self, r: Reader) -> int:
        """0: the anchor; 1: a session this run opened; 2: stale; 3: any
        number."""
        how = r.pick(4)
        if how == 1 and self.sessions:
            return self.sessions[r.pick(len(self.sessions))]
        if how == 2 and self.stale:
            return self.stale[r.pick(len(self.stale))]
        if how == 3:
            n = v.number(r, 0)
            return self.work if n == self.anchor else n
        return self.work

    def obj(self, r: Reader, default: int) -> int:
        """0: the default; 1: a setup object; 2: one this run made; 3:
        stale; 4: any number."""
        how = r.pick(5)
        if how == 1:
            every = self.keys.all()
            return every[r.pick(len(every))]
        if how == 2 and self.objects:
            return self.objects[r.pick(len(self.objects))]
        if how == 3 and self.stale:
            return self.stale[r.pick(len(self.stale))]
        if how == 4:
            return v.number(r, 0)
        return default

    def mech_for(self, r: Reader, op: str) -> tuple[int, str, int]:
        """(mechanism, parameter kind, a fitting setup key) for an op."""
        rows = [m for m in self.mechs if op in m[3]] or self.mechs
        mech, kind, key_types, _ops = rows[r.pick(len(rows))]
        return mech, kind, self._key_for(op, key_types)

    def _key_for(self, op: str, key_types: frozenset[int]) -> int:
        k = self.keys
        private = op in ("SIGN", "DECRYPT", "SIGN_RECOVER", "UNWRAP",
                         "DECAPSULATE", "DERIVE")
        for kt, pair in ((CKK.EC, k.ec), (CKK.EC_EDWARDS, k.ed),
                         (CKK.RSA, k.rsa), (CKK.ML_DSA, k.mldsa),
                         (CKK.ML_KEM, k.mlkem)):
            if kt in key_types:
                return pair[1] if private else pair[0]
        if CKK.GENERIC_SECRET in key_types and op in ("SIGN", "VERIFY"):
            return k.hmac
        if op == "WRAP" or op == "UNWRAP":
            return k.aes_x
        return k.aes

    def mech(self, r: Reader, op: str) -> tuple[Any, int]:
        m, kind, key = self.mech_for(r, op)
        param_handle = self.keys.aes_x
        return (v.mechanism(self.arena, r, m, self.defaults[kind],
                            param_handle), key)

    def pin(self, r: Reader, correct: bytes) -> tuple[Any, int]:
        """A PIN argument; only a costly call gets a real candidate."""
        if not self.costly():
            how = r.pick(3)
            if how == 1:
                return NULL, r.ConsumeIntInRange(0, 300)
            return self.arena.buf(LONG_PIN), len(LONG_PIN) + r.pick(4) * (
                2 ** 40 if how == 2 else 1)
        p = correct if r.pick(2) == 0 else r.ConsumeBytes(
            r.ConsumeIntInRange(0, 256))
        return (self.arena.buf(p), len(p)) if p else (NULL, 0)

    def created(self, rv: int, *handles: Any) -> None:
        if rv == CKR.OK:
            # A length query (C_EncapsulateKey with a NULL buffer) may
            # succeed with a NULL handle pointer and make no object.
            self.objects.extend(int(p[0]) for p in handles
                                if p != NULL and p[0])

    def handle_out(self, r: Reader) -> Any:
        return NULL if r.pick(12) == 11 else self.arena.new(
            "CK_OBJECT_HANDLE *")


def _caps(value: bytes, *types: int) -> tuple[tuple[int, bytes], ...]:
    return tuple((t, value) for t in types)


def _ed25519() -> bytes:
    # PrintableString "edwards25519" (PKCS#11 v3.0 2.3.5 accepts it).
    return b"\x13\x0cedwards25519"


def _latched() -> bool:
    from craton_hsm import latch
    return latch.failure() is not None


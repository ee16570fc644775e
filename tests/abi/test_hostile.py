"""Hostile and protocol-edge calls into build/libcraton_hsm.so through cffi
in ABI mode (PKCS#11 v3.0 sections 5.1-5.2 and 5.4-5.13).

The module is loaded into this process with ``ffi.dlopen``, exactly as a
C host would see it, and each test brackets its calls with
C_Initialize/C_Finalize on a token in its own ``tmp_path`` (the module
reads CRATON_HSM_DATA_DIR and CRATON_HSM_CONFIG in C_Initialize).  Every
return value is compared by name with ``CKR``.  The fault-injection test
needs a fresh import of the package, so it runs in a subprocess.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cffi
import pytest

from craton_hsm._generated_ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKA,
    CKF,
    CKK,
    CKM,
    CKO,
    CKR,
    CKS,
    CKU,
)

ROOT = Path(__file__).resolve().parents[2]
CBINDINGS = ROOT / "cbindings"
SO_PIN = b"12345678"
USER_PIN = b"1234"
P256 = bytes.fromhex("06082a8648ce3d030107")


def cdef_source() -> str:
    functions = (CBINDINGS / "pkcs11_functions.h").read_text()
    functions = re.sub(r"/\*.*?\*/", "", functions, flags=re.DOTALL)
    return (CBINDINGS / "pkcs11_types.h").read_text() + functions


ffi = cffi.FFI()
ffi.cdef(cdef_source())
NULL = ffi.NULL


def name(rv: int) -> str:
    try:
        return CKR(rv).name
    except ValueError:
        return hex(rv)


def expect(rv: int, want: str) -> None:
    """Compare a CK_RV by its spec name (the message shows both)."""
    assert name(rv) == want


class Token:
    """Thin helpers over the raw C functions for building scenarios."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self._keep: list[Any] = []

    def init_token(self, slot: int = 0, label: bytes = b"hostile") -> None:
        expect(self.lib.C_InitToken(slot, SO_PIN, len(SO_PIN),
                                    label.ljust(32)), "OK")

    def open(self, slot: int = 0, rw: bool = True) -> int:
        flags = CKF.SERIAL_SESSION | (CKF.RW_SESSION if rw else 0)
        h = ffi.new("CK_SESSION_HANDLE *")
        expect(self.lib.C_OpenSession(slot, flags, NULL, NULL, h), "OK")
        return int(h[0])

    def login(self, h: int, user: int, pin: bytes) -> int:
        return int(self.lib.C_Login(h, user, pin, len(pin)))

    def ready(self, slot: int = 0) -> int:
        """Initialised token with a user PIN; returns a logged-in RW
        session."""
        self.init_token(slot)
        h = self.open(slot)
        expect(self.login(h, CKU.SO, SO_PIN), "OK")
        expect(self.lib.C_InitPIN(h, USER_PIN, len(USER_PIN)), "OK")
        expect(self.lib.C_Logout(h), "OK")
        expect(self.login(h, CKU.USER, USER_PIN), "OK")
        return h

    def template(self, *pairs: tuple[int, bytes]) -> Any:
        arr = ffi.new("CK_ATTRIBUTE[]", len(pairs))
        for i, (t, v) in enumerate(pairs):
            buf = ffi.new("char[]", v) if v else NULL
            self._keep.append(buf)
            arr[i].type, arr[i].pValue, arr[i].ulValueLen = t, buf, len(v)
        return arr

    def mechanism(self, mech: int, param: bytes = b"") -> Any:
        m = ffi.new("CK_MECHANISM *")
        buf = ffi.new("char[]", param) if param else NULL
        self._keep.append(buf)
        m.mechanism, m.pParameter, m.ulParameterLen = mech, buf, len(param)
        return m

    def ec_pair(self, h: int) -> tuple[int, int]:
        pub = self.template((CKA.EC_PARAMS, P256), (CKA.VERIFY, TRUE))
        priv = self.template((CKA.SIGN, TRUE), (CKA.SENSITIVE, TRUE))
        hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        expect(self.lib.C_GenerateKeyPair(
            h, self.mechanism(CKM.EC_KEY_PAIR_GEN), pub, 2, priv, 2, hp,
            hk), "OK")
        return int(hp[0]), int(hk[0])

    def session_state(self, h: int) -> int:
        info = ffi.new("CK_SESSION_INFO *")
        expect(self.lib.C_GetSessionInfo(h, info), "OK")
        return int(info.state)


TRUE, FALSE = b"\x01", b"\x00"


def ulong(v: int) -> bytes:
    return int(v).to_bytes(ffi.sizeof("CK_ULONG"), sys.byteorder)


@pytest.fixture(scope="module")
def lib(libpath: Path) -> Any:
    return ffi.dlopen(str(libpath))


@pytest.fixture
def tok(lib: Any, data_env: Path) -> Iterator[Token]:
    expect(lib.C_Initialize(NULL), "OK")
    try:
        yield Token(lib)
    finally:
        expect(lib.C_Finalize(NULL), "OK")


# --- library state -------------------------------------------------------

def test_calls_before_initialize_and_double_initialize(lib, data_env):
    info = ffi.new("CK_INFO *")
    count = ffi.new("CK_ULONG *")
    expect(lib.C_GetInfo(info), "CRYPTOKI_NOT_INITIALIZED")
    expect(lib.C_GetSlotList(0, NULL, count), "CRYPTOKI_NOT_INITIALIZED")
    expect(lib.C_OpenSession(0, CKF.SERIAL_SESSION, NULL, NULL,
                             ffi.new("CK_SESSION_HANDLE *")),
           "CRYPTOKI_NOT_INITIALIZED")
    expect(lib.C_Finalize(NULL), "CRYPTOKI_NOT_INITIALIZED")
    expect(lib.C_Initialize(NULL), "OK")
    try:
        expect(lib.C_Initialize(NULL), "CRYPTOKI_ALREADY_INITIALIZED")
        expect(lib.C_GetInfo(info), "OK")
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    expect(lib.C_GetInfo(info), "CRYPTOKI_NOT_INITIALIZED")


# --- NULL pointers and output buffers ------------------------------------

def test_null_output_pointers_are_arguments_bad(tok):
    lib = tok.lib
    expect(lib.C_GetInfo(NULL), "ARGUMENTS_BAD")
    expect(lib.C_GetSlotList(0, NULL, NULL), "ARGUMENTS_BAD")
    expect(lib.C_OpenSession(0, CKF.SERIAL_SESSION, NULL, NULL, NULL),
           "ARGUMENTS_BAD")


def test_slot_list_length_query_then_buffer_too_small(tok):
    lib = tok.lib
    count = ffi.new("CK_ULONG *")
    expect(lib.C_GetSlotList(0, NULL, count), "OK")
    n = int(count[0])
    assert n >= 2
    slots = ffi.new("CK_SLOT_ID[]", n)
    count[0] = n - 1
    expect(lib.C_GetSlotList(0, slots, count), "BUFFER_TOO_SMALL")
    assert count[0] == n
    expect(lib.C_GetSlotList(0, slots, count), "OK")
    assert list(slots) == sorted(set(slots))


def test_sign_survives_length_query_and_short_buffer(tok):
    lib = tok.lib
    h = tok.ready()
    _pub, priv = tok.ec_pair(h)
    expect(lib.C_SignInit(h, tok.mechanism(CKM.ECDSA_SHA256), priv), "OK")
    data = b"message"
    n = ffi.new("CK_ULONG *")
    expect(lib.C_Sign(h, data, len(data), NULL, n), "OK")
    assert n[0] == 64
    sig = ffi.new("CK_BYTE[]", 64)
    n[0] = 10
    expect(lib.C_Sign(h, data, len(data), sig, n), "BUFFER_TOO_SMALL")
    assert n[0] == 64
    expect(lib.C_Sign(h, data, len(data), NULL, n), "OK")
    expect(lib.C_Sign(h, data, len(data), sig, n), "OK")
    assert n[0] == 64
    # The operation ended with the signature.
    expect(lib.C_Sign(h, data, len(data), sig, n), "OPERATION_NOT_INITIALIZED")


# --- unknown handles and mechanisms --------------------------------------

def test_unknown_handles_and_mechanisms(tok):
    lib = tok.lib
    h = tok.ready()
    info = ffi.new("CK_SESSION_INFO *")
    expect(lib.C_GetSessionInfo(h + 1000, info), "SESSION_HANDLE_INVALID")
    expect(lib.C_CloseSession(h + 1000), "SESSION_HANDLE_INVALID")
    attr = tok.template((CKA.CLASS, ulong(0)))
    expect(lib.C_GetAttributeValue(h, 0xBEEF, attr, 1),
           "OBJECT_HANDLE_INVALID")
    expect(lib.C_DestroyObject(h, 0xBEEF), "OBJECT_HANDLE_INVALID")
    expect(lib.C_SignInit(h, tok.mechanism(CKM.ECDSA_SHA256), 0xBEEF),
           "KEY_HANDLE_INVALID")
    _pub, priv = tok.ec_pair(h)
    expect(lib.C_SignInit(h, tok.mechanism(0x7FFFFFF0), priv),
           "MECHANISM_INVALID")
    expect(lib.C_DigestInit(h, tok.mechanism(0x7FFFFFF0)),
           "MECHANISM_INVALID")
    # CKM_SHA256_RSA_PKCS_PSS takes a CK_RSA_PKCS_PSS_PARAMS (24 bytes).
    expect(lib.C_SignInit(h, tok.mechanism(CKM.SHA256_RSA_PKCS_PSS,
                                           b"\x00" * 5), priv),
           "MECHANISM_PARAM_INVALID")
    expect(lib.C_EncryptInit(h, tok.mechanism(CKM.AES_CBC_PAD, b"\x00" * 7),
                             _aes(tok, h)), "MECHANISM_PARAM_INVALID")


def _aes(tok: Token, h: int) -> int:
    key = ffi.new("CK_OBJECT_HANDLE *")
    tmpl = tok.template((CKA.VALUE_LEN, ulong(32)), (CKA.ENCRYPT, TRUE))
    expect(tok.lib.C_GenerateKey(h, tok.mechanism(CKM.AES_KEY_GEN), tmpl, 2,
                                 key), "OK")
    return int(key[0])


# --- templates -----------------------------------------------------------

def test_bad_templates_are_named(tok):
    lib = tok.lib
    h = tok.ready()
    out = ffi.new("CK_OBJECT_HANDLE *")
    no_class = tok.template((CKA.LABEL, b"x"), (CKA.VALUE, b"data"))
    expect(lib.C_CreateObject(h, no_class, 2, out), "TEMPLATE_INCOMPLETE")
    bad_bool = tok.template((CKA.CLASS, ulong(CKO.DATA)),
                            (CKA.TOKEN, b"\x01\x00\x00\x00"))
    expect(lib.C_CreateObject(h, bad_bool, 2, out),
           "ATTRIBUTE_VALUE_INVALID")
    # 0x7FFF0001 also carries the CKF_ARRAY_ATTRIBUTE bit (0x40000000).
    for unknown_type in (0x0FFF0001, 0x7FFF0001):
        unknown = tok.template((CKA.CLASS, ulong(CKO.DATA)),
                               (unknown_type, b"\x01"))
        expect(lib.C_CreateObject(h, unknown, 2, out),
               "ATTRIBUTE_TYPE_INVALID")
    local = tok.template((CKA.CLASS, ulong(CKO.SECRET_KEY)),
                         (CKA.KEY_TYPE, ulong(CKK.AES)),
                         (CKA.VALUE, bytes(16)), (CKA.LOCAL, TRUE))
    expect(lib.C_CreateObject(h, local, 4, out), "ATTRIBUTE_READ_ONLY")


def test_sensitive_attribute_unavailable_others_filled(tok):
    lib = tok.lib
    h = tok.ready()
    key = _aes(tok, h)
    attrs = ffi.new("CK_ATTRIBUTE[3]")
    value, klass = ffi.new("CK_BYTE[64]"), ffi.new("CK_ULONG *")
    vlen = ffi.new("CK_ULONG *")
    attrs[0].type, attrs[0].pValue, attrs[0].ulValueLen = \
        CKA.CLASS, klass, ffi.sizeof("CK_ULONG")
    attrs[1].type, attrs[1].pValue, attrs[1].ulValueLen = \
        CKA.VALUE, value, 64
    attrs[2].type, attrs[2].pValue, attrs[2].ulValueLen = \
        CKA.VALUE_LEN, vlen, ffi.sizeof("CK_ULONG")
    expect(lib.C_GetAttributeValue(h, key, attrs, 3), "ATTRIBUTE_SENSITIVE")
    assert attrs[1].ulValueLen == CK_UNAVAILABLE_INFORMATION
    assert bytes(value) == bytes(64)
    assert klass[0] == CKO.SECRET_KEY
    assert attrs[0].ulValueLen == ffi.sizeof("CK_ULONG")
    assert vlen[0] == 32


# --- sessions and login --------------------------------------------------

def test_session_states_follow_login_and_logout(tok):
    lib = tok.lib
    h = tok.ready()
    ro = tok.open(rw=False)
    assert tok.session_state(h) == CKS.RW_USER_FUNCTIONS
    assert tok.session_state(ro) == CKS.RO_USER_FUNCTIONS
    expect(lib.C_Login(h, CKU.USER, USER_PIN, len(USER_PIN)),
           "USER_ALREADY_LOGGED_IN")
    expect(lib.C_Logout(h), "OK")
    assert tok.session_state(h) == CKS.RW_PUBLIC_SESSION
    assert tok.session_state(ro) == CKS.RO_PUBLIC_SESSION
    expect(lib.C_Logout(h), "USER_NOT_LOGGED_IN")
    # An SO may not log in while a read-only session exists.
    expect(tok.login(h, CKU.SO, SO_PIN), "SESSION_READ_ONLY_EXISTS")
    expect(lib.C_CloseSession(ro), "OK")
    expect(tok.login(h, CKU.SO, SO_PIN), "OK")
    assert tok.session_state(h) == CKS.RW_SO_FUNCTIONS
    expect(lib.C_Logout(h), "OK")


def test_init_token_with_open_session_is_session_exists(tok):
    lib = tok.lib
    tok.init_token(0, b"first")
    h = tok.open()
    expect(lib.C_InitToken(0, SO_PIN, len(SO_PIN), b"second".ljust(32)),
           "SESSION_EXISTS")
    expect(lib.C_CloseSession(h), "OK")
    expect(lib.C_InitToken(0, SO_PIN, len(SO_PIN), b"second".ljust(32)),
           "OK")


# --- operation lifecycle -------------------------------------------------

def test_failed_verify_ends_the_operation(tok):
    lib = tok.lib
    h = tok.ready()
    pub, _priv = tok.ec_pair(h)
    mech = tok.mechanism(CKM.ECDSA_SHA256)
    expect(lib.C_VerifyInit(h, mech, pub), "OK")
    expect(lib.C_Verify(h, b"data", 4, bytes(64), 64), "SIGNATURE_INVALID")
    expect(lib.C_Verify(h, b"data", 4, bytes(64), 64),
           "OPERATION_NOT_INITIALIZED")


def test_null_length_pointer_ends_sign_operation(tok):
    lib = tok.lib
    h = tok.ready()
    _pub, priv = tok.ec_pair(h)
    mech = tok.mechanism(CKM.ECDSA_SHA256)
    expect(lib.C_SignInit(h, mech, priv), "OK")
    expect(lib.C_SignInit(h, mech, priv), "OPERATION_ACTIVE")
    expect(lib.C_Sign(h, b"data", 4, NULL, NULL), "ARGUMENTS_BAD")
    n = ffi.new("CK_ULONG *")
    expect(lib.C_Sign(h, b"data", 4, NULL, n), "OPERATION_NOT_INITIALIZED")
    expect(lib.C_SignInit(h, mech, priv), "OK")


# --- PIN lockout ---------------------------------------------------------

def test_user_pin_lockout_and_so_unlock(lib, data_env, tmp_path,
                                        monkeypatch):
    config = tmp_path / "craton.toml"
    config.write_text("[pin]\nmax_failures = 3\n")
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(config))
    expect(lib.C_Initialize(NULL), "OK")
    try:
        _lockout(Token(lib))
    finally:
        expect(lib.C_Finalize(NULL), "OK")


def _pin_flags(lib: Any) -> int:
    info = ffi.new("CK_TOKEN_INFO *")
    expect(lib.C_GetTokenInfo(0, info), "OK")
    return int(info.flags) & (CKF.USER_PIN_COUNT_LOW
                              | CKF.USER_PIN_FINAL_TRY
                              | CKF.USER_PIN_LOCKED)


def _lockout(tok: Token) -> None:
    lib = tok.lib
    h = tok.ready()
    expect(lib.C_Logout(h), "OK")
    assert _pin_flags(lib) == 0
    expect(tok.login(h, CKU.USER, b"0000"), "PIN_INCORRECT")
    assert _pin_flags(lib) == CKF.USER_PIN_COUNT_LOW
    expect(tok.login(h, CKU.USER, b"0000"), "PIN_INCORRECT")
    assert _pin_flags(lib) & CKF.USER_PIN_FINAL_TRY
    expect(tok.login(h, CKU.USER, b"0000"), "PIN_INCORRECT")
    assert _pin_flags(lib) & CKF.USER_PIN_LOCKED
    # Locked: even the right PIN is refused.
    expect(tok.login(h, CKU.USER, USER_PIN), "PIN_LOCKED")
    expect(tok.login(h, CKU.SO, SO_PIN), "OK")
    expect(lib.C_InitPIN(h, b"5678", 4), "OK")
    expect(lib.C_Logout(h), "OK")
    assert _pin_flags(lib) == 0
    expect(tok.login(h, CKU.USER, b"5678"), "OK")


# --- forced internal exception (test-only switch) ------------------------

@pytest.mark.parametrize("kind,raised", [
    ("", "RuntimeError: injected fault"),
    # Not an Exception: what a Rust panic in `cryptography` looks like.
    (":base", "InjectedPanic: injected fault")])
def test_injected_exception_is_general_error_and_process_survives(
        libpath, tmp_path, kind, raised):
    code = textwrap.dedent(f"""
        import cffi, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_hostile import cdef_source, name
        ffi = cffi.FFI()
        ffi.cdef(cdef_source())
        lib = ffi.dlopen({str(libpath)!r})
        count = ffi.new("CK_ULONG *")
        print(name(lib.C_Initialize(ffi.NULL)))
        print(name(lib.C_GetSlotInfo(0, ffi.new("CK_SLOT_INFO *"))))
        print(name(lib.C_GetSlotList(0, ffi.NULL, count)))
        print(count[0])
        print(name(lib.C_Finalize(ffi.NULL)))
    """)
    env = {"CRATON_HSM_DATA_DIR": str(tmp_path / "data"),
           "CRATON_HSM_TEST_RAISE": "C_GetSlotInfo" + kind,
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], check=False,
                          capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[0] == "OK"
    assert lines[1] == "GENERAL_ERROR"
    assert lines[2] == "OK" and int(lines[3]) >= 1
    assert lines[4] == "OK"
    assert raised in done.stderr
    # Caught by the guard itself, not cffi's last-resort handler.
    assert "C_GetSlotInfo raised" in done.stderr
    assert "PKCS#11 entry point failed" not in done.stderr
    assert CKR.GENERAL_ERROR == 0x5

"""What the token leaves on disk, through the built libcraton_hsm.so (cffi).

Issue 4: the data dir is 0700 and every file in it 0600 (the -wal and
-shm files included); no PIN, key byte or private data value is on disk
in plaintext, nor as hex or base64; memory mode writes nothing and is
invisible to a second process.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKO, CKU

from .cabi import NULL, SO_PIN, TRUE, Client, expect, ffi, ulong

ROOT = Path(__file__).resolve().parents[2]
USER_PIN_1 = b"first-User-PIN-q7Zk"
USER_PIN_2 = b"second-User-PIN-m3Xv"


def _be(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _forms(secret: bytes) -> list[bytes]:
    """A secret and the encodings a careless writer might store."""
    return [secret, secret.hex().encode(), secret.hex().upper().encode(),
            base64.b64encode(secret), base64.urlsafe_b64encode(secret),
            base64.b64encode(secret).rstrip(b"="), secret[::-1]]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _files(data: Path) -> list[Path]:
    return sorted(p for p in data.rglob("*") if p.is_file())


def _scan(data: Path, secrets: dict[str, bytes]) -> list[str]:
    found = []
    for f in _files(data):
        blob = f.read_bytes()
        for what, s in secrets.items():
            for form in _forms(s):
                if form in blob:
                    found.append(f"{what} in {f.name}")
    return found


def _rsa_import(c: Client, h: int, key: rsa.RSAPrivateKey) -> int:
    n = key.private_numbers()
    rv, obj = c.create(
        h, (CKA.CLASS, ulong(CKO.PRIVATE_KEY)), (CKA.KEY_TYPE, ulong(CKK.RSA)),
        (CKA.TOKEN, TRUE), (CKA.PRIVATE, TRUE), (CKA.SENSITIVE, TRUE),
        (CKA.SIGN, TRUE), (CKA.LABEL, b"rsa"),
        (CKA.MODULUS, _be(n.public_numbers.n)),
        (CKA.PUBLIC_EXPONENT, _be(n.public_numbers.e)),
        (CKA.PRIVATE_EXPONENT, _be(n.d)), (CKA.PRIME_1, _be(n.p)),
        (CKA.PRIME_2, _be(n.q)), (CKA.EXPONENT_1, _be(n.dmp1)),
        (CKA.EXPONENT_2, _be(n.dmq1)), (CKA.COEFFICIENT, _be(n.iqmp)))
    expect(rv, "OK")
    return obj


def test_files_are_private_and_hold_no_plaintext_secret(lib, data_env):
    aes = os.urandom(32)
    hmac = os.urandom(48)
    private_data = b"top secret private data object value " + os.urandom(8)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = key.private_numbers()
    secrets = {
        "so pin": SO_PIN * 1, "user pin 1": USER_PIN_1,
        "user pin 2": USER_PIN_2, "aes": aes, "hmac": hmac,
        "data": private_data, "rsa d": _be(n.d), "rsa p": _be(n.p),
        "rsa q": _be(n.q), "rsa dp": _be(n.dmp1), "rsa dq": _be(n.dmq1),
        "rsa qinv": _be(n.iqmp),
    }
    c = Client(lib)
    expect(lib.C_Initialize(NULL), "OK")
    try:
        c.init_token(0, b"at rest")
        h = c.open()
        expect(c.login(h, CKU.SO, SO_PIN), "OK")
        expect(lib.C_InitPIN(h, USER_PIN_1, len(USER_PIN_1)), "OK")
        expect(lib.C_Logout(h), "OK")
        expect(c.login(h, CKU.USER, USER_PIN_1), "OK")
        expect(lib.C_SetPIN(h, USER_PIN_1, len(USER_PIN_1), USER_PIN_2,
                            len(USER_PIN_2)), "OK")
        rv, k_aes = c.aes_key(h, aes)
        expect(rv, "OK")
        rv, k_hmac = c.hmac_key(h, hmac, sensitive=False)
        expect(rv, "OK")
        expect(c.data(h, private_data, b"private")[0], "OK")
        k_rsa = _rsa_import(c, h, key)
        # Re-sealing on C_SetAttributeValue must not leak either.
        expect(lib.C_SetAttributeValue(h, k_aes, c.template(
            (CKA.LABEL, b"renamed")), 1), "OK")
        # The keys work: they were stored, not just dropped.
        expect(c.encrypt(h, k_aes)[0], "OK")
        expect(c.sign(h, k_hmac, CKM.SHA256_HMAC)[0], "OK")
        expect(c.sign(h, k_rsa, CKM.SHA256_RSA_PKCS)[0], "OK")
        # While open: the WAL and shared-memory files exist, all 0600.
        names = {p.name for p in _files(data_env)}
        assert {"slot-0.sqlite3", "slot-0.sqlite3-wal",
                "slot-0.sqlite3-shm"} <= names
        open_found = _scan(data_env, secrets)
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    assert _mode(data_env) == 0o700
    assert {f.name: _mode(f) for f in _files(data_env)} == \
        {f.name: 0o600 for f in _files(data_env)}
    assert open_found == []
    assert _scan(data_env, secrets) == []
    # The scan can see plaintext: a public data object's value is found.
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.open()
        expect(c.data(h, private_data, b"public", private=False)[0], "OK")
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    assert "data in slot-0.sqlite3" in _scan(data_env, {"data": private_data})


def test_wal_files_are_0600_while_open(lib, data_env):
    expect(lib.C_Initialize(NULL), "OK")
    try:
        c = Client(lib)
        h = c.ready()
        expect(c.data(h, b"v", b"x")[0], "OK")
        for f in _files(data_env):
            assert _mode(f) == 0o600, f
        assert _mode(data_env) == 0o700
    finally:
        expect(lib.C_Finalize(NULL), "OK")


SECOND_PROCESS = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from abi.test_hostile import ffi, name
    lib = ffi.dlopen({lib!r})
    info = ffi.new("CK_TOKEN_INFO *")
    print(name(lib.C_Initialize(ffi.NULL)))
    print(name(lib.C_GetTokenInfo(0, info)), int(info.flags))
    print(name(lib.C_Finalize(ffi.NULL)))
""")


def test_memory_mode_writes_nothing_and_is_private_to_the_process(
        lib, libpath, tmp_path, monkeypatch):
    data = tmp_path / "data"
    cfg = tmp_path / "memory.toml"
    cfg.write_text(f'[storage]\nmode = "memory"\npath = "{data}"\n')
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(cfg))
    monkeypatch.delenv("CRATON_HSM_DATA_DIR", raising=False)
    c = Client(lib)
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.ready()
        rv, k = c.aes_key(h, bytes(32))
        expect(rv, "OK")
        expect(c.data(h, b"in memory", b"m")[0], "OK")
        expect(c.encrypt(h, k)[0], "OK")
        assert c.count(h) == 2
        info = ffi.new("CK_TOKEN_INFO *")
        expect(lib.C_GetTokenInfo(0, info), "OK")
        assert info.flags & CKF.TOKEN_INITIALIZED
        # A second process, same config, while this one holds the token.
        env = {**os.environ, "CRATON_HSM_CONFIG": str(cfg)}
        done = subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS.format(
                tests=str(ROOT / "tests"), lib=str(libpath))],
            capture_output=True, text=True, env=env, timeout=120,
            check=False, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.split("\n")
        assert lines[0] == "OK"
        rv_name, flags = lines[1].split()
        assert rv_name == "OK"
        assert not int(flags) & CKF.TOKEN_INITIALIZED
        assert lines[2] == "OK"
        assert not data.exists()
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    assert not data.exists()
    # Re-initialising the module starts from nothing again.
    expect(lib.C_Initialize(NULL), "OK")
    try:
        info = ffi.new("CK_TOKEN_INFO *")
        expect(lib.C_GetTokenInfo(0, info), "OK")
        assert not info.flags & CKF.TOKEN_INITIALIZED
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    assert not data.exists()

"""The message-based functions of PKCS#11 v3.0 (sections 5.11-5.15)
through the CK_FUNCTION_LIST_3_0 of C_GetInterface, with AES-GCM
(CK_GCM_MESSAGE_PARAMS and each IV generator), AES-CCM, ChaCha20-
Poly1305 and HMAC; every ciphertext and tag is checked independently
with pyca/cryptography."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import (
    AESCCM,
    AESGCM,
    ChaCha20Poly1305,
)

from craton_hsm._generated_ck import CKA, CKF, CKG, CKK, CKM, CKO
from tests.abi.test_hostile import FALSE, TRUE, Token, expect, ulong
from tests.spec.harness import NULL, ffi

KEY = bytes(range(32))
AAD = b"header"
MSG = b"attack at dawn, twice over" * 3


def secret(tok: Token, h: int, key_type: int, value: bytes,
           *caps: int) -> int:
    pairs = [(CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.KEY_TYPE,
             ulong(key_type)), (CKA.VALUE, value)]
    pairs += [(c, TRUE) for c in caps] + [(CKA.PRIVATE, FALSE)]
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, tok.template(*pairs), len(pairs),
                                  out), "OK")
    return int(out[0])


class Gcm:
    """One CK_GCM_MESSAGE_PARAMS with its IV and tag buffers."""

    def __init__(self, iv: bytes, generator: int, fixed_bits: int = 0,
                 tag: bytes = bytes(16)) -> None:
        self.iv = ffi.new("CK_BYTE[]", iv)
        self.tag = ffi.new("CK_BYTE[]", tag)
        self.p = ffi.new("CK_GCM_MESSAGE_PARAMS *", {
            "pIv": self.iv, "ulIvLen": len(iv), "ulIvFixedBits": fixed_bits,
            "ivGenerator": generator, "pTag": self.tag, "ulTagBits": 128})
        self.n = ffi.sizeof("CK_GCM_MESSAGE_PARAMS")

    def iv_bytes(self) -> bytes:
        return bytes(ffi.buffer(self.iv, int(self.p.ulIvLen)))

    def tag_bytes(self) -> bytes:
        return bytes(ffi.buffer(self.tag, 16))


def mech(m: int) -> Any:
    return ffi.new("CK_MECHANISM *", {"mechanism": m})


def encrypt(tok: Token, h: int, g: Any, data: bytes,
            aad: bytes = AAD) -> bytes:
    out = ffi.new("CK_BYTE[]", max(1, len(data)))
    n = ffi.new("CK_ULONG *", len(data))
    expect(tok.lib.C_EncryptMessage(h, g.p, g.n, aad, len(aad), data,
                                    len(data), out, n), "OK")
    return bytes(ffi.buffer(out, int(n[0])))


def decrypt(tok: Token, h: int, g: Any, data: bytes,
            aad: bytes = AAD) -> tuple[str, bytes]:
    out = ffi.new("CK_BYTE[]", max(1, len(data)))
    n = ffi.new("CK_ULONG *", len(data))
    rv = tok.lib.C_DecryptMessage(h, g.p, g.n, aad, len(aad), data,
                                  len(data), out, n)
    from tests.abi.test_hostile import name
    return name(rv), bytes(ffi.buffer(out, int(n[0])))


@pytest.fixture
def gcm_key(tok: Token) -> tuple[int, int]:
    tok.init_token()
    h = tok.open()
    return h, secret(tok, h, CKK.AES, KEY, CKA.ENCRYPT, CKA.DECRYPT)


def test_mechanism_info_advertises_message_flags(tok: Token) -> None:
    info = ffi.new("CK_MECHANISM_INFO *")
    for m, flags in ((CKM.AES_GCM, CKF.MESSAGE_ENCRYPT | CKF.MESSAGE_DECRYPT),
                     (CKM.AES_CCM, CKF.MESSAGE_ENCRYPT | CKF.MESSAGE_DECRYPT),
                     (CKM.CHACHA20_POLY1305,
                      CKF.MESSAGE_ENCRYPT | CKF.MESSAGE_DECRYPT),
                     (CKM.SHA256_HMAC, CKF.MESSAGE_SIGN | CKF.MESSAGE_VERIFY),
                     (CKM.AES_CMAC, CKF.MESSAGE_SIGN | CKF.MESSAGE_VERIFY)):
        expect(tok.lib.C_GetMechanismInfo(0, m, info), "OK")
        assert int(info.flags) & flags == flags, hex(m)
    expect(tok.lib.C_GetMechanismInfo(0, CKM.AES_CBC, info), "OK")
    assert not int(info.flags) & CKF.MESSAGE_ENCRYPT


def test_gcm_counter_generator_never_repeats(tok: Token, gcm_key) -> None:
    h, key = gcm_key
    lib = tok.lib
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_GCM), key), "OK")
    fixed = bytes.fromhex("a1b2c3d4") + bytes(8)
    seen = []
    for i in range(3):
        g = Gcm(fixed, CKG.GENERATE_COUNTER, fixed_bits=32)
        if i == 1:
            # A length query generates no IV and consumes no counter.
            n = ffi.new("CK_ULONG *")
            expect(lib.C_EncryptMessage(h, g.p, g.n, AAD, len(AAD), MSG,
                                        len(MSG), NULL, n), "OK")
            assert n[0] == len(MSG)
            assert g.iv_bytes() == fixed
        ct = encrypt(tok, h, g, MSG)
        iv = g.iv_bytes()
        assert iv[:4] == fixed[:4]
        assert int.from_bytes(iv[4:], "big") == i
        assert AESGCM(KEY).decrypt(iv, ct + g.tag_bytes(), AAD) == MSG
        seen.append(iv)
    assert len(set(seen)) == 3
    expect(lib.C_MessageEncryptFinal(h), "OK")
    # A new operation with the same key in this session keeps counting.
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_GCM), key), "OK")
    g = Gcm(fixed, CKG.GENERATE_COUNTER, fixed_bits=32)
    encrypt(tok, h, g, MSG)
    assert int.from_bytes(g.iv_bytes()[4:], "big") == 3
    expect(lib.C_MessageEncryptFinal(h), "OK")
    expect(lib.C_MessageEncryptFinal(h), "OPERATION_NOT_INITIALIZED")


@pytest.mark.parametrize("generator", [CKG.GENERATE_RANDOM, CKG.GENERATE])
def test_gcm_random_generators_keep_fixed_bits(tok: Token, gcm_key,
                                               generator: int) -> None:
    h, key = gcm_key
    expect(tok.lib.C_MessageEncryptInit(h, mech(CKM.AES_GCM), key), "OK")
    base = bytes.fromhex("ff") * 12
    ivs = set()
    for _ in range(4):
        g = Gcm(base, generator, fixed_bits=12)
        ct = encrypt(tok, h, g, MSG)
        iv = g.iv_bytes()
        assert iv[0] == 0xFF and iv[1] >> 4 == 0xF
        assert AESGCM(KEY).decrypt(iv, ct + g.tag_bytes(), AAD) == MSG
        ivs.add(iv)
    assert len(ivs) == 4


def test_gcm_no_generate_and_decrypt_round_trip(tok: Token, gcm_key) -> None:
    h, key = gcm_key
    lib = tok.lib
    iv = bytes(range(12))
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_GCM), key), "OK")
    g = Gcm(iv, CKG.NO_GENERATE)
    ct = encrypt(tok, h, g, MSG)
    assert g.iv_bytes() == iv
    assert ct + g.tag_bytes() == AESGCM(KEY).encrypt(iv, MSG, AAD)
    expect(lib.C_MessageDecryptInit(h, mech(CKM.AES_GCM), key), "OK")
    bad = Gcm(iv, CKG.NO_GENERATE, tag=bytes(16))
    assert decrypt(tok, h, bad, ct)[0] == "ENCRYPTED_DATA_INVALID"
    # A failed message ends that message only, not the operation.
    good = Gcm(iv, CKG.NO_GENERATE, tag=g.tag_bytes())
    assert decrypt(tok, h, good, ct) == ("OK", MSG)
    expect(lib.C_MessageDecryptFinal(h), "OK")


def test_gcm_multipart_message(tok: Token, gcm_key) -> None:
    h, key = gcm_key
    lib = tok.lib
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_GCM), key), "OK")
    g = Gcm(bytes(12), CKG.GENERATE_RANDOM)
    expect(lib.C_EncryptMessageBegin(h, g.p, g.n, AAD, len(AAD)), "OK")
    iv = g.iv_bytes()
    assert iv != bytes(12)
    # A whole message while a multi-part one is open: OPERATION_ACTIVE.
    n = ffi.new("CK_ULONG *", 64)
    out = ffi.new("CK_BYTE[]", 256)
    expect(lib.C_EncryptMessage(h, g.p, g.n, AAD, len(AAD), b"x", 1, out,
                                n), "OPERATION_ACTIVE")
    expect(lib.C_EncryptMessageBegin(h, g.p, g.n, AAD, len(AAD)),
           "OPERATION_ACTIVE")
    assert g.iv_bytes() == iv
    n[0] = 256
    expect(lib.C_EncryptMessageNext(h, g.p, g.n, MSG[:10], 10, out, n, 0),
           "OK")
    assert n[0] == 0
    n[0] = 5
    expect(lib.C_EncryptMessageNext(h, g.p, g.n, MSG[10:], len(MSG) - 10,
                                    out, n, CKF.END_OF_MESSAGE),
           "BUFFER_TOO_SMALL")
    assert n[0] == len(MSG)
    n[0] = 256
    expect(lib.C_EncryptMessageNext(h, g.p, g.n, MSG[10:], len(MSG) - 10,
                                    out, n, CKF.END_OF_MESSAGE), "OK")
    ct = bytes(ffi.buffer(out, int(n[0])))
    assert ct + g.tag_bytes() == AESGCM(KEY).encrypt(iv, MSG, AAD)
    expect(lib.C_EncryptMessageNext(h, g.p, g.n, b"", 0, out, n,
                                    CKF.END_OF_MESSAGE),
           "OPERATION_NOT_INITIALIZED")
    expect(lib.C_MessageEncryptFinal(h), "OK")
    # Multi-part decryption releases everything at the end.
    expect(lib.C_MessageDecryptInit(h, mech(CKM.AES_GCM), key), "OK")
    d = Gcm(iv, CKG.NO_GENERATE, tag=g.tag_bytes())
    expect(lib.C_DecryptMessageBegin(h, d.p, d.n, AAD, len(AAD)), "OK")
    n[0] = 256
    expect(lib.C_DecryptMessageNext(h, d.p, d.n, ct[:7], 7, out, n, 0),
           "OK")
    assert n[0] == 0
    n[0] = 256
    expect(lib.C_DecryptMessageNext(h, d.p, d.n, ct[7:], len(ct) - 7, out,
                                    n, CKF.END_OF_MESSAGE), "OK")
    assert bytes(ffi.buffer(out, int(n[0]))) == MSG
    expect(lib.C_MessageDecryptFinal(h), "OK")


def test_message_init_refusals(tok: Token, gcm_key) -> None:
    h, key = gcm_key
    lib = tok.lib
    g = Gcm(bytes(12), CKG.NO_GENERATE)
    n = ffi.new("CK_ULONG *")
    expect(lib.C_EncryptMessage(h, g.p, g.n, NULL, 0, MSG, len(MSG), NULL,
                                n), "OPERATION_NOT_INITIALIZED")
    # The Init mechanism of a message-based AEAD carries no parameter.
    legacy = tok.mechanism(CKM.AES_GCM, bytes(ffi.sizeof("CK_GCM_PARAMS")))
    expect(lib.C_MessageEncryptInit(h, legacy, key),
           "MECHANISM_PARAM_INVALID")
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_CBC), key),
           "MECHANISM_INVALID")
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_GCM), 9999),
           "KEY_HANDLE_INVALID")
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_GCM), key), "OK")
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_GCM), key),
           "OPERATION_ACTIVE")
    bad = Gcm(bytes(12), 7)
    expect(lib.C_EncryptMessage(h, bad.p, bad.n, NULL, 0, MSG, len(MSG),
                                NULL, n), "MECHANISM_PARAM_INVALID")
    expect(lib.C_EncryptMessage(h, g.p, g.n - 1, NULL, 0, MSG, len(MSG),
                                NULL, n), "MECHANISM_PARAM_INVALID")
    whole = Gcm(bytes(12), CKG.GENERATE_COUNTER, fixed_bits=96)
    expect(lib.C_EncryptMessage(h, whole.p, whole.n, NULL, 0, MSG, len(MSG),
                                NULL, n), "MECHANISM_PARAM_INVALID")
    expect(lib.C_EncryptMessageNext(h, g.p, g.n, MSG, len(MSG), NULL, n,
                                    0x80), "ARGUMENTS_BAD")
    # Errors in a message leave the operation active.
    expect(lib.C_MessageEncryptFinal(h), "OK")


def test_ccm_and_chacha_messages(tok: Token) -> None:
    tok.init_token()
    h = tok.open()
    lib = tok.lib
    aes = secret(tok, h, CKK.AES, KEY[:16], CKA.ENCRYPT, CKA.DECRYPT)
    nonce = ffi.new("CK_BYTE[]", bytes(13))
    mac = ffi.new("CK_BYTE[]", 12)
    p = ffi.new("CK_CCM_MESSAGE_PARAMS *", {
        "ulDataLen": len(MSG), "pNonce": nonce, "ulNonceLen": 13,
        "ulNonceFixedBits": 40, "nonceGenerator": CKG.GENERATE_COUNTER,
        "pMAC": mac, "ulMACLen": 12})
    ccm = type("P", (), {"p": p, "n": ffi.sizeof("CK_CCM_MESSAGE_PARAMS")})
    expect(lib.C_MessageEncryptInit(h, mech(CKM.AES_CCM), aes), "OK")
    ct = encrypt(tok, h, ccm, MSG)
    iv = bytes(ffi.buffer(nonce, 13))
    tag = bytes(ffi.buffer(mac, 12))
    assert AESCCM(KEY[:16], 12).decrypt(iv, ct + tag, AAD) == MSG
    n = ffi.new("CK_ULONG *", 64)
    out = ffi.new("CK_BYTE[]", 64)
    expect(lib.C_EncryptMessage(h, p, ccm.n, AAD, len(AAD), b"short", 5,
                                out, n), "DATA_LEN_RANGE")
    expect(lib.C_MessageEncryptFinal(h), "OK")

    cc = secret(tok, h, CKK.CHACHA20, KEY, CKA.ENCRYPT, CKA.DECRYPT)
    cnonce = ffi.new("CK_BYTE[]", bytes(range(12)))
    ctag = ffi.new("CK_BYTE[]", 16)
    cp = ffi.new("CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS *", {
        "pNonce": cnonce, "ulNonceLen": 12, "pTag": ctag})
    chacha = type("P", (), {
        "p": cp, "n": ffi.sizeof("CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS")})
    expect(lib.C_MessageEncryptInit(h, mech(CKM.CHACHA20_POLY1305), cc),
           "OK")
    ct = encrypt(tok, h, chacha, MSG)
    assert ct + bytes(ffi.buffer(ctag, 16)) == \
        ChaCha20Poly1305(KEY).encrypt(bytes(range(12)), MSG, AAD)
    expect(lib.C_MessageDecryptInit(h, mech(CKM.CHACHA20_POLY1305), cc),
           "OK")
    assert decrypt(tok, h, chacha, ct) == ("OK", MSG)


def test_hmac_message_sign_and_verify(tok: Token) -> None:
    tok.init_token()
    h = tok.open()
    lib = tok.lib
    key = secret(tok, h, CKK.GENERIC_SECRET, KEY, CKA.SIGN, CKA.VERIFY)
    ref = hmac.HMAC(KEY, hashes.SHA256())
    ref.update(MSG)
    want = ref.finalize()
    m = mech(CKM.SHA256_HMAC)
    expect(lib.C_MessageSignInit(h, m, key), "OK")
    n = ffi.new("CK_ULONG *")
    expect(lib.C_SignMessage(h, NULL, 0, MSG, len(MSG), NULL, n), "OK")
    assert n[0] == 32
    sig = ffi.new("CK_BYTE[]", 32)
    expect(lib.C_SignMessage(h, NULL, 0, MSG, len(MSG), sig, n), "OK")
    assert bytes(sig) == want
    expect(lib.C_SignMessageBegin(h, NULL, 0), "OK")
    expect(lib.C_SignMessageNext(h, NULL, 0, MSG[:5], 5, NULL, NULL), "OK")
    n[0] = 32
    expect(lib.C_SignMessageNext(h, NULL, 0, MSG[5:], len(MSG) - 5, sig, n),
           "OK")
    assert bytes(sig) == want
    expect(lib.C_SignMessage(h, b"x", 1, MSG, len(MSG), sig, n),
           "MECHANISM_PARAM_INVALID")
    expect(lib.C_MessageSignFinal(h), "OK")
    expect(lib.C_MessageVerifyInit(h, m, key), "OK")
    expect(lib.C_VerifyMessage(h, NULL, 0, MSG, len(MSG), want, 32), "OK")
    expect(lib.C_VerifyMessage(h, NULL, 0, MSG, len(MSG), bytes(32), 32),
           "SIGNATURE_INVALID")
    expect(lib.C_VerifyMessageBegin(h, NULL, 0), "OK")
    expect(lib.C_VerifyMessageNext(h, NULL, 0, MSG[:9], 9, NULL, 0), "OK")
    expect(lib.C_VerifyMessageNext(h, NULL, 0, MSG[9:], len(MSG) - 9,
                                   want, 32), "OK")
    expect(lib.C_MessageVerifyFinal(h), "OK")
    expect(lib.C_MessageSignInit(h, mech(CKM.ECDSA), key),
           "MECHANISM_INVALID")


def test_approved_mode_refuses_caller_gcm_ivs(mod, data_env: Path,
                                              tmp_path: Path,
                                              monkeypatch) -> None:
    cfg = tmp_path / "approved.toml"
    cfg.write_text("[algorithms]\nfips_approved_only = true\n")
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(cfg))
    expect(mod.C_Initialize(NULL), "OK")
    try:
        tok = Token(mod)
        tok.init_token()
        h = tok.open()
        key = secret(tok, h, CKK.AES, KEY, CKA.ENCRYPT, CKA.DECRYPT)
        expect(mod.C_MessageEncryptInit(h, mech(CKM.AES_GCM), key), "OK")
        g = Gcm(bytes(12), CKG.NO_GENERATE)
        out = ffi.new("CK_BYTE[]", len(MSG))
        n = ffi.new("CK_ULONG *", len(MSG))
        expect(mod.C_EncryptMessage(h, g.p, g.n, AAD, len(AAD), MSG,
                                    len(MSG), out, n),
               "MECHANISM_PARAM_INVALID")
        g = Gcm(bytes(12), CKG.GENERATE_RANDOM)
        ct = encrypt(tok, h, g, MSG)
        assert AESGCM(KEY).decrypt(g.iv_bytes(), ct + g.tag_bytes(),
                                   AAD) == MSG
        # Decryption with the IV the encryptor chose is of course allowed.
        expect(mod.C_MessageDecryptInit(h, mech(CKM.AES_GCM), key), "OK")
        d = Gcm(g.iv_bytes(), CKG.NO_GENERATE, tag=g.tag_bytes())
        assert decrypt(tok, h, d, ct) == ("OK", MSG)
    finally:
        expect(mod.C_Finalize(NULL), "OK")

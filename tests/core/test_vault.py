"""Master-key vault and sealed secrets (seed 004 "Data at Rest")."""

from __future__ import annotations

from typing import Any

import pytest

from craton_hsm import secmem
from craton_hsm._generated_ck import CKA, CKR
from craton_hsm.backend import storage_crypto
from craton_hsm.core import vault
from craton_hsm.core.vault import VaultError
from craton_hsm.errors import DeviceError, rv_of
from craton_hsm.store.codec import encode_attrs

KEK = bytes(range(32))
OTHER = bytes(range(1, 33))
SECRETS: dict[int, Any] = {CKA.VALUE: b"\x11" * 32, CKA.VALUE_LEN: 32}


def _new_mk() -> memoryview:
    """A fresh master key's arena view (what the token passes around)."""
    return vault.new_master_key().view


def _opened(found: dict[int, Any]) -> dict[int, Any]:
    """open_sealed's result with arena secrets read out as bytes."""
    return {t: bytes(v.view) if isinstance(v, secmem.Secret) else v
            for t, v in found.items()}


def _flip(blob: bytes, i: int) -> bytes:
    return blob[:i] + bytes([blob[i] ^ 0x80]) + blob[i + 1:]


def test_master_key_round_trip() -> None:
    secret = vault.new_master_key()
    mk = secret.view
    assert isinstance(secret, secmem.Secret) and len(mk) == 32
    blob = vault.wrap_master_key(mk, KEK, "SERIAL0000000001", "so")
    assert blob[0] == vault.FORMAT_VERSION
    assert bytes(mk) not in blob
    out = vault.unwrap_master_key(blob, KEK, "SERIAL0000000001", "so")
    assert out.view == mk and isinstance(out, secmem.Secret)


def test_nonce_fresh_per_wrap() -> None:
    mk = _new_mk()
    a = vault.wrap_master_key(mk, KEK, "S", "so")
    b = vault.wrap_master_key(mk, KEK, "S", "so")
    assert a != b


def test_wrong_kek_raises() -> None:
    blob = vault.wrap_master_key(_new_mk(), KEK, "S", "user")
    with pytest.raises(VaultError):
        vault.unwrap_master_key(blob, OTHER, "S", "user")


@pytest.mark.parametrize(("serial", "role"), [("T", "so"), ("S", "user")])
def test_wrapped_key_bound_to_serial_and_role(serial: str,
                                              role: str) -> None:
    blob = vault.wrap_master_key(_new_mk(), KEK, "S", "so")
    with pytest.raises(VaultError):
        vault.unwrap_master_key(blob, KEK, serial, role)


def test_vault_error_is_device_error() -> None:
    assert issubclass(VaultError, DeviceError)
    assert rv_of(VaultError("x")) == CKR.DEVICE_ERROR


def test_seal_round_trip() -> None:
    mk = _new_mk()
    blob = vault.seal(mk, "S", "uid-1", SECRETS)
    assert b"\x11" * 32 not in blob
    assert _opened(vault.open_sealed(mk, "S", "uid-1", blob)) == SECRETS


def test_seal_swap_between_objects_detected() -> None:
    mk = _new_mk()
    blob = vault.seal(mk, "S", "uid-1", SECRETS)
    with pytest.raises(VaultError, match="uid-2"):
        vault.open_sealed(mk, "S", "uid-2", blob)


def test_seal_swap_between_tokens_detected() -> None:
    mk = _new_mk()
    blob = vault.seal(mk, "S", "uid-1", SECRETS)
    with pytest.raises(VaultError, match="uid-1"):
        vault.open_sealed(mk, "T", "uid-1", blob)


def test_seal_wrong_master_key() -> None:
    blob = vault.seal(_new_mk(), "S", "u", SECRETS)
    with pytest.raises(VaultError):
        vault.open_sealed(_new_mk(), "S", "u", blob)


@pytest.mark.parametrize("cut", [0, 1, 12, 28, -1])
def test_truncation_detected(cut: int) -> None:
    mk = _new_mk()
    blob = vault.seal(mk, "S", "u", SECRETS)
    with pytest.raises(VaultError, match="object u"):
        vault.open_sealed(mk, "S", "u", blob[:cut])


def test_every_flipped_byte_detected() -> None:
    mk = _new_mk()
    blob = vault.seal(mk, "S", "u", SECRETS)
    for i in range(len(blob)):
        with pytest.raises(VaultError):
            vault.open_sealed(mk, "S", "u", _flip(blob, i))


def test_error_message_has_no_secret() -> None:
    mk = _new_mk()
    blob = vault.seal(mk, "S", "u", SECRETS)
    with pytest.raises(VaultError) as info:
        vault.open_sealed(mk, "S", "u", _flip(blob, 20))
    assert mk.hex() not in str(info.value)
    assert (b"\x11" * 32).hex() not in str(info.value)


def test_wipe_zeroes_in_place() -> None:
    mk = bytearray(b"\x42" * 32)
    view = mk
    vault.wipe(mk)
    assert view == bytearray(32)


def test_freeing_the_master_key_zeroes_its_slice() -> None:
    mk = vault.new_master_key()
    raw = mk.writable()
    assert bytes(raw) != bytes(32)
    mk.free()
    assert bytes(raw) == bytes(32)


def test_bad_role_and_mk_length_refused() -> None:
    with pytest.raises(ValueError):
        vault.wrap_master_key(_new_mk(), KEK, "S", "admin")
    with pytest.raises(ValueError):
        vault.wrap_master_key(b"short", KEK, "S", "so")


def test_sealed_object_is_bound_to_its_public_attributes():
    # Editing a stored public attribute (e.g. CKA_SENSITIVE off) must make
    # the secrets unopenable, not extractable.
    mk = _new_mk()
    public = {0x103: True, 0x162: False, 0x3: b"label"}
    blob = vault.seal(mk, "S", "u", SECRETS, public)
    assert _opened(vault.open_sealed(mk, "S", "u", blob,
                                     dict(public))) == SECRETS
    with pytest.raises(vault.VaultError, match="failed authentication"):
        vault.open_sealed(mk, "S", "u", blob, {**public, 0x103: False})
    with pytest.raises(vault.VaultError, match="failed authentication"):
        vault.open_sealed(mk, "S", "u", blob, {})


# A private key's sealed secrets as the core holds them: views of arena
# slices (dispatch/object.store_new), beside a non-secret int.
def _rsa_secrets() -> tuple[dict[int, Any], list[secmem.Secret]]:
    held = [secmem.secret(bytes([i]) * n) for i, n in
            ((0x21, 256), (0x22, 128), (0x23, 128), (0x24, 128),
             (0x25, 128), (0x26, 128))]
    types = (CKA.PRIVATE_EXPONENT, CKA.PRIME_1, CKA.PRIME_2,
             CKA.EXPONENT_1, CKA.EXPONENT_2, CKA.COEFFICIENT)
    secrets: dict[int, Any] = {t: s.view for t, s in zip(types, held)}
    secrets[CKA.VALUE_LEN] = 0
    return secrets, held


def test_seal_round_trip_from_arena_views() -> None:
    mk = _new_mk()
    secrets, held = _rsa_secrets()
    want = {t: bytes(v) if isinstance(v, memoryview) else v
            for t, v in secrets.items()}
    blob = vault.seal(mk, "S", "u", secrets, {CKA.TOKEN: True})
    for s in held:
        s.free()
    found = vault.open_sealed(mk, "S", "u", blob, {CKA.TOKEN: True})
    assert _opened(found) == want


def test_sealed_plaintext_is_the_codec_record() -> None:
    """The stored format did not change: what GCM protects is exactly
    encode_attrs of the secrets, so tokens written before still open."""
    mk = _new_mk()
    secrets, _ = _rsa_secrets()
    public = {CKA.TOKEN: True, CKA.LABEL: b"k"}
    blob = vault.seal(mk, "S", "u", secrets, public)
    nonce, data = blob[1:13], blob[13:]
    plain = storage_crypto.gcm_decrypt(
        mk, nonce, data, vault._object_aad("S", "u", public))
    assert plain == encode_attrs(secrets)


def test_seal_encrypts_from_an_arena_slice_it_wipes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The record GCM reads is one arena slice, wiped when seal ends,
    also when encryption fails (docs/memory.md)."""
    made: list[secmem.Secret] = []
    raw: list[memoryview] = []
    seen: list[bytes] = []
    real_alloc = secmem.alloc

    def alloc(n: int) -> secmem.Secret:
        made.append(real_alloc(n))
        raw.append(made[-1].writable())
        return made[-1]

    def failing(key: Any, nonce: bytes, plaintext: Any,
                aad: bytes) -> bytes:
        assert plaintext is made[-1].view
        seen.append(bytes(plaintext))
        raise RuntimeError("backend failed")

    monkeypatch.setattr(secmem, "alloc", alloc)
    secrets, _ = _rsa_secrets()
    mk = _new_mk()
    vault.seal(mk, "S", "u", secrets)
    monkeypatch.setattr(storage_crypto, "gcm_encrypt", failing)
    with pytest.raises(RuntimeError):
        vault.seal(mk, "S", "u", secrets)
    assert len(made) == 2
    assert seen == [encode_attrs(secrets)]
    for record, secret in zip(raw, made):
        assert bytes(record) == bytes(len(record))
        with pytest.raises(ValueError):
            len(secret.view)

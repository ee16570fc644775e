"""PIN records (seed 004 "Authentication"): PBKDF2 verifier and KEK."""

from __future__ import annotations

import dataclasses

import pytest

from craton_hsm.core.pins import (
    KDF_PBKDF2_SHA256,
    PinRecord,
    check_pin,
    make_pin_record,
)

ITER = 1000   # small for speed; config.load_config refuses < 600,000


def test_correct_pin_returns_the_same_kek() -> None:
    record, kek = make_pin_record(b"1234", ITER)
    assert record.kdf == KDF_PBKDF2_SHA256
    assert record.iterations == ITER
    assert len(record.salt) == 32 and len(record.verifier) == 32
    assert len(kek) == 32
    again = check_pin(b"1234", record)
    assert again is not None and again.view == kek.view


def test_kek_differs_from_verifier() -> None:
    record, kek = make_pin_record(b"1234", ITER)
    assert kek.view != record.verifier


def test_wrong_pin_returns_none() -> None:
    record, _ = make_pin_record(b"1234", ITER)
    assert check_pin(b"1235", record) is None
    assert check_pin(b"", record) is None


def test_tampered_verifier_rejected() -> None:
    record, _ = make_pin_record(b"1234", ITER)
    flipped = bytes([record.verifier[0] ^ 1]) + record.verifier[1:]
    bad = dataclasses.replace(record, verifier=flipped)
    assert check_pin(b"1234", bad) is None


def test_tampered_salt_or_iterations_rejected() -> None:
    record, _ = make_pin_record(b"1234", ITER)
    assert check_pin(b"1234", dataclasses.replace(
        record, salt=bytes(32))) is None
    assert check_pin(b"1234", dataclasses.replace(
        record, iterations=ITER + 1)) is None


def test_salt_is_fresh_per_record() -> None:
    a, ka = make_pin_record(b"1234", ITER)
    b, kb = make_pin_record(b"1234", ITER)
    assert a.salt != b.salt and a.verifier != b.verifier
    assert ka.view != kb.view


def test_record_keeps_its_own_iteration_count() -> None:
    # A config change must not break an old PIN: the count is stored.
    record, kek = make_pin_record(b"pin-old", 1500)
    again = check_pin(b"pin-old", record)
    assert again is not None and again.view == kek.view


def test_unknown_kdf_refused() -> None:
    record, _ = make_pin_record(b"1234", ITER)
    with pytest.raises(ValueError):
        check_pin(b"1234", dataclasses.replace(record, kdf="md5"))


def test_repr_hides_salt_and_verifier() -> None:
    record, _ = make_pin_record(b"1234", ITER)
    text = repr(record)
    assert record.verifier.hex() not in text
    assert record.salt.hex() not in text
    assert "verifier" not in text and "salt" not in text


def test_kek_lives_in_the_arena_and_free_wipes_it() -> None:
    _, kek = make_pin_record(b"1234", ITER)
    assert repr(kek) == "<Secret 32 bytes>"
    raw = kek.writable()
    kek.free()
    assert bytes(raw) == bytes(32)
    with pytest.raises(ValueError):
        bytes(kek.view)         # the released view refuses to be read


def test_record_is_frozen() -> None:
    record, _ = make_pin_record(b"1234", ITER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.iterations = 1  # type: ignore[misc]
    assert isinstance(record, PinRecord)

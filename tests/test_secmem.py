"""The key-material allocator (craton_hsm/secmem.py) over its pure-Python
arena; the mlocked C arena is tested through the .so in tests/memory."""

from __future__ import annotations

import logging

import pytest

from craton_hsm import secmem


def test_free_wipes_the_slice_and_releases_the_view() -> None:
    arena = secmem.python_arena(1 << 16)
    s = arena.alloc(32)
    s.writable()[:] = b"\x5a" * 32
    assert s.view == b"\x5a" * 32 and repr(s) == "<Secret 32 bytes>"
    raw = s.writable()
    s.free()
    assert bytes(raw) == bytes(32)
    with pytest.raises(ValueError):
        bytes(s.view)
    s.free()                      # idempotent: no double entry
    a, b = arena.alloc(32), arena.alloc(32)
    assert a.writable().obj is b.writable().obj    # both in the arena
    assert arena.report().used == 64               # one slice reused


def test_size_classes_round_up_and_reuse_fifo() -> None:
    arena = secmem.python_arena(1 << 16)
    first, second = arena.alloc(17), arena.alloc(20)
    assert len(first) == 17 and arena.report().used == 64   # 2 x 32
    first.free()
    second.free()
    again = arena.alloc(32)
    # The slice freed first comes back first (stale readers see zeros
    # for as long as possible).
    again.writable()[:] = b"\x01" * 32
    assert bytes(arena.mem[0:32]) == b"\x01" * 32


def test_full_arena_overflows_to_the_heap_with_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    arena = secmem.python_arena(64)
    arena.alloc(64)
    with caplog.at_level(logging.WARNING, logger="craton_hsm"):
        spill = arena.alloc(16)
        arena.alloc(1 << 17)      # beyond the largest class
    assert [r.getMessage() for r in caplog.records if "arena full" in
            r.getMessage()] != [] and len(caplog.records) == 1
    spill.writable()[:] = b"\xff" * 16
    raw = spill.writable()
    spill.free()
    assert arena.report().overflow == 2
    assert bytes(raw) == bytes(16)


def test_heap_secret_beyond_the_largest_class_is_wiped_on_free() -> None:
    """A heap secret larger than 64 KiB (a sealed record of a private
    data object with a 64 KiB value) is wiped whole, not refused with a
    BufferError for resizing its exported bytearray."""
    arena = secmem.python_arena(1 << 16)
    n = (1 << secmem.MAX_CLASS_SHIFT) + 100
    big = arena.alloc(n)
    big.writable()[:] = b"\xa5" * n
    raw = big.writable()
    big.free()
    assert len(raw) == n and bytes(raw) == bytes(n)
    with pytest.raises(ValueError):
        bytes(big.view)


def test_wipe_all_zeroes_everything_and_forgets_old_slices() -> None:
    arena = secmem.python_arena(1 << 12)
    old = arena.alloc(32)
    old.writable()[:] = b"\x77" * 32
    arena.wipe_all()
    assert bytes(arena.mem) == bytes(len(arena.mem))
    fresh = arena.alloc(32)
    fresh.writable()[:] = b"\x66" * 32
    old.free()                    # from before wipe_all: must not wipe
    assert fresh.view == b"\x66" * 32


def test_secret_copies_into_the_arena() -> None:
    s = secmem.secret(bytearray(b"key bytes"))
    assert s.view == b"key bytes" and s.view.readonly
    s.free()

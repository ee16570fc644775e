"""The fuzzer's bytes as a FuzzedDataProvider-shaped reader with a known
encoding, so seed inputs can be written by hand (tests/fuzz/seeds.py).

An input is a sequence of steps: one byte picks the call, the next byte
is the length L of that step's payload, and the call's arguments are
decoded from those L bytes alone (mutations stay local to one step).
Every read past the end of a payload yields zeros, and choice 0 of every
decision is the well-formed one, so a step with an empty payload is a
valid call: ``bytes([op, 0])``.
"""

from __future__ import annotations


class Reader:
    """FuzzedDataProvider's methods used by the harness (ConsumeBytes,
    ConsumeIntInRange, ConsumeBool), zero-filled past the end."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def remaining_bytes(self) -> int:
        return max(0, len(self._data) - self._pos)

    def ConsumeBytes(self, n: int) -> bytes:
        out = self._data[self._pos:self._pos + n]
        self._pos += n
        return out.ljust(n, b"\x00")

    def ConsumeIntInRange(self, lo: int, hi: int) -> int:
        span = hi - lo
        if span <= 0:
            return lo
        width = (span.bit_length() + 7) // 8
        raw = int.from_bytes(self.ConsumeBytes(width), "big")
        return lo + raw % (span + 1)

    def ConsumeBool(self) -> bool:
        return bool(self.ConsumeIntInRange(0, 1))

    def pick(self, n: int) -> int:
        """An index below n (0 = the well-formed choice)."""
        return self.ConsumeIntInRange(0, n - 1)

    def steps(self) -> list[tuple[int, Reader]]:
        """Split an input into (op byte, payload reader) steps."""
        out: list[tuple[int, Reader]] = []
        while self.remaining_bytes() >= 1:
            op = self.ConsumeBytes(1)[0]
            n = self.ConsumeBytes(1)[0]
            out.append((op, Reader(self.ConsumeBytes(n)[:n])))
        return out


def step(op: int, *payload: int | bytes) -> bytes:
    """Encode one step; ints are single bytes (seed writing)."""
    body = b"".join(p if isinstance(p, bytes) else bytes([p])
                    for p in payload)
    assert len(body) < 256
    return bytes([op, len(body)]) + body

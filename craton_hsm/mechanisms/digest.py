"""Message digesting (PKCS#11 v3.0 sections 2.16, 2.25: CKM_SHA_1,
CKM_SHA224..SHA512, CKM_SHA3_*; C_Digest* in section 5.12)."""

from __future__ import annotations

from craton_hsm._generated_ck import CKF
from craton_hsm.backend.hashes import Hash, digest_size
from craton_hsm.mechanisms.checks import no_params
from craton_hsm.mechanisms.hashnames import DIGEST_NAMES
from craton_hsm.mechanisms.registry import Factory, KeyLike, MechSpec, Op


class DigestOp:
    """One digest operation; C_DigestKey feeds the key value as data."""

    def __init__(self, name: str) -> None:
        self.size = digest_size(name)
        self._ctx = Hash(name)

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def update_key(self, value: bytes) -> None:
        self._ctx.update(value)

    def final(self) -> bytes:
        return self._ctx.finalize()

    def digest(self, data: bytes) -> bytes:
        self._ctx.update(data)
        return self._ctx.finalize()

    def copy(self) -> DigestOp:
        """An independent twin (C_GetOperationState / SetOperationState)."""
        twin = DigestOp.__new__(DigestOp)
        twin.size = self.size
        twin._ctx = self._ctx.copy()
        return twin


def factory(name: str) -> Factory:
    def make(key: KeyLike | None, params: object) -> DigestOp:
        no_params(params)
        return DigestOp(name)
    return make


def _spec(mech: int) -> MechSpec:
    name = DIGEST_NAMES[mech]
    return MechSpec(mech, CKF.DIGEST, approved=True,
                    ops={Op.DIGEST: factory(name)},
                    multipart=frozenset({Op.DIGEST}))


# SHA-1 stays approved for digesting (SP 800-131A Rev.2 section 9); its
# signature use is not, see rsa.py and ec.py.
SPECS: tuple[MechSpec, ...] = tuple(_spec(m) for m in DIGEST_NAMES)

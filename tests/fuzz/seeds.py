"""Write the seed corpus tests/fuzz/corpus/: valid call sequences in the
harness's step encoding (tests/fuzz/reader.py), one file each.

    python tests/fuzz/seeds.py

Choice 0 is the well-formed argument everywhere, so a seed names only
the call and, where it matters, the mechanism (its index among the
registry rows that support the operation, as the harness counts them).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from craton_hsm._generated_ck import CKM
from craton_hsm.mechanisms.registry import REGISTRY
from fuzz import ops
from fuzz.reader import step

N = ops.NAMES
INIT = {kind: i for i, (_name, kind) in enumerate(ops.INITS)}


def mech(op: str, m: int) -> int:
    rows = [k for k, s in sorted(REGISTRY.items())
            if op in {o.name for o in s.ops}]
    return rows.index(m)


def init(kind: str, m: int) -> bytes:
    return step(N["init"], INIT[kind], mech(kind, m))


def in_out(name: str) -> bytes:
    return step(N["in_out"], ops.IN_OUT.index(name))


def final(name: str) -> bytes:
    if name == "C_VerifyFinal":
        return step(N["final"], 4)
    if name == "C_Verify":
        return step(N["final"], 5)
    return step(N["final"], ops.FINALS.index(name))


def update(name: str) -> bytes:
    return step(N["update"], ops.UPDATES.index(name))


SEEDS: dict[str, bytes] = {
    "sign-rsa": init("SIGN", CKM.SHA256_RSA_PKCS) + in_out("C_Sign"),
    "sign-ecdsa": init("SIGN", CKM.ECDSA_SHA256) + in_out("C_Sign"),
    "sign-eddsa": init("SIGN", CKM.EDDSA) + in_out("C_Sign"),
    "sign-mldsa": init("SIGN", CKM.ML_DSA) + in_out("C_Sign"),
    "hmac-multipart": init("SIGN", CKM.SHA256_HMAC) + update("C_SignUpdate")
    + update("C_SignUpdate") + final("C_SignFinal"),
    "verify-ecdsa": init("VERIFY", CKM.ECDSA_SHA256) + final("C_Verify"),
    "verify-multipart": init("VERIFY", CKM.SHA256_HMAC)
    + update("C_VerifyUpdate") + final("C_VerifyFinal"),
    "encrypt-gcm": init("ENCRYPT", CKM.AES_GCM) + in_out("C_Encrypt"),
    "encrypt-cbc-pad-multipart": init("ENCRYPT", CKM.AES_CBC_PAD)
    + in_out("C_EncryptUpdate") + final("C_EncryptFinal"),
    "decrypt-ecb": init("DECRYPT", CKM.AES_ECB) + in_out("C_Decrypt"),
    "encrypt-rsa-oaep": init("ENCRYPT", CKM.RSA_PKCS_OAEP)
    + in_out("C_Encrypt"),
    "digest": init("DIGEST", CKM.SHA256) + in_out("C_Digest"),
    "digest-multipart-state": init("DIGEST", CKM.SHA3_256)
    + update("C_DigestUpdate") + step(N["operation_state"])
    + final("C_DigestFinal"),
    "digest-encrypt": init("DIGEST", CKM.SHA256)
    + init("ENCRYPT", CKM.AES_ECB) + in_out("C_DigestEncryptUpdate"),
    "keygen-aes": step(N["generate_key"]),
    "keygen-pbkd2": step(N["generate_key"], 4),
    "keypair-ec": step(N["generate_key_pair"]),
    "keypair-mlkem": step(N["generate_key_pair"], 4),
    "create-find": step(N["create_object"]) + step(N["find"], 0, 0)
    + step(N["find"], 0, 1) + step(N["find"], 0, 2),
    "create-copy-destroy": step(N["create_object"], 1)
    + step(N["copy_object"], 2) + step(N["destroy_object"]),
    "attributes": step(N["get_attributes"])
    + step(N["set_attributes"]) + step(N["object_size"]),
    "wrap-unwrap-kw": step(N["wrap_key"], mech("WRAP", CKM.AES_KEY_WRAP))
    + step(N["unwrap_key"], mech("UNWRAP", CKM.AES_KEY_WRAP)),
    "derive-ecdh": step(N["derive_key"], mech("DERIVE", CKM.ECDH1_DERIVE)),
    "derive-hkdf": step(N["derive_key"], mech("DERIVE", CKM.HKDF_DERIVE)),
    "kem": step(N["kem"]) + step(N["kem"], 0, 0, 0, 0, 1),
    "random": step(N["random"]) + step(N["random"], 0, 1),
    "sessions": step(N["open_session"]) + step(N["session_info"], 1)
    + step(N["close_session"], 1) + step(N["info"]) + step(N["info"], 3),
    "login-logout": step(N["login"]) + step(N["logout"])
    + step(N["pins"]),
    "legacy": step(N["legacy"]) + step(N["legacy"], 3),
}


def main() -> None:
    out = HERE / "corpus"
    out.mkdir(exist_ok=True)
    for name, data in SEEDS.items():
        (out / name).write_bytes(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()

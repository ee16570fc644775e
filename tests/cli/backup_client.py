"""A PKCS#11 application for the backup tests, run as a subprocess.

``python backup_client.py <module> <mode> <json-args>`` with
CRATON_HSM_DATA_DIR set; prints one JSON document.  It drives the built
module through PyKCS11, as any host would, so a restored token is
judged only by what the C ABI returns.

Modes:
``setup``  C_InitToken slot 0, set the user PIN, generate an EC P-256
           key pair and an AES-256 key, create public and private data
           objects; returns the EC public point, an ECDSA signature and
           an AES-GCM ciphertext made before any backup.
``probe``  dumps every attribute of every object (keyed by label), signs
           ``message`` with the EC key and decrypts the AES ciphertext.
``write``  creates public token data objects ``<prefix>-<i>`` until
           ``count`` or until the stop file exists; returns the count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import PyKCS11 as P

ARRAY_ATTRIBUTE = 0x40000000        # CKF_ARRAY_ATTRIBUTE: holds pointers
MESSAGE = b"signed before the backup"


def session(lib: Any, rw: bool = True) -> Any:
    flags = P.CKF_SERIAL_SESSION | (P.CKF_RW_SESSION if rw else 0)
    return lib.openSession(0, flags)


def find(s: Any, label: str) -> Any:
    found = s.findObjects([(P.CKA_LABEL, label)])
    assert len(found) == 1, (label, found)
    return found[0]


def gcm(iv: bytes) -> Any:
    return P.AES_GCM_Mechanism(iv, b"aad", 128)


def setup(lib: Any, a: dict[str, Any]) -> dict[str, Any]:
    lib.initToken(0, a["so"], "backup-test".ljust(32))
    s = session(lib)
    s.login(a["so"], P.CKU_SO)
    s.initPin(a["user"])
    s.logout()
    s.login(a["user"])
    pub, _ = s.generateKeyPair(
        [(P.CKA_TOKEN, True), (P.CKA_LABEL, "ec-pub"), (P.CKA_ID, b"\x01"),
         (P.CKA_VERIFY, True),
         (P.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107"))],
        [(P.CKA_TOKEN, True), (P.CKA_LABEL, "ec-priv"), (P.CKA_ID, b"\x01"),
         (P.CKA_SIGN, True), (P.CKA_SENSITIVE, True)],
        mecha=P.Mechanism(P.CKM_EC_KEY_PAIR_GEN))
    aes = s.generateKey([
        (P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
        (P.CKA_VALUE_LEN, 32), (P.CKA_TOKEN, True), (P.CKA_LABEL, "aes"),
        (P.CKA_ENCRYPT, True), (P.CKA_DECRYPT, True)])
    for label, private in (("data-public", False), ("data-private", True)):
        s.createObject([(P.CKA_CLASS, P.CKO_DATA), (P.CKA_TOKEN, True),
                        (P.CKA_PRIVATE, private), (P.CKA_LABEL, label),
                        (P.CKA_VALUE, label.encode() * 3)])
    point = bytes(s.getAttributeValue(pub, [P.CKA_EC_POINT], True)[0])
    iv = bytes(12)
    ct = bytes(s.encrypt(aes, b"encrypted before the backup", gcm(iv)))
    sig = bytes(s.sign(find(s, "ec-priv"), MESSAGE,
                       P.Mechanism(P.CKM_ECDSA_SHA256)))
    return {"ec_point": point.hex(), "ciphertext": ct.hex(),
            "iv": iv.hex(), "signature": sig.hex()}


# CKO_PROFILE (PKCS#11 v3.0 4.13) as the hex CK_ULONG the dump holds.
PROFILE_CLASS = (9).to_bytes(8, "little").hex()


def dump(s: Any) -> dict[str, dict[str, str | None]]:
    types = sorted(k for k in P.CKA if isinstance(k, int)
                   and not k & ARRAY_ATTRIBUTE)
    out: dict[str, dict[str, str | None]] = {}
    for obj in s.findObjects([]):
        values = s.getAttributeValue(obj, types, True)
        attrs = {P.CKA[t]: (None if v is None else bytes(v).hex())
                 for t, v in zip(types, values, strict=True)}
        if attrs["CKA_CLASS"] == PROFILE_CLASS:
            continue    # module-made CKO_PROFILE objects are not backed up
        label = bytes.fromhex(attrs["CKA_LABEL"] or "").decode()
        out[label] = attrs
    return out


def probe(lib: Any, a: dict[str, Any]) -> dict[str, Any]:
    s = session(lib, rw=False)
    s.login(a["user"])
    sig = bytes(s.sign(find(s, "ec-priv"), a["message"].encode(),
                       P.Mechanism(P.CKM_ECDSA_SHA256)))
    plain = b""
    if a.get("decrypt", True):
        plain = bytes(s.decrypt(find(s, "aes"),
                                bytes.fromhex(a["ciphertext"]),
                                gcm(bytes.fromhex(a["iv"]))))
    return {"objects": dump(s), "signature": sig.hex(),
            "plaintext": plain.decode()}


def write(lib: Any, a: dict[str, Any]) -> dict[str, Any]:
    s = session(lib)
    stop = Path(a["stop"])
    n = 0
    while n < a["count"] and not stop.exists():
        s.createObject([(P.CKA_CLASS, P.CKO_DATA), (P.CKA_TOKEN, True),
                        (P.CKA_PRIVATE, False),
                        (P.CKA_LABEL, f"{a['prefix']}-{n}"),
                        (P.CKA_VALUE, b"x" * 200)])
        n += 1
        if n == 20:
            Path(a["started"]).touch()
    return {"created": n}


def main() -> None:
    lib = P.PyKCS11Lib()
    lib.load(sys.argv[1])
    mode = {"setup": setup, "probe": probe, "write": write}[sys.argv[2]]
    print(json.dumps(mode(lib, json.loads(sys.argv[3]))))


if __name__ == "__main__":
    main()

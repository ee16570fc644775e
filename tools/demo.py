"""`make demo`: a real job through build/libcraton_hsm.so.

Initialises a demo token in a private data dir (build/demo-data), makes
an EC P-256 key pair on it, signs a message through the PKCS#11 C ABI
(PyKCS11 is the client, exactly as any C application would call it) and
verifies the signature independently with the `openssl` command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "build" / "libcraton_hsm.so"
DATA = ROOT / "build" / "demo-data"
SO_PIN, USER_PIN = "12345678", "1234"
MESSAGE = b"Craton HSM demo: signed inside the token\n"


def main() -> int:
    # `--data-dir D`: make the same demo token elsewhere (tests/docs
    # runs the docs' shell blocks against a copy of it).
    data = Path(sys.argv[2]) if sys.argv[1:2] == ["--data-dir"] else DATA
    shutil.rmtree(data, ignore_errors=True)
    os.environ["CRATON_HSM_DATA_DIR"] = str(data)
    os.environ.pop("CRATON_HSM_CONFIG", None)

    import PyKCS11
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    p11 = PyKCS11.PyKCS11Lib()
    p11.load(str(LIB))
    info = p11.getInfo()
    print(f"loaded {LIB}: {info.manufacturerID.strip()}, "
          f"Cryptoki {info.cryptokiVersion}")
    slot = p11.getSlotList()[0]
    p11.initToken(slot, SO_PIN, "craton-demo")
    so = p11.openSession(slot, PyKCS11.CKF_RW_SESSION)
    so.login(SO_PIN, PyKCS11.CKU_SO)
    so.initPin(USER_PIN)
    so.logout()
    so.closeSession()
    token = p11.getTokenInfo(slot)
    print(f"initialised token '{token.label.strip()}' in slot {slot}, "
          f"serial {token.serialNumber.strip()}, data dir {data}")

    s = p11.openSession(slot, PyKCS11.CKF_RW_SESSION)
    s.login(USER_PIN)
    p256 = bytes.fromhex("06082a8648ce3d030107")  # OID prime256v1 (DER)
    pub, priv = s.generateKeyPair(
        [(PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_EC_PARAMS, p256),
         (PyKCS11.CKA_LABEL, "demo-ec"), (PyKCS11.CKA_ID, b"\x01")],
        [(PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_LABEL, "demo-ec"),
         (PyKCS11.CKA_ID, b"\x01"), (PyKCS11.CKA_SIGN, True)],
        mecha=PyKCS11.Mechanism(PyKCS11.CKM_EC_KEY_PAIR_GEN))
    print("generated EC P-256 key pair 'demo-ec' (private key sensitive, "
          "never extractable)")
    rs = bytes(s.sign(priv, MESSAGE,
                      PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)))
    print(f"signed {len(MESSAGE)} bytes with CKM_ECDSA_SHA256: "
          f"{len(rs)}-byte r||s signature")
    point = bytes(s.getAttributeValue(pub, [PyKCS11.CKA_EC_POINT])[0])
    s.logout()
    s.closeSession()

    # CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), point[2:])
    half = len(rs) // 2
    der = utils.encode_dss_signature(int.from_bytes(rs[:half], "big"),
                                     int.from_bytes(rs[half:], "big"))
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "pub.pem").write_bytes(public.public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo))
        (t / "sig.der").write_bytes(der)
        (t / "msg").write_bytes(MESSAGE)
        proc = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", str(t / "pub.pem"),
             "-signature", str(t / "sig.der"), str(t / "msg")],
            capture_output=True, text=True, check=False)
    print(f"openssl dgst -sha256 -verify: {proc.stdout.strip()}")
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    print("demo OK: the token signed, OpenSSL verified independently")
    return 0


if __name__ == "__main__":
    sys.exit(main())

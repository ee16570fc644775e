"""PyKCS11 scenarios in one process, one login (run by test_pykcs11.py).

PyKCS11 is a thin SWIG wrapper over the PKCS#11 C API, so these are the
calls a C application makes.  Inputs come as JSON on stdin (known key values
the test made with `cryptography`); one JSON object goes to stdout, holding
every output for the test to check independently.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import PyKCS11

P = PyKCS11


def public_rsa(session: Any, key: Any) -> dict[str, str]:
    n, e = session.getAttributeValue(key, [P.CKA_MODULUS,
                                           P.CKA_PUBLIC_EXPONENT])
    return {"n": bytes(n).hex(), "e": bytes(e).hex()}


def main() -> None:
    args = json.load(sys.stdin)
    lib = P.PyKCS11Lib()
    lib.load(args["module"])
    out: dict[str, Any] = {}
    info = lib.getInfo()
    out["info"] = {"cryptokiVersion": list(info.cryptokiVersion),
                   "manufacturerID": info.manufacturerID.strip()}
    slots = lib.getSlotList(tokenPresent=True)
    slot = slots[0]
    token = lib.getTokenInfo(slot)
    out["token"] = {"label": token.label.strip(), "flags": token.flags}
    out["mechanisms"] = lib.getMechanismList(slot)

    session = lib.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    session.login(args["pin"])
    msg = bytes.fromhex(args["message"])

    # Key pairs generated in the token; signatures go out with the
    # public values, for `cryptography` to verify.
    rsa_pub, rsa_priv = session.generateKeyPair(
        [(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_TOKEN, True),
         (P.CKA_KEY_TYPE, P.CKK_RSA), (P.CKA_MODULUS_BITS, 2048),
         (P.CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)), (P.CKA_VERIFY, True),
         (P.CKA_LABEL, "pyrsa"), (P.CKA_ID, (0x31,))],
        [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_TOKEN, True),
         (P.CKA_KEY_TYPE, P.CKK_RSA), (P.CKA_SIGN, True),
         (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True),
         (P.CKA_LABEL, "pyrsa"), (P.CKA_ID, (0x31,))],
        P.MechanismRSAGENERATEKEYPAIR)
    out["rsa"] = public_rsa(session, rsa_pub)
    out["rsa"]["pkcs1"] = bytes(session.sign(
        rsa_priv, msg, P.Mechanism(P.CKM_SHA256_RSA_PKCS))).hex()
    out["rsa"]["pss"] = bytes(session.sign(
        rsa_priv, msg, P.RSA_PSS_Mechanism(P.CKM_SHA256_RSA_PKCS_PSS,
                                           P.CKM_SHA256, P.CKG_MGF1_SHA256,
                                           32))).hex()
    out["rsa"]["private_value"] = [
        str(v) for v in session.getAttributeValue(
            rsa_priv, [P.CKA_SENSITIVE, P.CKA_EXTRACTABLE, P.CKA_LOCAL])]

    p256 = bytes.fromhex("06082a8648ce3d030107")
    ec_pub, ec_priv = session.generateKeyPair(
        [(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_KEY_TYPE, P.CKK_EC),
         (P.CKA_EC_PARAMS, p256), (P.CKA_VERIFY, True)],
        [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_KEY_TYPE, P.CKK_EC),
         (P.CKA_SIGN, True), (P.CKA_SENSITIVE, True)],
        P.MechanismECGENERATEKEYPAIR)
    point = session.getAttributeValue(ec_pub, [P.CKA_EC_POINT])[0]
    out["ec"] = {"point": bytes(point).hex(), "sig": bytes(session.sign(
        ec_priv, msg, P.Mechanism(P.CKM_ECDSA_SHA256))).hex()}

    # An RSA private key imported by C_CreateObject decrypts the test's
    # OAEP (SHA-256) ciphertext.
    known = args["rsa_private"]
    imported = session.createObject(
        [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_KEY_TYPE, P.CKK_RSA),
         (P.CKA_TOKEN, False), (P.CKA_DECRYPT, True)]
        + [(getattr(P, name), bytes.fromhex(value))
           for name, value in known.items()])
    oaep = P.RSAOAEPMechanism(P.CKM_SHA256, P.CKG_MGF1_SHA256)
    out["oaep_plain"] = bytes(session.decrypt(
        imported, bytes.fromhex(args["oaep_ciphertext"]), oaep)).hex()

    # AES with a known key value: GCM and CBC-PAD ciphertexts for the test,
    # and an AES key wrap of a second known key.
    aes = session.createObject(
        [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
         (P.CKA_TOKEN, False), (P.CKA_ENCRYPT, True), (P.CKA_DECRYPT, True),
         (P.CKA_WRAP, True), (P.CKA_VALUE, bytes.fromhex(args["aes_key"]))])
    iv = bytes.fromhex(args["iv"])
    gcm = P.AES_GCM_Mechanism(iv, b"pykcs11", 128)
    out["gcm"] = bytes(session.encrypt(aes, msg, gcm)).hex()
    cbc = P.Mechanism(P.CKM_AES_CBC_PAD, iv[:12] + iv[:4])
    out["cbc_pad"] = bytes(session.encrypt(aes, msg, cbc)).hex()
    inner = session.createObject(
        [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
         (P.CKA_TOKEN, False), (P.CKA_EXTRACTABLE, True),
         (P.CKA_SENSITIVE, False),
         (P.CKA_VALUE, bytes.fromhex(args["inner_key"]))])
    out["wrapped"] = bytes(session.wrapKey(
        aes, inner, P.Mechanism(P.CKM_AES_KEY_WRAP))).hex()

    out["sha256"] = bytes(session.digest(msg,
                                         P.Mechanism(P.CKM_SHA256))).hex()
    out["random"] = [bytes(session.generateRandom(32)).hex()
                     for _ in range(2)]

    # Object management: find by label, relabel, destroy.
    found = session.findObjects([(P.CKA_LABEL, "pyrsa")])
    out["found_pyrsa"] = sorted(
        session.getAttributeValue(o, [P.CKA_CLASS])[0] for o in found)
    session.setAttributeValue(rsa_pub, [(P.CKA_LABEL, "renamed")])
    out["found_renamed"] = len(session.findObjects(
        [(P.CKA_LABEL, "renamed"), (P.CKA_CLASS, P.CKO_PUBLIC_KEY)]))
    session.destroyObject(rsa_pub)
    out["after_destroy"] = len(session.findObjects(
        [(P.CKA_ID, (0x31,))]))

    # Errors surface as PyKCS11Error carrying the CKR value.
    try:
        session.sign(ec_pub, msg, P.Mechanism(P.CKM_ECDSA_SHA256))
        out["sign_with_public"] = "CKR_OK"
    except P.PyKCS11Error as err:
        out["sign_with_public"] = P.CKR[err.value]

    session.logout()
    out["private_after_logout"] = len(session.findObjects(
        [(P.CKA_CLASS, P.CKO_PRIVATE_KEY)]))
    session.closeSession()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

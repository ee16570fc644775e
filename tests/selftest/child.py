"""A PyKCS11 application driven by tests/selftest (one process per
case: the self-tests run inside C_Initialize of the loaded .so).

``python child.py <lib> init`` prints ``init=<CKR name>``;
``python child.py <lib> keygen <EC|RSA|EDWARDS|MONTGOMERY>`` sets up a
token, generates one key pair and then tries the calls the latch must
refuse or allow, printing ``<step>=<CKR name>`` lines."""

from __future__ import annotations

import sys

import PyKCS11 as P

from craton_hsm._generated_ck import CKR

ED25519 = bytes.fromhex("06032b6570")
X25519 = bytes.fromhex("06032b656e")
P256 = bytes.fromhex("06082a8648ce3d030107")


def name(rv: int) -> str:
    return CKR(rv).name if rv in CKR._value2member_map_ else hex(rv)


def step(label: str, fn: object) -> None:
    try:
        fn()  # type: ignore[operator]
        rv = 0
    except P.PyKCS11Error as e:
        rv = e.value
    print(f"{label}={name(rv)}", flush=True)


def keygen(lib: P.PyKCS11Lib, kind: str) -> None:
    lib.initToken(0, "12345678", "selftest")
    s = lib.openSession(0, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    s.login("12345678", P.CKU_SO)
    s.initPin("1234")
    s.logout()
    s.login("1234")
    mech, pub = {
        "EC": (P.CKM_EC_KEY_PAIR_GEN, [(P.CKA_EC_PARAMS, P256)]),
        "EDWARDS": (P.CKM_EC_EDWARDS_KEY_PAIR_GEN,
                    [(P.CKA_EC_PARAMS, ED25519)]),
        "MONTGOMERY": (P.CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
                       [(P.CKA_EC_PARAMS, X25519)]),
        "RSA": (P.CKM_RSA_PKCS_KEY_PAIR_GEN,
                [(P.CKA_MODULUS_BITS, 2048),
                 (P.CKA_PUBLIC_EXPONENT, (1, 0, 1))]),
    }[kind]
    step("keygen", lambda: s.generateKeyPair(
        pub, [(P.CKA_TOKEN, False)], P.Mechanism(mech)))
    step("random", lambda: s.generateRandom(16))
    step("digest", lambda: s.digest(b"abc", P.Mechanism(P.CKM_SHA256)))
    step("getinfo", lib.getInfo)
    step("slotlist", lib.getSlotList)
    step("finalize", lambda: _rv(lib.lib.C_Finalize()))
    step("reinit", lambda: _rv(lib.lib.C_Initialize()))
    s2 = lib.openSession(0, P.CKF_SERIAL_SESSION)
    step("random_after", lambda: s2.generateRandom(16))


def _rv(rv: int) -> None:
    if rv:
        raise P.PyKCS11Error(rv)


def main() -> None:
    lib = P.PyKCS11Lib()
    try:
        lib.load(sys.argv[1])
    except P.PyKCS11Error as e:
        print(f"init={name(e.value)}", flush=True)
        return
    print("init=OK", flush=True)
    if sys.argv[2] == "keygen":
        keygen(lib, sys.argv[3])


if __name__ == "__main__":
    main()

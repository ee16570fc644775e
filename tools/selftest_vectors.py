"""Extract the power-on self-test vectors from their independent sources.

Writes craton_hsm/selftest/vectors/kat.json and pqc.json: one entry per
self-test, each naming its source file and test case (docs/selftests.md,
craton_hsm/selftest/vectors/PROVENANCE.md).  Nothing here runs the
module: every expected value is copied from NIST CAVP / RFC files (the
``cryptography-vectors`` package) or Project Wycheproof (the shared
vector set).  ``--check`` fails if the committed files differ from what
the sources give, so a vector can never quietly become our own output.

Run: .venv/bin/python tools/selftest_vectors.py [--check]
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cryptography_vectors

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "craton_hsm" / "selftest" / "vectors"
PYCA = Path(cryptography_vectors.__file__).parent
# The same search as tests/mechanisms/vectors.py: CRATON_VECTORS, else
# shared/ beside the clone, else the machine's /work/shared.
SHARED = next((p for p in ([Path(os.environ["CRATON_VECTORS"])]
                           if "CRATON_VECTORS" in os.environ else
                           [ROOT.parent / "shared" / "vectors",
                            Path("/work/shared/vectors")])
               if (p / "wycheproof").is_dir()),
              ROOT.parent / "shared" / "vectors")

Record = dict[str, str]


def records(rel: str) -> Iterator[tuple[dict[str, str], Record]]:
    """(section headers, record) for NIST-style ``NAME = value`` files;
    a blank line ends a record, comment lines do not."""
    head: dict[str, str] = {}
    cur: Record = {}
    for raw in (PYCA / rel).read_text().splitlines() + [""]:
        line = raw.strip()
        if line.startswith("#"):
            continue
        if line.startswith("["):
            k, _, v = line.strip("[]").partition("=")
            head[k.strip()] = v.strip()
        elif line:
            k, _, v = line.partition("=")
            cur[k.strip()] = v.strip()
        elif cur:
            yield dict(head), cur
            cur = {}


def nist(rel: str, match: Callable[[dict[str, str], Record], bool]
         ) -> Record:
    for head, rec in records(rel):
        if match(head, rec):
            return rec
    raise SystemExit(f"{rel}: no matching record")


def wycheproof(name: str, tc: int) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = json.loads((SHARED / "wycheproof" / name).read_text())
    for group in doc["testGroups"]:
        for test in group["tests"]:
            if test["tcId"] == tc:
                assert test["result"] == "valid", (name, tc)
                return group, test
    raise SystemExit(f"{name}: no tcId {tc}")


def _digest(file: str, length: int) -> dict[str, str]:
    rec = nist(file, lambda h, r: r.get("Len") == str(length))
    return {"source": f"cryptography_vectors/{file}",
            "case": f"Len = {length}", "msg": rec["Msg"], "md": rec["MD"]}


def symmetric() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, file in (
            ("kat-sha1", "hashes/SHA1/SHA1ShortMsg.rsp"),
            ("kat-sha224", "hashes/SHA2/SHA224ShortMsg.rsp"),
            ("kat-sha256", "hashes/SHA2/SHA256ShortMsg.rsp"),
            ("kat-sha384", "hashes/SHA2/SHA384ShortMsg.rsp"),
            ("kat-sha512", "hashes/SHA2/SHA512ShortMsg.rsp"),
            ("kat-sha3-256", "hashes/SHA3/SHA3_256ShortMsg.rsp"),
            ("kat-sha3-512", "hashes/SHA3/SHA3_512ShortMsg.rsp")):
        out[name] = _digest(file, 256)
    f = "HMAC/rfc-4231-sha256.txt"
    rec = nist(f, lambda h, r: r.get("Key") == "4a656665")
    out["kat-hmac-sha256"] = {"source": f"cryptography_vectors/{f}",
                              "case": "RFC 4231 test case 2", "key": rec["Key"],
                              "msg": rec["Msg"], "mac": rec["MD"]}
    _, t = wycheproof("hmac_sha3_256_test.json", 2)
    out["kat-hmac-sha3-256"] = {
        "source": "wycheproof/hmac_sha3_256_test.json", "case": "tcId 2",
        "key": t["key"], "msg": t["msg"], "mac": t["tag"]}
    f = "ciphers/AES/ECB/ECBMMT256.rsp"
    rec = nist(f, lambda h, r: "ENCRYPT" in h and r["COUNT"] == "1")
    out["kat-aes-ecb"] = {"source": f"cryptography_vectors/{f}",
                          "case": "[ENCRYPT] COUNT = 1", "key": rec["KEY"],
                          "pt": rec["PLAINTEXT"], "ct": rec["CIPHERTEXT"]}
    f = "ciphers/AES/CBC/CBCMMT128.rsp"
    rec = nist(f, lambda h, r: "ENCRYPT" in h and r["COUNT"] == "1")
    out["kat-aes-cbc"] = {"source": f"cryptography_vectors/{f}",
                          "case": "[ENCRYPT] COUNT = 1", "key": rec["KEY"],
                          "iv": rec["IV"], "pt": rec["PLAINTEXT"],
                          "ct": rec["CIPHERTEXT"]}
    for name, file, tc in (("kat-aes-gcm", "aes_gcm_test.json", 100),
                           ("kat-aes-ccm", "aes_ccm_test.json", 12)):
        _, t = wycheproof(file, tc)
        out[name] = {"source": f"wycheproof/{file}", "case": f"tcId {tc}",
                     "key": t["key"], "iv": t["iv"], "aad": t["aad"],
                     "pt": t["msg"], "ct": t["ct"], "tag": t["tag"]}
    f = "keywrap/kwtestvectors/KW_AE_128.txt"
    rec = nist(f, lambda h, r: r.get("COUNT") == "0")
    out["kat-aes-kw"] = {"source": f"cryptography_vectors/{f}",
                         "case": "[PLAINTEXT LENGTH = 128] COUNT = 0",
                         "key": rec["K"], "pt": rec["P"], "ct": rec["C"]}
    f = "CMAC/nist-800-38b-aes128.txt"
    rec = nist(f, lambda h, r: r.get("COUNT") == "2")
    out["kat-cmac-aes"] = {"source": f"cryptography_vectors/{f}",
                           "case": "COUNT = 2 (SP 800-38B D.1 example 3)",
                           "key": rec["KEY"], "msg": rec["MESSAGE"],
                           "mac": rec["OUTPUT"]}
    return out


def kdfs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    _, t = wycheproof("pbkdf2_hmacsha256_test.json", 1)
    out["kat-pbkdf2"] = {"source": "wycheproof/pbkdf2_hmacsha256_test.json",
                         "case": "tcId 1 (RFC 7914 section 11)",
                         "password": t["password"], "salt": t["salt"],
                         "iterations": t["iterationCount"],
                         "dk": t["dk"]}
    f = "KDF/rfc-5869-HKDF-SHA256.txt"
    case: Record = {}
    for _, rec in records(f):
        if rec.get("COUNT") == "2":
            break
        case.update(rec)
    out["kat-hkdf"] = {"source": f"cryptography_vectors/{f}",
                       "case": "COUNT = 1 (RFC 5869 A.1)", "ikm": case["IKM"],
                       "salt": case["salt"], "info": case["info"],
                       "okm": case["OKM"]}
    f = "KDF/nist-800-108-KBKDF-CTR.txt"
    rec = nist(f, lambda h, r: h.get("PRF") == "HMAC_SHA256"
               and h.get("CTRLOCATION") == "BEFORE_FIXED"
               and h.get("RLEN") == "32_BITS" and r.get("COUNT") == "0")
    out["kat-kbkdf"] = {
        "source": f"cryptography_vectors/{f}",
        "case": "[PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED] "
                "[RLEN=32_BITS] COUNT=0",
        "key": rec["KI"], "fixed": rec["FixedInputData"], "ko": rec["KO"]}
    return out


def asymmetric() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    g, t = wycheproof("rsa_pkcs1_2048_sig_gen_test.json", 82)
    assert g["sha"] == "SHA-256"
    pk = g["privateKey"]
    # Its primes are not in the file; the OAEP file holds the same key
    # (same modulus) with them, which spares a prime recovery.
    og, _ = wycheproof("rsa_oaep_2048_sha256_mgf1sha256_test.json", 2)
    assert og["privateKey"]["modulus"] == pk["modulus"]
    out["kat-rsa-pkcs1"] = {
        "source": "wycheproof/rsa_pkcs1_2048_sig_gen_test.json",
        "case": "tcId 82 (primes: rsa_oaep_2048_sha256_mgf1sha256_test"
                ".json, same key)",
        "n": pk["modulus"], "e": pk["publicExponent"],
        "d": pk["privateExponent"], "p": og["privateKey"]["prime1"],
        "q": og["privateKey"]["prime2"], "msg": t["msg"], "sig": t["sig"]}
    g, t = wycheproof("rsa_pss_2048_sha256_mgf1_32_test.json", 2)
    out["kat-rsa-pss"] = {
        "source": "wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json",
        "case": "tcId 2", "n": g["publicKey"]["modulus"],
        "e": g["publicKey"]["publicExponent"], "msg": t["msg"],
        "sig": t["sig"]}
    g, t = wycheproof("rsa_oaep_2048_sha256_mgf1sha256_test.json", 2)
    pk = g["privateKey"]
    out["kat-rsa-oaep"] = {
        "source": "wycheproof/rsa_oaep_2048_sha256_mgf1sha256_test.json",
        "case": "tcId 2", "n": pk["modulus"], "e": pk["publicExponent"],
        "d": pk["privateExponent"], "p": pk["prime1"], "q": pk["prime2"],
        "msg": t["msg"], "ct": t["ct"]}
    g, t = wycheproof("ecdsa_secp256r1_sha256_p1363_test.json", 225)
    out["kat-ecdsa-p256"] = {
        "source": "wycheproof/ecdsa_secp256r1_sha256_p1363_test.json",
        "case": "tcId 225", "point": g["publicKey"]["uncompressed"],
        "msg": t["msg"], "sig": t["sig"]}
    f = "asymmetric/Ed25519/sign.input"
    sk, pub, msg, sig = (PYCA / f).read_text().splitlines()[1].split(":")[:4]
    out["kat-ed25519"] = {"source": f"cryptography_vectors/{f}",
                          "case": "line 2 (RFC 8032 7.1 TEST 2)",
                          "seed": sk[:64], "pub": pub, "msg": msg,
                          "sig": sig[:128]}
    f = "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_init.fax"
    rec = nist(f, lambda h, r: "EC - SHA256" in h and r.get("COUNT") == "2")
    assert rec["Result"].startswith("P"), rec["Result"]
    out["kat-ecdh-p256"] = {"source": f"cryptography_vectors/{f}",
                            "case": "[EC - SHA256] COUNT = 2 (Result = P)",
                            "d": rec["dsIUT"], "peer_x": rec["QsCAVSx"],
                            "peer_y": rec["QsCAVSy"], "qx": rec["QsIUTx"],
                            "qy": rec["QsIUTy"], "z": rec["Z"]}
    f = "asymmetric/X25519/rfc7748.txt"
    rec = nist(f, lambda h, r: r.get("COUNT") == "1")
    out["kat-x25519"] = {"source": f"cryptography_vectors/{f}",
                         "case": "COUNT = 1 (RFC 7748 5.2)",
                         "scalar": rec["INPUT_SCALAR"], "u": rec["INPUT_U"],
                         "out": rec["OUTPUT_U"]}
    return out


def pqc() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for level in (44, 65, 87):
        file = f"mldsa_{level}_sign_seed_test.json"
        g, t = wycheproof(file, 1)
        out[f"kat-ml-dsa-{level}"] = {
            "source": f"wycheproof/{file}", "case": "tcId 1",
            "seed": g["privateSeed"], "pub": g["publicKey"],
            "msg": t["msg"], "sig": t["sig"]}
    for level in (768, 1024):
        file = f"mlkem_{level}_test.json"
        _, t = wycheproof(file, 1)
        out[f"kat-ml-kem-{level}"] = {
            "source": f"wycheproof/{file}", "case": "tcId 1",
            "seed": t["seed"], "ek": t["ek"], "c": t["c"], "k": t["K"]}
    return out


def render(doc: dict[str, dict[str, Any]]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


PREAMBLE = """\
# Self-test vectors: provenance

Generated by tools/selftest_vectors.py (`--check` verifies these files
against their sources); never produced by this module.  Sources:
`cryptography_vectors/...` is the `cryptography-vectors` package
(NIST CAVP and RFC test files as pyca ships them);
`wycheproof/...` is Project Wycheproof (C2SP/wycheproof
testvectors_v1, commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, the
shared vector set; its PROVENANCE.md has the checksums).

| self-test | file | source file | test case |
|---|---|---|---|
"""


def provenance(files: dict[str, dict[str, dict[str, Any]]]) -> str:
    rows = [f"| {name} | {file} | `{vec['source']}` | {vec['case']} |"
            for file, doc in files.items() for name, vec in doc.items()]
    return PREAMBLE + "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    vecs = {"kat.json": {**symmetric(), **kdfs(), **asymmetric()},
            "pqc.json": pqc()}
    files = {name: render(doc) for name, doc in vecs.items()}
    files["PROVENANCE.md"] = provenance(vecs)
    stale = []
    for name, text in files.items():
        path = OUT / name
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run tools/selftest_vectors.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Generate docs/mechanisms.md and fips/approved-algorithms.md from the
mechanism registry and the approved-mode policy (core/approved.py).

``python tools/gen_mechanisms_doc.py`` rewrites both pages;
``--check`` exits 1 when a committed page is stale (a test runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from craton_hsm._generated_ck import CKF, CKM
from craton_hsm.core import approved
from craton_hsm.core.approved import ONLY_FOR
from craton_hsm.mechanisms.registry import REGISTRY, MechSpec, Op

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "mechanisms.md"
APPROVED_OUTPUT = ROOT / "fips" / "approved-algorithms.md"

# The standard that makes each approved mechanism family approved; the
# first matching entry wins.  Kept here, beside the
# table it annotates, because it is documentation, not policy.
STANDARDS: list[tuple[str, str]] = [
    ("CKM_ML_KEM", "FIPS 203"),
    ("CKM_ML_DSA", "FIPS 204"),
    ("CKM_EC_EDWARDS", "FIPS 186-5 (EdDSA)"),
    ("CKM_EDDSA", "FIPS 186-5 (EdDSA)"),
    ("CKM_ECDSA", "FIPS 186-5 (ECDSA), SP 800-186"),
    ("CKM_ECDH", "SP 800-56A Rev. 3"),
    ("CKM_RSA_PKCS_OAEP", "SP 800-56B Rev. 2 (KTS-OAEP)"),
    ("CKM_RSA_PKCS_KEY_PAIR_GEN", "FIPS 186-5 (RSA key generation)"),
    ("RSA_PKCS", "FIPS 186-5 (RSA signatures)"),
    ("CKM_AES_GCM", "SP 800-38D"),
    ("CKM_AES_CCM", "SP 800-38C"),
    ("CKM_AES_CMAC", "SP 800-38B"),
    ("CKM_AES_KEY_WRAP", "SP 800-38F"),
    ("CKM_AES_KEY_GEN", "FIPS 197, SP 800-133 Rev. 2"),
    ("CKM_AES", "FIPS 197, SP 800-38A"),
    ("_HMAC", "FIPS 198-1"),
    ("CKM_SHA3", "FIPS 202"),
    ("CKM_SHA", "FIPS 180-4"),
    ("CKM_HKDF", "SP 800-56C Rev. 2"),
    ("CKM_SP800_108", "SP 800-108 Rev. 1"),
    ("CKM_PKCS5_PBKD2", "SP 800-132"),
    ("CKM_GENERIC_SECRET_KEY_GEN", "SP 800-133 Rev. 2"),
]

FLAG_NAMES = [(CKF.DIGEST, "digest"), (CKF.ENCRYPT, "encrypt"),
              (CKF.DECRYPT, "decrypt"), (CKF.SIGN, "sign"),
              (CKF.VERIFY, "verify"), (CKF.SIGN_RECOVER, "sign-recover"),
              (CKF.VERIFY_RECOVER, "verify-recover"),
              (CKF.GENERATE, "generate"),
              (CKF.GENERATE_KEY_PAIR, "generate-key-pair"),
              (CKF.WRAP, "wrap"), (CKF.UNWRAP, "unwrap"),
              (CKF.DERIVE, "derive"), (CKF.ENCAPSULATE, "encapsulate"),
              (CKF.DECAPSULATE, "decapsulate"), (CKF.EC_F_P, "EC F(p)"),
              (CKF.EC_NAMEDCURVE, "named curves"),
              (CKF.EC_UNCOMPRESS, "uncompressed")]
# Key sizes are in bits for RSA, EC and Edwards/Montgomery mechanisms and
# in bytes for symmetric ones (PKCS#11 v3.0, each mechanism's section).


def _name(mech: int) -> str:
    try:
        return "CKM_" + CKM(mech).name
    except ValueError:
        return f"0x{mech:08x}"


def _flags(spec: MechSpec) -> str:
    return ", ".join(n for bit, n in FLAG_NAMES if spec.flags & bit)


def _multipart(spec: MechSpec) -> str:
    ops = sorted(op.value for op in spec.multipart if isinstance(op, Op))
    return ", ".join(ops) or "-"


def _approved(spec: MechSpec) -> str:
    if not spec.approved:
        return "no"
    only = ONLY_FOR.get(spec.mechanism)
    if only is None:
        return "yes"
    return ", ".join(sorted(op.value for op in only)) + " only"


def render() -> str:
    lines = [
        "# Mechanisms",
        "",
        ("Generated from `craton_hsm/mechanisms/registry.py` by "
        "`tools/gen_mechanisms_doc.py`; do not edit by hand (a test fails "
        "when this page is stale)."),
        "",
        ("Key sizes follow the unit PKCS#11 v3.0 uses for each mechanism: "
        "bits for RSA and elliptic-curve mechanisms, bytes for symmetric "
        "ones; `-` means the mechanism takes no key. *Approved* is the "
        "column the approved-only (FIPS) mode filters on (docs/approved-mode.md); "
        "*verify only* rows are listed there but refuse signing. CKM_RSA_X_509 "
        "(raw RSA) is deliberately absent: it cannot be made constant-time "
        "over the backend."),
        "",
        f"{len(REGISTRY)} mechanisms.",
        "",
        ("| mechanism | value | key size | functions | multi-part | "
        "approved |"),
        "|---|---|---|---|---|---|",
    ]
    for mech in sorted(REGISTRY):
        spec = REGISTRY[mech]
        lo, hi = spec.key_size
        size = "-" if (lo, hi) == (0, 0) else f"{lo}-{hi}"
        lines.append(
            f"| {_name(mech)} | 0x{mech:x} | {size} | {_flags(spec)} | "
            f"{_multipart(spec)} | {_approved(spec)} |")
    return "\n".join(lines) + "\n"


def _standard(name: str) -> str:
    for part, standard in STANDARDS:
        # "CKM_..." entries are prefixes; the others match anywhere.
        if (name.startswith(part) if part.startswith("CKM_")
                else part in name):
            return standard
    raise SystemExit(f"no standard listed for approved mechanism {name}; "
                     "add it to STANDARDS in tools/gen_mechanisms_doc.py")


def _min_key(spec: MechSpec) -> str:
    low = approved._min_size(spec)
    if (low, spec.key_size[1]) == (0, 0):
        return "-"
    return f"{low}-{spec.key_size[1]}"


def render_approved() -> str:
    rows = [(m, s) for m, s in sorted(REGISTRY.items())
            if approved.approved_ops(s)]
    lines = [
        "# Approved algorithms",
        "",
        ("Generated from the `approved` column of "
         "`craton_hsm/mechanisms/registry.py` and the policy in "
         "`craton_hsm/core/approved.py` by `tools/gen_mechanisms_doc.py`; "
         "do not edit by hand (a test fails when this page is stale)."),
        "",
        ("These are the mechanisms the approved-only mode "
         "(`[algorithms] fips_approved_only = true`) offers, for the "
         "functions listed. Key sizes are the minimum and maximum the "
         "mode accepts, in the unit PKCS#11 uses for the mechanism (bits "
         "for RSA and EC, bytes for symmetric keys). Key types the mode "
         f"holds: RSA >= {approved.RSA_MIN_BITS} bits; AES 128, 192 and "
         "256 bits; HMAC, generic and HKDF secrets >= "
         f"{approved.SECRET_MIN_BYTES * 8} bits; P-224, P-256, P-384, "
         "P-521, Ed25519, Ed448; ML-DSA and ML-KEM. No algorithm "
         "certificate exists for any row (see gap-analysis.md, G1)."),
        "",
        f"{len(rows)} of {len(REGISTRY)} mechanisms.",
        "",
        "| mechanism | approved functions | key size | standard |",
        "|---|---|---|---|",
    ]
    for mech, spec in rows:
        ops = ", ".join(sorted(op.value for op in
                               approved.approved_ops(spec)))
        lines.append(f"| {_name(mech)} | {ops} | {_min_key(spec)} | "
                     f"{_standard(_name(mech))} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    stale = False
    for output, text in ((OUTPUT, render()),
                         (APPROVED_OUTPUT, render_approved())):
        if "--check" not in sys.argv:
            output.write_text(text)
        elif not output.exists() or output.read_text() != text:
            print(f"{output} is stale: run tools/gen_mechanisms_doc.py",
                  file=sys.stderr)
            stale = True
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

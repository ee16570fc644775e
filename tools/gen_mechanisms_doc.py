"""Generate docs/mechanisms.md from the mechanism registry.

``python tools/gen_mechanisms_doc.py`` rewrites the page;
``--check`` exits 1 when the committed page is stale (a test runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from craton_hsm._generated_ck import CKF, CKM
from craton_hsm.core.approved import ONLY_FOR
from craton_hsm.mechanisms.registry import REGISTRY, MechSpec, Op

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "mechanisms.md"

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


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run tools/gen_mechanisms_doc.py",
                  file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

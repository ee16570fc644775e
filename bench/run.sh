#!/usr/bin/env bash
# `make bench` (issue 9): build the shared p11bench, run it side by side
# on Craton HSM and SoftHSMv2 (compare.sh: A B A B A B, private token
# dirs), take raw OpenSSL figures (openssl_limit.sh) and the self-tests'
# per-test cost, then write bench/REPORT.md with bench/make_report.py.
# Everything measured goes to build/bench-run/; nothing here is a test.
#
# Knobs: BENCH_SECONDS (per op, default 0.5), BENCH_ROUNDS (default 3),
#        BENCH_OPENSSL_SECONDS (whole seconds, default 1),
#        BENCH_ONLY (p11bench --only, e.g. "sha256_64,getinfo"),
#        BENCH_SPLIT_OPS (ops of the audit-off run, comma-separated),
#        BENCH_PROFILE_OPS (ops profiled with cProfile, space-separated).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VPY=${VPY:-.venv/bin/python}
LIB=$ROOT/build/libcraton_hsm.so
SOFTHSM=${SOFTHSM:-/usr/lib/softhsm/libsofthsm2.so}
OUTDIR=$ROOT/build/bench-run
TOOLS=$ROOT/build/bench

# shared/ next to the repository, else /work/shared (as
# tests/mechanisms/vectors.py finds it).
SHARED=${CRATON_SHARED:-$ROOT/../shared}
[ -d "$SHARED/bench" ] || SHARED=/work/shared
[ -f "$SHARED/bench/p11bench.c" ] || { echo "no shared/bench found" >&2; exit 2; }

# The build needs a C compiler, libcrypto and p11-kit headers; the
# reference module is SoftHSMv2.  Install only what is missing.
missing=()
for pkg in softhsm2 libssl-dev libp11-kit-dev gcc make openssl; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# shared/ is read-only: build a private copy with its own Makefile.
rm -rf "$TOOLS" "$OUTDIR"
mkdir -p "$TOOLS" "$OUTDIR"
cp "$SHARED"/bench/* "$TOOLS"/
chmod -R u+w "$TOOLS"
make -s -C "$TOOLS" all

export SECONDS_PER_OP=${BENCH_SECONDS:-0.5} ROUNDS=${BENCH_ROUNDS:-3}
ONLY=()
[ -n "${BENCH_ONLY:-}" ] && ONLY=(--only "$BENCH_ONLY")

mkdir -p "$OUTDIR/craton-data"
SHSM_ENV=$("$TOOLS/softhsm_env.sh" "$OUTDIR/softhsm")
"$VPY" tools/write_manifest.py "$LIB" >/dev/null
ENV_A="CRATON_HSM_DATA_DIR=$OUTDIR/craton-data" ARGS_A=--init \
ENV_B="$SHSM_ENV" ARGS_B=--init NAME_A=craton NAME_B=softhsm2 \
OUT=$OUTDIR/compare \
    "$TOOLS/compare.sh" "$LIB" "$SOFTHSM" "${ONLY[@]}" >"$OUTDIR/compare.txt"

# `openssl speed -seconds` takes whole seconds only.
SECONDS_PER_OP=${BENCH_OPENSSL_SECONDS:-1} \
    "$TOOLS/openssl_limit.sh" "$OUTDIR/openssl-limit.json" \
    >"$OUTDIR/openssl-limit.out"

# Where the time goes: one run with the audit trail off (its share of
# each per-call op) and a cProfile of a few ops through the C host
# (CRATON_HSM_PROFILE, dumped at C_Finalize).  Not part of the ratios.
PER_CALL_OPS=${BENCH_SPLIT_OPS:-getinfo,random_32,sha256_64,hmac_sha256_64,aes256_gcm_enc_1k,aes256_cbcpad_enc_1k,rsa2048_sign_pkcs1_sha256,ecdsa_p256_sign,ed25519_sign,keygen_aes256,keygen_ec_p256,session_open_close,obj_create_token_aes}
printf '[audit]\nenabled = false\n' >"$OUTDIR/audit-off.toml"
mkdir -p "$OUTDIR/audit-off-data" "$OUTDIR/profile"
CRATON_HSM_CONFIG=$OUTDIR/audit-off.toml \
CRATON_HSM_DATA_DIR=$OUTDIR/audit-off-data \
    "$TOOLS/p11bench" --init --seconds "$SECONDS_PER_OP" \
    --only "$PER_CALL_OPS" --skip mt_ --objects 100 --token-objects 100 \
    --json "$OUTDIR/audit-off.json" "$LIB" >"$OUTDIR/audit-off.txt"
for op in ${BENCH_PROFILE_OPS:-sha256_64 ecdsa_p256_sign session_open_close aes256_gcm_enc_1m rsa2048_sign_pkcs1_sha256}; do
    rm -rf "$OUTDIR/profile-data"; mkdir -p "$OUTDIR/profile-data"
    CRATON_HSM_PROFILE=$OUTDIR/profile/$op.prof \
    CRATON_HSM_DATA_DIR=$OUTDIR/profile-data \
        "$TOOLS/p11bench" --init --seconds "$SECONDS_PER_OP" --only "$op" \
        --skip mt_ --objects 100 --token-objects 100 \
        --json "$OUTDIR/profile/$op.json" "$LIB" >/dev/null
done

# The self-tests' own cost, per test (the same code C_Initialize runs).
"$VPY" -m craton_hsm.cli selftest --json >"$OUTDIR/selftest.json"
"$VPY" bench/make_report.py machine --softhsm "$SOFTHSM" \
    >"$OUTDIR/machine.json"

"$VPY" bench/make_report.py report --out bench/REPORT.md \
    --compare "$OUTDIR/compare/compare.json" \
    --openssl "$OUTDIR/openssl-limit.json" \
    --machine "$OUTDIR/machine.json" \
    --selftest "$OUTDIR/selftest.json" \
    --audit "$OUTDIR/craton-data/audit" \
    --audit-off "$OUTDIR/audit-off.json" --profile "$OUTDIR/profile" \
    "$OUTDIR"/compare/A-*.json -- "$OUTDIR"/compare/B-*.json
echo "wrote bench/REPORT.md (raw data in $OUTDIR)"

#!/usr/bin/env bash
# Install the Debian packages the tests drive as real PKCS#11 hosts, only
# when some are missing (apt-get update runs only then).
set -euo pipefail

PACKAGES=(opensc softhsm2 libengine-pkcs11-openssl libp11-kit-dev
          libssl-dev gnutls-bin p11-kit openssl
          openjdk-17-jdk-headless openssh-client openssh-server
          libnss3-tools strace)
missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo"
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"

#!/usr/bin/env bash
# Installs the Debian 12 packages gev needs, if any is missing. Usage:
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh bench      also the peers the benchmarks compare against
set -euo pipefail

packages=(cmake make g++ pkg-config libev-dev libboost-context-dev libboost-dev libssl-dev
          libc-ares-dev openssl dnsmasq-base doctest-dev libbenchmark-dev valgrind
          libcurl4-openssl-dev zlib1g-dev nginx-light clang libclang-rt-14-dev doxygen)
if [[ "${1:-}" == "bench" ]]; then
  packages+=(python3-gevent golang-go nginx-light wrk aria2 wget time gnuplot-nox)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "gev: installing missing packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "gev: run as root, or install them: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
${SUDO:-} apt-get update -qq
${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}"

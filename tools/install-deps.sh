#!/usr/bin/env bash
# Install the Debian packages coop needs to build, test and benchmark,
# only those missing; apt-get update runs at most once.
set -eu
pkgs=(build-essential pkg-config libev-dev libnl-3-dev libnl-route-3-dev
      libc-ares-dev libiniparser-dev libcmocka-dev libbpf-dev clang llvm libclang-rt-14-dev
      iproute2 procps psmisc socat netcat-openbsd curl wrk dnsmasq-base rpcbind
      bind9-dnsutils gnuplot-nox tcpdump jq util-linux)
# `install-deps.sh bench` adds what only the benchmarks compare against.
if [ "${1:-}" = bench ]; then
	pkgs+=(haproxy)
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
		|| missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Packages that ship a service (haproxy) must not leave it running: the
# benchmarks start their own instances.
if printf '%s\n' "${missing[@]}" | grep -qx haproxy && command -v systemctl >/dev/null; then
	systemctl disable --now haproxy >/dev/null 2>&1 || true
fi

#!/bin/sh
# Install the Debian packages kturn needs to build, run and test, plus any
# named as arguments (make bench: scripts/deps.sh gnuplot-nox).
# Idempotent and quiet when everything is present; needs root to install.
set -eu

PKGS="make gcc clang llvm libclang-rt-14-dev pkg-config
libbpf-dev bpftool libelf-dev zlib1g-dev libssl-dev libidn-dev
libcmocka-dev python3 python3-pytest iproute2 coturn openssl help2man man-db
libmicrohttpd-dev python3-prometheus-client $*"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing (run 'make deps' as root)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# coturn's maintainer scripts must not start a system TURN server on our ports.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
fi
trap '[ $added_policy = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

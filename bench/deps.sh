#!/bin/sh
# Debian packages the benchmark suite (bench/run.py) needs on top of
# scripts/deps.sh: coturn (the comparison server), gnuplot (the chart),
# bpftool (sockmap counters), iproute2 (netns topology). Idempotent: installs
# only what is missing, silent when nothing is.
set -eu
PKGS="coturn gnuplot-nox bpftool iproute2 python3"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "bench/deps.sh: missing Debian packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "bench/deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing

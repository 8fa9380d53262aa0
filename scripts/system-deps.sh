#!/usr/bin/env bash
# The Debian packages kaigiroku needs beside its virtualenv, checked (and installed as root).
#   scripts/system-deps.sh run    what drafting and recording use (called by scripts/setup.sh)
#   scripts/system-deps.sh test   that, plus the servers and tools the tests start (`make test`)
# As root with apt-get, missing packages are installed. Otherwise `run` only warns (drafting
# works without PortAudio; recording does not), and `test` prints the one command to run and
# fails, so that the suite never starts without what its tests need.
set -euo pipefail
what=${1:-run}

missing=()
need() {  # need PACKAGE CHECK...: the package is missing when the check fails
  local package=$1; shift
  "$@" >/dev/null 2>&1 || missing+=("$package")
}
has() { command -v "$1"; }
has_lib() { ldconfig -p | grep -q "$1"; }
has_pg() { command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; }  # Debian keeps initdb off PATH

need libportaudio2 has_lib libportaudio.so.2              # sounddevice: recording
if [ "$what" = test ]; then
  need pulseaudio has pulseaudio                          # the recorder's tests: a null sink is the mic
  need pulseaudio-utils has paplay
  need chromium has chromium                              # the review page's browser tests (Playwright)
  need util-linux has unshare                             # no-network, read-only and full-disk tests
  need postgresql has_pg                                  # the jobs' tests on PostgreSQL (a private server)
  need redis-server has redis-server                      # the service's tests on a Redis queue (a private server)
  need iproute2 has ip                                    # the service's worker in its own network namespace
  need openssl has openssl                                # the server's TLS test (a self-signed certificate)
fi

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null; }
  exit 0
fi
if [ "$what" = test ]; then
  echo "The tests need these system packages. Install them, then run make test again:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "note: ${missing[*]} missing (recording will not work): sudo apt-get install -y ${missing[*]}" >&2

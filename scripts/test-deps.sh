#!/usr/bin/env bash
# What the test suite needs beyond node_modules, found and installed before any test runs: the
# first step of `npm test` and of .ci/run. On Debian/Ubuntu it installs what is missing with
# apt-get (as root, or with sudo); where it cannot (no apt-get, not root and no usable sudo), it
# changes nothing, prints the exact command to run, and exits 1, so no test starts half-equipped.
#
#   scripts/test-deps.sh            check, install what is missing
#   scripts/test-deps.sh --check    check only: list what is missing and the command, exit 1 if any
#
# One line per dependency below: `need NAME CHECK FIX`.
#   NAME   what the suite calls it (shown in messages)
#   CHECK  a shell command that succeeds when it is usable
#   FIX    `apt:PACKAGE…` (Debian packages), or a command run as root from the repository's root
#          that builds it (after the packages are installed, so it may use them)
# A dependency a helper script builds, e.g. the Debian 13 chroot with PHP/Laravel of the real-Laravel
# tests, is one more line of that second kind (its script checks and builds, idempotently):
# (the real-Laravel rig at the end of the list is one).
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=""
[ "${1:-}" = "--check" ] && check_only=1

has() { command -v "$1" >/dev/null 2>&1; }

apt_missing=()
cmd_missing=()
names=()
need() {
  local name=$1 check=$2 fix=$3
  if (eval "$check") >/dev/null 2>&1; then return 0; fi
  names+=("$name")
  case "$fix" in
    apt:*) for p in ${fix#apt:}; do [[ " ${apt_missing[*]} " == *" $p "* ]] || apt_missing+=("$p"); done ;;
    *) cmd_missing+=("$fix") ;;
  esac
}

# The brokers: test/helpers/brokers.ts starts private redis-server / nats-server processes on free
# ports; the JetStream history tests need a nats-server that knows `-js`.
need redis-server 'has redis-server' apt:redis-server
need 'nats-server (with JetStream, -js)' 'has nats-server && nats-server --help 2>&1 | grep -q -- "--jetstream"' apt:nats-server
# Headless Chromium for the Livewire end-to-end tests (driven by playwright-core, no download).
need chromium "[ -x \"\${WIREMESH_CHROMIUM:-/usr/bin/chromium}\" ]" apt:chromium
# nginx in front of wiremesh for the proxy tests (client addresses through X-Forwarded-For).
need nginx 'has nginx || [ -x /usr/sbin/nginx ]' apt:nginx
# `ip` (extra loopback addresses for the IPv6 and region tests) and `ss` (open sockets).
need 'ip, ss' 'has ip && has ss || { [ -x /usr/sbin/ip ] && has ss; }' apt:iproute2
# The rolling-deploy tests build an older commit with `git archive`.
need git 'has git' apt:git
# The real-Laravel tests (test/helpers/laravel.ts): a Debian 13 root with PHP 8.4 and Debian's
# Laravel, built by .ci/laravel (debootstrap; minutes the first time, cached in /var/tmp).
need 'real-Laravel rig (Debian 13 root, .ci/laravel)' '.ci/laravel --check' '.ci/laravel >/dev/null'

if [ ${#names[@]} -eq 0 ]; then
  exit 0
fi

echo "test dependencies missing: $(printf '%s, ' "${names[@]}" | sed 's/, $//')" >&2

# How to become root: already root, or sudo that works without a password (or may ask on a terminal).
as_root=""      # prefix of the commands: "" as root, "sudo " otherwise
can_root=""
who="root"
if [ "$(id -u)" = 0 ]; then
  can_root=1
elif has sudo; then
  as_root="sudo "
  who="a user who may sudo"
  if sudo -n true 2>/dev/null || [ -t 0 ]; then can_root=1; fi
fi

commands=()
if [ ${#apt_missing[@]} -gt 0 ]; then
  commands+=("${as_root}apt-get update && ${as_root}env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${apt_missing[*]}")
fi
for c in "${cmd_missing[@]}"; do commands+=("cd $PWD && ${as_root}$c"); done

stop() {
  echo "$1" >&2
  echo "as $who, run:" >&2
  for c in "${commands[@]}"; do echo "  $c" >&2; done
  echo "then run the tests again (npm test)." >&2
  exit 1
}

[ -z "$check_only" ] || stop "(--check: nothing installed)"
if [ ${#apt_missing[@]} -gt 0 ] && ! has apt-get; then
  stop "no apt-get here: install the equivalents of the Debian packages ${apt_missing[*]} with this system's package manager; on Debian/Ubuntu the command is below."
fi
[ -n "$can_root" ] || stop "installing them needs root: this is user $(id -un 2>/dev/null || id -u), not root, and sudo is not usable here."

if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "installing: ${apt_missing[*]}" >&2
  ${as_root}apt-get update -q
  ${as_root}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
  # The packages' own services are not needed: the tests start private instances.
  for svc in redis-server nginx; do
    if [[ " ${apt_missing[*]} " == *" $svc "* ]]; then (${as_root}service "$svc" stop || true) >/dev/null 2>&1; fi
  done
fi
for c in "${cmd_missing[@]}"; do
  echo "running: $c" >&2
  ${as_root}sh -c "$c"
done

# Checked again: a package that installed but does not do the job (e.g. a nats-server too old for
# JetStream) stops here rather than in the middle of the suite.
exec "$0" --check

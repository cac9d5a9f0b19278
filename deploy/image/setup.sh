#!/bin/sh
# The build steps of wiremesh's image, shared by the Dockerfile and by .ci/image (which builds the
# same root filesystem without Docker, from debootstrap). One script so the two cannot drift.
#
#   setup.sh app SRC DEST   build stage (Node 24 + npm): npm ci, build and `npm pack` SRC, then
#                           install that tarball with production dependencies into DEST
#                           (/opt/wiremesh), keeping only this platform's native uWebSockets.js binary
#   setup.sh runtime        final stage (Debian 13 slim): CA certificates, tini, jemalloc (linked as
#                           /usr/local/lib/libjemalloc.so.2 on every architecture), user wiremesh (10001)
#   setup.sh check          final stage: the native transport loads with the image's Node, and jemalloc
#                           is the allocator when LD_PRELOAD names it; fails otherwise
set -eu

step=${1:?usage: setup.sh app SRC DEST | runtime | check}
APP_DIR=/opt/wiremesh

case "$step" in
app)
  src=${2:?SRC}
  dest=${3:?DEST}
  pack=$(mktemp -d)
  (cd "$src" && npm ci --no-audit --no-fund && npm run build --silent && npm pack --silent --pack-destination "$pack")
  mkdir -p "$dest"
  cd "$dest"
  printf '{"name":"wiremesh-image","private":true}\n' > package.json
  npm install --omit=dev --no-audit --no-fund --no-package-lock "$pack"/wiremesh-*.tgz
  rm -rf "$pack"
  # The native packages ship binaries for every OS, CPU and Node ABI (~230 MB): keep this one.
  abi=$(node -p process.versions.modules)
  keep="uws_linux_$(node -p process.arch)_${abi}.node"
  find node_modules -name 'uws_*.node' ! -name "$keep" -delete
  # @trufflesuite/uws-js-unofficial serves Node <= 20 only; the image runs Node 24.
  [ "$abi" -gt 115 ] && rm -rf node_modules/@trufflesuite
  npm cache clean --force >/dev/null 2>&1
  ;;
runtime)
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # jemalloc: glibc's malloc keeps what a burst of work freed (bench/RESULTS.md, "Memory over an
  # hour"); the Dockerfile preloads it through LD_PRELOAD, one path for amd64 and arm64.
  apt-get install -y -q --no-install-recommends ca-certificates tini libjemalloc2
  ln -sf "$(dpkg -L libjemalloc2 | grep '/libjemalloc\.so\.2$' | head -1)" /usr/local/lib/libjemalloc.so.2
  rm -rf /var/lib/apt/lists/*
  getent group wiremesh >/dev/null || groupadd --system --gid 10001 wiremesh
  getent passwd wiremesh >/dev/null ||
    useradd --system --uid 10001 --gid wiremesh --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin wiremesh
  mkdir -p /etc/wiremesh
  ;;
check)
  node --input-type=module -e "
    const { loadNative } = await import('$APP_DIR/node_modules/wiremesh/dist/src/transport/uws-load.js');
    const native = await loadNative();
    console.log('native transport:', native.package, 'on Node', process.version);
  "
  case "${LD_PRELOAD:-}" in
  *jemalloc*)
    node -e "
      const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
      if (!maps.includes('libjemalloc')) { console.error('LD_PRELOAD names jemalloc but it is not loaded'); process.exit(1); }
      console.log('allocator: jemalloc');
    "
    ;;
  esac
  ;;
*)
  echo "setup.sh: unknown step $step" >&2
  exit 2
  ;;
esac

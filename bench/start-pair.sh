#!/usr/bin/env bash
# Starts a private broker and two nodes of one server on loopback, in the foreground, for
# `bench.mjs compare --a-start/--b-start` (which stops the whole process group afterwards).
# With `mesh` (wiremesh only) there is no broker: the nodes listen for each other on BROKER_PORT
# and BROKER_PORT+1, each listing the other as its peer.
# Usage: bench/start-pair.sh wiremesh|soketi redis|nats|mesh PORT1 PORT2 BROKER_PORT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
server=$1 broker=$2 p1=$3 p2=$4 bp=$5
soketi=${SOKETI_START:-$here/../../shared/peers/soketi/start.sh}
trap 'trap - TERM EXIT; kill -KILL 0' TERM INT EXIT
if [ "$broker" = redis ]; then
  redis-server --port "$bp" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
elif [ "$broker" = nats ]; then
  nats-server -a 127.0.0.1 -p "$bp" >/dev/null 2>&1 &
fi
sleep 0.3
node_cmd() {
  local port=$1 i=$2
  if [ "$server" = soketi ]; then
    [ "$broker" = redis ] || { echo "soketi pair: redis only" >&2; exit 2; }
    "$soketi" "$port" SOKETI_ADAPTER_DRIVER=redis SOKETI_DB_REDIS_HOST=127.0.0.1 SOKETI_DB_REDIS_PORT="$bp"
  else
    local cluster
    case "$broker" in
      redis) cluster=("WIREMESH_REDIS_URL=redis://127.0.0.1:$bp") ;;
      nats) cluster=("WIREMESH_NATS_SERVERS=nats://127.0.0.1:$bp") ;;
      mesh) cluster=(WIREMESH_MESH_HOST=127.0.0.1 "WIREMESH_MESH_PORT=$((bp + i))"
                     "WIREMESH_MESH_PEERS=127.0.0.1:$((bp + 1 - i))" WIREMESH_MESH_SECRET=bench-mesh-secret-of-at-least-32-bytes) ;;
      *) echo "unknown broker $broker: redis, nats or mesh" >&2; exit 2 ;;
    esac
    env WIREMESH_PORT="$port" WIREMESH_HOST=127.0.0.1 WIREMESH_LOG_LEVEL=warn WIREMESH_CLUSTER_DRIVER="$broker" "${cluster[@]}" \
      WIREMESH_APP_CLIENT_EVENTS=true WIREMESH_APP_USER_AUTHENTICATION=true WIREMESH_APP_MAX_PRESENCE_MEMBERS=1000000 \
      WIREMESH_MAX_CONNECTIONS=0 WIREMESH_MAX_CONNECTIONS_PER_IP=0 \
      node "$here/../bin/wiremesh.js" start
  fi
}
node_cmd "$p1" 0 &
node_cmd "$p2" 1 &
wait

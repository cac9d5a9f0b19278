#!/bin/sh
# Kernel settings for bench/capacity.mjs (100,000 loopback connections on one host), as root.
# Raise-only and idempotent: a value already at or above the target is left alone. Every setting
# here is per network namespace or host-wide as noted; run it in the namespace the bench runs in.
# Prints each value before and after. Not needed for small runs (the bench checks what it needs).
set -eu

raise() { # raise NAME TARGET WHY
  name=$1 target=$2 why=$3
  path=/proc/sys/$(echo "$name" | tr . /)
  if [ ! -w "$path" ]; then
    echo "$name: not writable here ($why)"
    return
  fi
  have=$(cat "$path")
  if [ "$have" -ge "$target" ]; then
    echo "$name = $have (>= $target, kept): $why"
  else
    echo "$target" >"$path"
    echo "$name: $have -> $(cat "$path"): $why"
  fi
}

# Each worker's accept queue (SO_REUSEPORT: one per worker) takes bursts of handshakes from
# several client processes; the listen backlog Node asks for (511) is capped by somaxconn.
raise net.core.somaxconn 4096 'cap of each listen queue (per netns)'
# Half-open connections waiting for their ACK during the connect burst (per netns).
raise net.ipv4.tcp_max_syn_backlog 8192 'SYN queue during the connect burst (per netns)'
# Connection tracking, where loaded, holds one entry per loopback connection (per netns).
if [ -e /proc/sys/net/netfilter/nf_conntrack_max ]; then
  raise net.netfilter.nf_conntrack_max 262144 'one conntrack entry per connection, where conntrack is loaded'
fi
# Host-wide open files: 100,000 connections are 200,000 sockets (both ends) plus the processes' own.
raise fs.file-max 400000 'open files on the host (host-wide)'

# Not changed, reported: the ephemeral port range (each loopback source address has its own set
# of ports for a given server port, so the bench spreads clients over 127.0.0.x instead) and the
# TCP memory limits in pages (idle sockets hold no buffers; a broadcast queues one small skb each).
sysctl net.ipv4.ip_local_port_range net.ipv4.tcp_mem 2>/dev/null || true
echo "open files per process (ulimit -n): $(ulimit -n) soft, $(ulimit -Hn) hard"

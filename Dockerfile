# wiremesh: Node 24 on Debian 13 (trixie, glibc 2.41, which the native uWebSockets.js binary needs).
# The steps live in deploy/image/setup.sh, which .ci/image also runs to build the same root
# filesystem without a Docker engine. See docs/deploy.md.
#
#   docker build -t wiremesh .
#   docker run -p 6001:6001 -e REVERB_APP_ID=… -e REVERB_APP_KEY=… -e REVERB_APP_SECRET=… wiremesh
#   docker run -v ./wiremesh.json:/etc/wiremesh/config.json:ro -e WIREMESH_CONFIG=/etc/wiremesh/config.json wiremesh

FROM node:24-trixie-slim AS build
WORKDIR /src
COPY . .
RUN sh deploy/image/setup.sh app /src /opt/wiremesh

FROM debian:trixie-slim
COPY deploy/image/setup.sh /usr/local/lib/wiremesh/setup.sh
RUN sh /usr/local/lib/wiremesh/setup.sh runtime
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /opt/wiremesh /opt/wiremesh
# jemalloc instead of glibc's malloc: RSS returns after bursts of work (bench/RESULTS.md, "Memory
# over an hour" parts 2 and 3), for ~8 MiB more at start and ~0.5 KiB more per connection on
# either transport. Unset it (`-e LD_PRELOAD=`) to run on glibc's malloc.
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2
RUN sh /usr/local/lib/wiremesh/setup.sh check

# No WIREMESH_HOST/PORT here: they would shadow REVERB_SERVER_PORT, PORT and Fly's `::` default.
ENV NODE_ENV=production
# 6001: WebSockets, the HTTP API, /health, /ready and /metrics (one port). 6100: the peer mesh.
EXPOSE 6001 6100
USER 10001:10001
WORKDIR /opt/wiremesh
# tini is PID 1: it forwards SIGTERM to wiremesh (which stops accepting, tells clients to reconnect
# elsewhere and exits within shutdownGraceMs) and reaps zombies.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WIREMESH_PORT||process.env.REVERB_SERVER_PORT||process.env.SOKETI_PORT||process.env.PORT||6001)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/node", "/opt/wiremesh/node_modules/wiremesh/bin/wiremesh.js"]
CMD ["start"]

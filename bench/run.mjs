#!/usr/bin/env node
/**
 * `npm run bench [-- SCENARIO [harness flags]]`: wiremesh side by side with Soketi 1.6.1 through
 * the Pusher-protocol bench harness (`compare`: A B A B …, a fresh server per run, medians).
 *
 *   PUSHER_BENCH=/path/to/bench/bench.mjs   the harness (default: shared/bench/bench.mjs, shared = ../shared or ../../shared)
 *   SOKETI_START=/path/to/start.sh          Soketi's launcher (default: shared/peers/soketi/start.sh);
 *                                           when missing, wiremesh is compared with itself on the ws transport
 *   ROUNDS=3                                 rounds per side
 *   WORKERS=2                                wiremesh side runs that many worker processes (`workers`)
 *   TRANSPORT=ws                             wiremesh side uses that transport (the portable one, as on Node 22/24)
 *   WIREMESH_NODE=/path/to/node              wiremesh side runs on that Node.js (e.g. 22 or 24; Soketi stays on the default)
 *   NODE_FLAGS="--min-semi-space-size=8"     node flags of the wiremesh side (B); A_NODE_FLAGS: of side A when A=wiremesh
 *   BENCH_PORT=6201                          side A listens there, side B on the next port
 *   A=wiremesh                               side A is wiremesh (one worker, the same TRANSPORT) instead of Soketi
 *                                            (with WORKERS: what several workers buy on this host)
 *   A_ROOT=/path/to/another/checkout         side A is wiremesh built there (before/after a change, same run;
 *                                            implies A=wiremesh; that checkout must be built)
 *
 * Examples:
 *   npm run bench                                    # fanout, 1,000 clients, max rate
 *   npm run bench -- connect --clients 5000
 *   npm run bench -- channels --channels 2000 --subs-per-channel 2 --events 40000
 *   npm run bench -- fanout --clients 100 --rate 100 --events 2000    # latency at a low rate
 *   npm run bench -- connect --clients 19000 --connect-concurrency 500 # idle capacity (ulimit -n 20000)
 *   npm run bench -- presence --clients 1000
 * For a CPU profile of the hot paths: WIREMESH_PROFILE=1 npm run bench (writes .cpuprofile files to bench/profiles/).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { compare, here, root, soketi } from './compare.mjs';

const args = process.argv.slice(2);
const scenario = args.length > 0 ? args : ['fanout', '--clients', '1000', '--events', '2000'];
const A_PORT = Number(process.env.BENCH_PORT ?? 6201);
const B_PORT = A_PORT + 1;
const profile = process.env.WIREMESH_PROFILE ? `--cpu-prof --cpu-prof-dir=${join(here, 'profiles')} ` : '';
if (profile) mkdirSync(join(here, 'profiles'), { recursive: true });
const wiremesh = (port, transport = 'auto', workers = '1', nodeFlags = '', from = root) =>
  `env WIREMESH_PORT=${port} WIREMESH_HOST=127.0.0.1 WIREMESH_LOG_LEVEL=warn WIREMESH_TRANSPORT=${transport} WIREMESH_WORKERS=${workers} ` +
  `WIREMESH_APP_CLIENT_EVENTS=true WIREMESH_APP_USER_AUTHENTICATION=true WIREMESH_APP_MAX_PRESENCE_MEMBERS=1000000 ` +
  // The load generator opens every socket from one address, up to the fd limit: no connection caps.
  `WIREMESH_MAX_CONNECTIONS=0 WIREMESH_MAX_CONNECTIONS_PER_IP=0 ` +
  `${process.env.WIREMESH_NODE ?? 'node'} ${nodeFlags ? `${nodeFlags} ` : ''}${profile}${join(from, 'bin/wiremesh.js')} start`;

const workers = process.env.WORKERS ?? '1';
const [aName, aStart] = process.env.A_ROOT
  ? [
      'wiremesh-before',
      wiremesh(A_PORT, process.env.TRANSPORT ?? 'auto', workers, process.env.A_NODE_FLAGS ?? '', process.env.A_ROOT),
    ]
  : process.env.A === 'wiremesh'
    ? ['wiremesh-1w', wiremesh(A_PORT, process.env.TRANSPORT ?? 'auto', '1', process.env.A_NODE_FLAGS ?? '')]
    : existsSync(soketi)
      ? ['soketi', `${soketi} ${A_PORT}`]
      : ['wiremesh-ws', wiremesh(A_PORT, 'ws')];
const transport = process.env.TRANSPORT ?? 'auto';
const nodeTag = process.env.WIREMESH_NODE
  ? `-node${spawnSync(process.env.WIREMESH_NODE, ['-p', 'process.versions.node.split(".")[0]']).stdout.toString().trim()}`
  : '';
const bName = `wiremesh${workers === '1' ? '' : `-${workers}w`}${transport === 'auto' ? '' : `-${transport}`}${nodeTag}`;
compare(
  { name: aName, flags: `--ws-url ws://127.0.0.1:${A_PORT}`, start: aStart },
  {
    name: bName,
    flags: `--ws-url ws://127.0.0.1:${B_PORT}`,
    start: wiremesh(B_PORT, transport, workers, process.env.NODE_FLAGS ?? ''),
  },
  scenario,
);

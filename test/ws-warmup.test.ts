/**
 * `wiremesh start` on the `ws` transport warms its code up on a throwaway loopback port before the
 * real one opens (src/transport/ws-warmup.ts). In-process: the warm-up connects and posts as many
 * times as asked, leaves nothing listening, and sees no socket fail. The real CLI: the warm-up runs
 * before `wiremesh listening`, none of it reaches the core (no connection, no message counted on
 * `/metrics`), clients are served as before; `WIREMESH_WARMUP=off` skips it; the native transport
 * never runs it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { createLogger } from '../src/log/logger.js';
import { WsTransport } from '../src/transport/ws.js';
import { warmUp } from '../src/transport/ws-warmup.js';
import { connected, pusherClient, serverSdk, until, type PusherClient } from './helpers/clients.js';
import { ensureDead, healthy, jsonLines, runCli, type CliProcess } from './helpers/api-process.js';
import { availableTransports } from './helpers/api-http.js';
import { freePort } from './helpers/server.js';

const procs: CliProcess[] = [];
const clients: PusherClient[] = [];
after(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) await ensureDead(p);
});

const OPTIONS = {
  host: '127.0.0.1',
  port: 0,
  maxFrameBytes: 65_536,
  maxRequestBodyBytes: 1 << 20,
  maxBufferedBytes: 1 << 20,
};

async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

async function start(env: NodeJS.ProcessEnv): Promise<{ proc: CliProcess; port: number }> {
  const port = await freePort();
  const proc = runCli(['start'], {
    WIREMESH_PORT: String(port),
    WIREMESH_HOST: '127.0.0.1',
    WIREMESH_LOG_LEVEL: 'debug',
    ...env,
  });
  procs.push(proc);
  await healthy(proc, port, 20_000);
  return { proc, port };
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const series = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return series.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('ws transport warm-up', () => {
  it('connects and posts as often as asked, then leaves nothing listening', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ level: 'debug', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    let made = 0;
    await warmUp((o) => (made++, new WsTransport(o, logger)), OPTIONS, logger, { clients: 25, requests: 15 });
    assert.equal(made, 1);
    const done = lines.find((l) => l.msg === 'ws transport warmed up');
    assert.ok(done, JSON.stringify(lines));
    assert.equal(done.clients, 25);
    assert.equal(done.requests, 15);
    assert.ok(await refused(done.port as number), 'the warm-up port is closed');
    assert.ok(!lines.some((l) => l.level === 50 || l.level === 40), JSON.stringify(lines));
  });

  it('the real CLI warms up before it listens, counts none of it, and serves; WIREMESH_WARMUP=off skips it', async () => {
    const { proc, port } = await start({ WIREMESH_TRANSPORT: 'ws' });
    const lines = jsonLines(proc.stderr());
    const warm = lines.findIndex((l) => l.msg === 'ws transport warmed up');
    const listening = lines.findIndex((l) => l.msg === 'wiremesh listening');
    assert.ok(warm >= 0 && warm < listening, proc.stderr());
    assert.equal(lines[warm]!.clients, 200);
    assert.equal(await metric(port, 'wiremesh_connections_total'), 0, 'no warm-up connection reached the core');
    assert.equal(await metric(port, 'wiremesh_http_api_calls_total'), 0);
    const client = pusherClient(port);
    clients.push(client);
    await connected(client);
    const got: unknown[] = [];
    const channel = client.subscribe('warm');
    await new Promise<void>((resolve) => channel.bind('pusher:subscription_succeeded', () => resolve()));
    channel.bind('tick', (d: unknown) => got.push(d));
    await serverSdk(port).trigger('warm', 'tick', { n: 1 });
    await until(() => got.length === 1, 'the event');
    assert.equal(await metric(port, 'wiremesh_connections_total'), 1);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);

    const off = await start({ WIREMESH_TRANSPORT: 'ws', WIREMESH_WARMUP: 'off' });
    assert.ok(!jsonLines(off.proc.stderr()).some((l) => l.msg === 'ws transport warmed up'));
    off.proc.child.kill('SIGTERM');
    assert.equal(await off.proc.exited, 0);
  });

  it('the native transport does not warm up', async (t) => {
    if (!(await availableTransports()).includes('uws')) return t.skip('native transport not loadable here');
    const { proc } = await start({ WIREMESH_TRANSPORT: 'uws' });
    assert.ok(!jsonLines(proc.stderr()).some((l) => l.msg === 'ws transport warmed up'));
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  });
});

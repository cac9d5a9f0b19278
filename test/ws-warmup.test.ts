/**
 * `wiremesh start` on the `ws` transport warms its code up through a throwaway node on a loopback
 * port before the real one opens (src/cli/warm-up.ts). In-process: every subscription (public,
 * private, presence) is confirmed and every event reaches every open socket, so the signatures
 * and paths it drives are the real ones; afterwards nothing of it is left listening or connected.
 * The real CLI: the warm-up runs before `wiremesh listening`, none of it reaches the real node (no
 * connection, no API call counted on `/metrics`), clients are served as before;
 * `WIREMESH_WARMUP=off` skips it; the native transport never runs it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { warmUp } from '../src/cli/warm-up.js';
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

/** TCP servers and sockets this process holds. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
}

async function start(env: NodeJS.ProcessEnv): Promise<{ proc: CliProcess; port: number }> {
  const port = await freePort();
  const proc = runCli(['start'], { WIREMESH_PORT: String(port), WIREMESH_HOST: '127.0.0.1', ...env });
  procs.push(proc);
  await healthy(proc, port, 20_000);
  return { proc, port };
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const series = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return series.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('warm-up before the port opens (ws transport)', () => {
  it('every subscription is confirmed and every event delivered; nothing is left open', async () => {
    const before = tcpHandles();
    const done = await warmUp({ clients: 30, events: 40 });
    assert.equal(done.subscribed, 30 * 3, 'public, private and presence, for each client');
    assert.equal(done.received, 40 * 10, 'each event on each of the 10 open sockets');
    await until(() => tcpHandles() <= before, 'no warm-up socket or server left', 3_000);
  });

  it('the real CLI warms up before it listens, counts none of it, and serves; WIREMESH_WARMUP=off skips it', async () => {
    const { proc, port } = await start({ WIREMESH_TRANSPORT: 'ws' });
    const lines = jsonLines(proc.stderr());
    const warm = lines.findIndex((l) => l.msg === 'ws transport warmed up');
    const listening = lines.findIndex((l) => l.msg === 'wiremesh listening');
    assert.ok(warm >= 0 && warm < listening, proc.stderr());
    assert.equal(lines[warm]!.subscribed, 900);
    assert.equal(lines[warm]!.received, 20_000);
    assert.equal(await metric(port, 'wiremesh_connections_total'), 0, 'no warm-up connection reached the node');
    assert.equal(await metric(port, 'wiremesh_http_api_calls_total'), 0, 'no warm-up API call reached the node');
    const client = pusherClient(port);
    clients.push(client);
    await connected(client);
    const got: unknown[] = [];
    const channel = client.subscribe('warm-0');
    await new Promise<void>((resolve) => channel.bind('pusher:subscription_succeeded', () => resolve()));
    channel.bind('tick', (d: unknown) => got.push(d));
    await serverSdk(port).trigger('warm-0', 'tick', { n: 1 });
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

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
import { delivers, until } from './helpers/clients.js';
import { ensureDead, jsonLines, startCli, type CliProcess } from './helpers/api-process.js';
import { availableTransports } from './helpers/api-http.js';
import { metric } from './helpers/fuzz-watch.js';

const procs: CliProcess[] = [];
after(async () => {
  for (const p of procs) await ensureDead(p);
});

/** TCP servers and sockets this process holds. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
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
    const { proc, port } = await startCli(procs, { WIREMESH_TRANSPORT: 'ws' });
    const lines = jsonLines(proc.stderr());
    const warm = lines.findIndex((l) => l.msg === 'ws transport warmed up');
    const listening = lines.findIndex((l) => l.msg === 'wiremesh listening');
    assert.ok(warm >= 0 && warm < listening, proc.stderr());
    assert.equal(lines[warm]!.subscribed, 900);
    assert.equal(lines[warm]!.received, 20_000);
    assert.equal(await metric(port, 'wiremesh_connections_total'), 0, 'no warm-up connection reached the node');
    assert.equal(await metric(port, 'wiremesh_http_api_calls_total'), 0, 'no warm-up API call reached the node');
    await delivers(port, 'warm-0');
    assert.equal(await metric(port, 'wiremesh_connections_total'), 1);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);

    const off = await startCli(procs, { WIREMESH_TRANSPORT: 'ws', WIREMESH_WARMUP: 'off' });
    assert.ok(!jsonLines(off.proc.stderr()).some((l) => l.msg === 'ws transport warmed up'));
    off.proc.child.kill('SIGTERM');
    assert.equal(await off.proc.exited, 0);
  });

  it('the native transport does not warm up', async (t) => {
    if (!(await availableTransports()).includes('uws')) return t.skip('native transport not loadable here');
    const { proc } = await startCli(procs, { WIREMESH_TRANSPORT: 'uws' });
    assert.ok(!jsonLines(proc.stderr()).some((l) => l.msg === 'ws transport warmed up'));
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
  });
});

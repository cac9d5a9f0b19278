import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRelay } from '../src/shared-relay.js';
import { connectShared, portSocket, type SharedSocket } from '../src/shared-client.js';
import type { PortLike } from '../src/shared-protocol.js';
import { installLivewireTransport } from '../src/transport.js';
import { FakePusher, livewire3, page, stubHttp, tick } from './fake-pusher.js';

page.install();

const ports: MessagePort[] = [];
after(() => {
  for (const port of ports) port.close();
});

/** A worker-side relay over one FakePusher, and pages connected to it through MessageChannels. */
function setup() {
  const sockets: FakePusher[] = [];
  const relay = createRelay(() => {
    const socket = new FakePusher();
    sockets.push(socket);
    return socket;
  });
  const open = (): SharedSocket => {
    const channel = new MessageChannel();
    ports.push(channel.port1, channel.port2);
    relay.attach(channel.port2 as unknown as PortLike);
    return portSocket(channel.port1 as unknown as PortLike, 'app-key', { cluster: 'mt1' });
  };
  return { relay, sockets, open };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await tick(1);
  assert.ok(condition());
}

test('two pages share ONE socket; answers go back only to the page that asked', async () => {
  const { relay, sockets, open } = setup();
  const a = open();
  const b = open();
  await until(() => relay.pages === 2 && a.connection.state === 'connected' && b.connection.state === 'connected');
  assert.equal(sockets.length, 1, 'one connection for every page');
  const seenByA: unknown[] = [];
  const seenByB: unknown[] = [];
  a.connection.bind('message', (m) => seenByA.push(m));
  b.connection.bind('message', (m) => seenByB.push(m));

  assert.equal(
    a.send_event('wiremesh:request', { id: 'a-1', method: 'POST', path: '/livewire/update', headers: {}, body: '' }),
    true,
  );
  const socket = sockets[0]!;
  await until(() => socket.requests().length === 1);
  socket.respond('a-1', { body: 'for a' });
  socket.deliver('pusher:pong', {});
  await until(() => seenByA.length === 2 && seenByB.length === 1);
  assert.deepEqual(seenByB, [{ event: 'pusher:pong', data: {} }], 'other frames go to every page');
  assert.equal(
    (seenByA.find((m) => (m as { event: string }).event === 'wiremesh:response') as { data: { body: string } }).data
      .body,
    'for a',
  );
});

test('state changes reach every page; a request the worker cannot send comes back as a fallback', async () => {
  const { sockets, open } = setup();
  const a = open();
  await until(() => a.connection.state === 'connected');
  const changes: unknown[] = [];
  a.connection.bind('state_change', (c) => changes.push(c));
  const socket = sockets[0]!;
  socket.writable = false;
  const seen: Array<{ event: string; data: unknown }> = [];
  a.connection.bind('message', (m) => seen.push(m));
  a.send_event('wiremesh:request', { id: 'a-2', method: 'POST', path: '/livewire/update', headers: {}, body: '' });
  await until(() => seen.length === 1);
  assert.deepEqual(seen[0], {
    event: 'wiremesh:fallback',
    data: { id: 'a-2', reason: 'shared worker socket not connected', code: 0 },
  });
  socket.setState('unavailable');
  await until(() => changes.length === 1);
  assert.deepEqual(changes, [{ previous: 'connected', current: 'unavailable' }]);
  assert.equal(a.send_event('wiremesh:request', { id: 'a-3' }), false, 'the page sees the socket is down');
});

test('a page that leaves has its requests in flight aborted', async () => {
  const { relay, sockets, open } = setup();
  const a = open();
  await until(() => a.connection.state === 'connected');
  a.send_event('wiremesh:request', { id: 'gone-1', method: 'POST', path: '/livewire/update', headers: {}, body: '' });
  const socket = sockets[0]!;
  await until(() => socket.requests().length === 1);
  a.close();
  await until(() => relay.pages === 0);
  assert.deepEqual(socket.aborts(), ['gone-1']);
});

test('the Livewire transport runs over the shared socket', async () => {
  const http = stubHttp();
  const { sockets, open } = setup();
  const shared = open();
  await until(() => shared.connection.state === 'connected');
  const handle = installLivewireTransport({ pusher: shared });
  try {
    const pending = fetch(...livewire3());
    const socket = sockets[0]!;
    const frame = await socket.request();
    socket.respond(frame.id, { body: '{"components":[1]}' });
    assert.deepEqual(await (await pending).json(), { components: [1] });
    assert.equal(http.length, 0);
  } finally {
    handle.uninstall();
  }
});

test('without SharedWorker, connectShared opens a per-page pusher-js connection', () => {
  assert.equal(typeof (globalThis as { SharedWorker?: unknown }).SharedWorker, 'undefined');
  const made: Array<[string, Record<string, unknown>]> = [];
  class Pusher extends FakePusher {
    constructor(key: string, options: Record<string, unknown>) {
      super();
      made.push([key, options]);
    }
    disconnect(): void {
      this.setState('disconnected');
    }
  }
  const socket = connectShared({
    workerUrl: '/js/wiremesh-shared-worker.js',
    key: 'app-key',
    options: { cluster: 'mt1' },
    Pusher,
  });
  assert.equal(socket.shared, false);
  assert.deepEqual(made, [['app-key', { cluster: 'mt1' }]]);
  assert.equal(socket.connection.state, 'connected');
  socket.close();
  assert.equal(socket.connection.state, 'disconnected');
  assert.throws(() => connectShared({ workerUrl: '/w.js', key: 'k' }), {
    name: 'ConfigError',
    message:
      'connectShared: SharedWorker is not available and no Pusher class was given (options.Pusher or window.Pusher)',
  });
});

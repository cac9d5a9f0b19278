/**
 * The core over fakes of its ports: a recording ChannelStreams, a fake fan-out and sockets, a
 * recording link and peers. A publish goes down into the port once and never comes back up; a
 * subscribe with a resume request leaves the attach to the port; a close cancels and leaves.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StaticAppDirectory } from '../apps/directory.js';
import type { ClusterLink } from '../cluster/types.js';
import { ConnectionLimits } from '../limits/connection-limits.js';
import { Refusals } from '../limits/refusals.js';
import { silentLogger } from '../log/logger.js';
import { createServerMetrics } from '../metrics/server-metrics.js';
import { PresenceService } from '../presence/service.js';
import { channelAuthString, hmacHex } from '../protocol/signature.js';
import type { SocketHandler } from '../transport/types.js';
import { ChannelCache } from './cache.js';
import type { PeerCommands } from './cluster.js';
import type { Connection } from './connection.js';
import { Core } from './core.js';
import { LocalDelivery } from './delivery.js';
import { TransitionEffects } from './effects.js';
import { FakeFanout, FakeSocket, testConfig } from './fakes.test.helper.js';
import { LocalRegistry } from './registry.js';
import { DirectStreams, type ChannelStreams, type Confirm, type Except } from './streams.js';
import { Watchlists } from './watchlist.js';

interface Published {
  appId: string;
  topic: string;
  frame: string;
  except: Except | undefined;
}

class RecordingStreams implements ChannelStreams {
  readonly published: Published[] = [];
  readonly resumes: Array<{ channel: string; request: unknown; confirm: Confirm }> = [];
  readonly cancels: string[] = [];
  /** Whether `resume` takes the attach over. */
  takes = false;

  publish(appId: string, topic: string, frame: string, except?: Except): void {
    this.published.push({ appId, topic, frame, except });
  }
  resume(_conn: Connection, channel: string, _topic: string, request: unknown, confirm: Confirm): boolean {
    this.resumes.push({ channel, request, confirm });
    return this.takes;
  }
  cancel(_conn: Connection, topic: string): void {
    this.cancels.push(topic);
  }
  /** Resumes taken over and neither attached nor cancelled (a test sets it). */
  pending = 0;
  waiting(): number {
    return this.pending;
  }
}

class RecordingLink implements ClusterLink {
  readonly handsOffPresence = false;
  readonly calls: string[] = [];
  watch(topic: string): void {
    this.calls.push(`watch ${topic}`);
  }
  unwatch(topic: string): void {
    this.calls.push(`unwatch ${topic}`);
  }
  forward(topic: string, frame: string, except?: string): void {
    this.calls.push(`forward ${topic} ${frame} ${except}`);
  }
  ownsTopic(): boolean {
    return true;
  }
  remoteConnections(): number {
    return 0;
  }
}

function setup(options: { streams?: 'recording' | 'direct'; app?: Record<string, unknown> } = {}) {
  const config = testConfig({ clientEvents: true, ...options.app });
  const app = config.apps[0]!;
  const metrics = createServerMetrics();
  const fanout = new FakeFanout();
  const registry = new LocalRegistry();
  const watchlists = new Watchlists();
  const link = new RecordingLink();
  const peers: string[] = [];
  const peerCommands: PeerCommands = {
    cache: (topic) => peers.push(`cache ${topic}`),
    userCommand: (appId, userId) => peers.push(`user ${appId} ${userId}`),
  };
  const delivery = new LocalDelivery({ fanout, metrics });
  const webhooks = { wants: () => false, emit() {} };
  const recording = new RecordingStreams();
  const streams = options.streams === 'direct' ? new DirectStreams({ delivery, link, sockets: registry }) : recording;
  const refusals = new Refusals({ logger: silentLogger, counter: { inc() {} } });
  const effects = new TransitionEffects({
    delivery,
    ownership: link,
    webhooks,
    watchlists,
    appById: () => app,
    metrics,
  });
  const core = new Core({
    config,
    apps: new StaticAppDirectory(config.apps),
    registry,
    watchlists,
    cache: new ChannelCache(),
    delivery,
    streams,
    presence: new PresenceService('n1', effects),
    link,
    peers: peerCommands,
    webhooks,
    metrics,
    logger: silentLogger,
    connectionLimits: new ConnectionLimits({ maxConnections: 0, maxConnectionsPerIp: 0, open: () => 0, refusals }),
    refusals,
  });
  const open = (): { socket: FakeSocket; handler: SocketHandler; socketId: string } => {
    const socket = fanout.socket();
    const handler = core.open(socket, {
      path: '/app/app-key',
      query: 'protocol=7',
      headers: {},
      remoteAddress: socket.remoteAddress,
    });
    const established = JSON.parse(socket.sent[0]!) as { data: string };
    return { socket, handler, socketId: (JSON.parse(established.data) as { socket_id: string }).socket_id };
  };
  const auth = (socketId: string, channel: string): string =>
    `${app.key}:${hmacHex(app.secret, channelAuthString(socketId, channel))}`;
  return { core, app, recording, link, peers, fanout, open, auth };
}

const send = (h: SocketHandler, msg: unknown): void => h.onMessage(JSON.stringify(msg));

test('an API publish goes to the ChannelStreams port once, with the socket id to skip; the core delivers nothing itself', () => {
  const { core, app, recording, link, open } = setup();
  const a = open();
  send(a.handler, { event: 'pusher:subscribe', data: { channel: 'news' } });
  const before = a.socket.sent.length;
  assert.equal(core.publish(app, 'news', 'e', 'hello', '1.2'), undefined, 'the direct path is synchronous');
  assert.deepEqual(recording.published, [
    {
      appId: 'app-id',
      topic: 'app-id\u0000news',
      frame: '{"event":"e","channel":"news","data":"hello"}',
      except: '1.2',
    },
  ]);
  assert.equal(a.socket.sent.length, before, 'nothing delivered around the port');
  assert.deepEqual(
    link.calls.filter((c) => c.startsWith('forward')),
    [],
    'nothing forwarded around the port',
  );
});

test('a client event goes to the port with its sender as the socket to skip', () => {
  const { recording, open, auth } = setup();
  const a = open();
  send(a.handler, {
    event: 'pusher:subscribe',
    data: { channel: 'private-room', auth: auth(a.socketId, 'private-room') },
  });
  send(a.handler, { event: 'client-typing', channel: 'private-room', data: { x: 1 } });
  assert.equal(recording.published.length, 1);
  const [p] = recording.published;
  assert.equal(p?.topic, 'app-id\u0000private-room');
  assert.equal(typeof p?.except, 'object');
  assert.equal((p?.except as { socketId: string }).socketId, a.socketId);
  assert.equal((p?.except as { socket: unknown }).socket, a.socket);
});

test('a cache channel’s event is kept and told to the other nodes before it is published', () => {
  const { core, app, recording, peers } = setup();
  assert.equal(core.publish(app, 'cache-prices', 'e', '1'), undefined);
  assert.deepEqual(peers, ['cache app-id\u0000cache-prices']);
  assert.equal(recording.published.length, 1);
  core.terminateUser(app, 'u1');
  assert.deepEqual(peers.at(-1), 'user app-id u1');
});

test('subscribe with a resume request: the port decides; when it takes over, the socket is attached only by its attach', () => {
  const { recording, fanout, open } = setup();
  recording.takes = true;
  const a = open();
  send(a.handler, { event: 'pusher:subscribe', data: { channel: 'news', wm_resume: 'ep:3' } });
  assert.equal(recording.resumes.length, 1);
  assert.equal(recording.resumes[0]?.request, 'ep:3');
  assert.ok(!a.socket.events().includes('pusher_internal:subscription_succeeded'), 'confirmed by the port');
  assert.equal(fanout.topicSize('app-id\u0000news'), 0, 'not attached while the resume waits');
  const confirm = recording.resumes[0]!.confirm;
  assert.match(String(confirm.succeeded), /pusher_internal:subscription_succeeded/);
  confirm.attach();
  assert.equal(fanout.topicSize('app-id\u0000news'), 1);
  recording.takes = false;
  send(a.handler, { event: 'pusher:subscribe', data: { channel: 'sport', wm_resume: 'ep:3' } });
  assert.ok(a.socket.events().includes('pusher_internal:subscription_succeeded'), 'not taken: confirmed at once');
  assert.equal(fanout.topicSize('app-id\u0000sport'), 1);
});

test("a cache channel's last event follows its confirmation, also when a resume sends that later", () => {
  const { recording, open } = setup();
  const a = open();
  send(a.handler, { event: 'pusher:subscribe', data: { channel: 'cache-prices' } });
  assert.deepEqual(a.socket.events(), [
    'pusher:connection_established',
    'pusher_internal:subscription_succeeded',
    'pusher:cache_miss',
  ]);
  recording.takes = true;
  const b = open();
  send(b.handler, { event: 'pusher:subscribe', data: { channel: 'cache-prices', wm_resume: 'new' } });
  assert.deepEqual(b.socket.events(), ['pusher:connection_established'], 'nothing before the confirmation');
  const { confirm } = recording.resumes.at(-1)!;
  b.socket.send(confirm.succeeded);
  confirm.confirmed();
  assert.deepEqual(b.socket.events().slice(1), ['pusher_internal:subscription_succeeded', 'pusher:cache_miss']);
});

test('a subscriber whose resume still waits keeps the topic watched when the last attached one leaves', () => {
  const { recording, link, open } = setup();
  const a = open();
  send(a.handler, { event: 'pusher:subscribe', data: { channel: 'news' } });
  recording.takes = true;
  const b = open();
  send(b.handler, { event: 'pusher:subscribe', data: { channel: 'news', wm_resume: 'new' } });
  recording.pending = 1;
  send(a.handler, { event: 'pusher:unsubscribe', data: { channel: 'news' } });
  assert.deepEqual(link.calls, ['watch app-id\u0000news'], 'still watched for the waiting resume');
  recording.resumes.at(-1)!.confirm.attach();
  recording.pending = 0;
  send(b.handler, { event: 'pusher:unsubscribe', data: { channel: 'news' } });
  assert.deepEqual(link.calls, ['watch app-id\u0000news', 'unwatch app-id\u0000news']);
});

test('subscribe without the port taking over attaches at once; unsubscribe and close cancel waiting resumes and unwatch', () => {
  const { recording, fanout, link, open } = setup();
  const a = open();
  send(a.handler, { event: 'pusher:subscribe', data: { channel: 'news' } });
  assert.equal(fanout.topicSize('app-id\u0000news'), 1);
  assert.deepEqual(link.calls, ['watch app-id\u0000news']);
  send(a.handler, { event: 'pusher:unsubscribe', data: { channel: 'news' } });
  assert.deepEqual(recording.cancels, ['app-id\u0000news']);
  assert.deepEqual(link.calls, ['watch app-id\u0000news', 'unwatch app-id\u0000news']);
  send(a.handler, { event: 'pusher:subscribe', data: { channel: 'sport' } });
  a.socket.unsubscribe('app-id\u0000sport'); // a closing socket leaves the transport's topics first
  a.handler.onClose(1000, '');
  assert.deepEqual(recording.cancels, ['app-id\u0000news', 'app-id\u0000sport']);
  assert.equal(link.calls.at(-1), 'unwatch app-id\u0000sport');
});

test('the direct port: delivered to local subscribers but the sender, forwarded with the sender’s id', () => {
  const { core, app, link, open, auth } = setup({ streams: 'direct' });
  const a = open();
  const b = open();
  for (const s of [a, b])
    send(s.handler, {
      event: 'pusher:subscribe',
      data: { channel: 'private-room', auth: auth(s.socketId, 'private-room') },
    });
  send(a.handler, { event: 'client-typing', channel: 'private-room', data: 'x' });
  assert.equal(a.socket.events().filter((e) => e === 'client-typing').length, 0);
  assert.equal(b.socket.events().filter((e) => e === 'client-typing').length, 1);
  assert.match(link.calls.at(-1)!, new RegExp(`^forward app-id\u0000private-room .*client-typing.* ${a.socketId}$`));
  // An API publish naming a local socket: looked up, skipped here, named to the others.
  assert.equal(core.publish(app, 'private-room', 'e', 'y', b.socketId), undefined);
  assert.equal(a.socket.events().filter((e) => e === 'e').length, 1);
  assert.equal(b.socket.events().filter((e) => e === 'e').length, 0);
  assert.match(link.calls.at(-1)!, new RegExp(` ${b.socketId}$`));
});

test('frames from other nodes are delivered locally, skipping a local socket they name', () => {
  const { core, open } = setup();
  const a = open();
  const b = open();
  for (const s of [a, b]) send(s.handler, { event: 'pusher:subscribe', data: { channel: 'news' } });
  core.deliver('app-id\u0000news', '{"event":"r","channel":"news","data":"1"}', a.socketId);
  assert.deepEqual(a.socket.events().slice(-1), ['pusher_internal:subscription_succeeded']);
  assert.deepEqual(b.socket.events().slice(-1), ['r']);
});

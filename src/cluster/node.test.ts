/**
 * The cluster node over a fake carrier and a real Membership on a test clock: the one heartbeat
 * with every feature's fields, control messages dispatched by type to the feature that registered
 * it (an unknown type dropped with a log line), node down and forgotten reaching every feature,
 * channel frames and marks handed up, joining and leaving.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../log/logger.js';
import type { CarrierReceiver } from './carrier.js';
import type { ControlFields, ControlMessage } from './envelope.js';
import { Membership } from './membership.js';
import { ClusterNode, type CarrierPort } from './node.js';
import type { ClusterFeature, Seen } from './types.js';

interface Sent {
  type: string;
  fields: ControlFields;
  to: string | undefined;
}

class FakeCarrier implements CarrierPort {
  readonly backendName = 'fake';
  receiver: CarrierReceiver | null = null;
  readonly sent: Sent[] = [];
  readonly forwarded: string[] = [];
  readonly marks: string[] = [];
  readonly watched = new Set<string>();
  closed = false;

  async connect(receiver: CarrierReceiver): Promise<void> {
    this.receiver = receiver;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  watch(topic: string): void {
    this.watched.add(topic);
  }
  unwatch(topic: string): void {
    this.watched.delete(topic);
  }
  forward(topic: string, frame: string): void {
    this.forwarded.push(`${topic} ${frame}`);
  }
  mark(topic: string, id: string): void {
    this.marks.push(`${topic} ${id}`);
  }
  inbound(): void {}
  send(type: string, fields: ControlFields, to?: string): void {
    this.sent.push({ type, fields, to });
  }
  beats(): Sent[] {
    return this.sent.filter((s) => s.type === 'hb');
  }
  /** A control message from another node, as the carrier hands it up. */
  control(type: string, from: string, fields: Record<string, unknown> = {}): void {
    this.receiver!.control({ v: 1, type, from, ...fields });
  }
}

const HB = 20;

function setup(t: TestContext) {
  let now = 1_000;
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  const carrier = new FakeCarrier();
  const membership = new Membership('a', { nodeTimeoutMs: 100, forgetAfterMs: 300 }, () => now);
  const node = new ClusterNode({
    nodeId: 'a',
    carrier,
    membership,
    settings: { heartbeatMs: HB, nodeTimeoutMs: 100, handoffMs: 100, deltaDelayMs: 5 },
    connections: () => ({ app1: 2 }),
    logger,
  });
  t.after(() => node.stop('crash'));
  return {
    node,
    carrier,
    lines,
    advance: (ms: number) => (now += ms),
    logged: (msg: string) => lines.filter((l) => l.msg === msg),
  };
}

/** A feature that records what it hears. */
function recorder(name: string, extra: Partial<ClusterFeature> = {}) {
  const heard: Array<[string, Seen]> = [];
  const events: string[] = [];
  let beats = 0;
  const feature: ClusterFeature = {
    name,
    heartbeat: () => ({ [`${name}Beat`]: ++beats }),
    heard: (hb, seen) => heard.push([hb.from, seen]),
    nodeDown: (n) => events.push(`down ${n}`),
    nodeForgotten: (n) => events.push(`forgotten ${n}`),
    reconnected: () => events.push('reconnected'),
    marked: (topic, id) => events.push(`mark ${topic} ${id}`),
    ...extra,
  };
  return { feature, heard, events, beats: () => beats };
}

test('one heartbeat per beat, built by the node with its connections and every feature’s fields', async (t) => {
  const { node, carrier } = setup(t);
  const p = recorder('p');
  const q = recorder('q', { heartbeat: () => undefined });
  node.register(p.feature);
  node.register(q.feature);
  await node.start();
  await sleep(HB * 3);
  const beats = carrier.beats();
  assert.ok(beats.length >= 3, `several heartbeats (${beats.length})`);
  assert.equal(p.beats(), beats.length, 'the contributor is asked once per heartbeat');
  beats.forEach((b, i) => {
    assert.equal(b.to, undefined, 'to every node');
    assert.deepEqual(b.fields, { conns: { app1: 2 }, pBeat: i + 1 });
  });
});

test('beatSoon sends one early heartbeat for any number of requests', async (t) => {
  const { node, carrier } = setup(t);
  const p = recorder('p');
  node.register(p.feature);
  await node.start();
  await sleep(HB / 4); // clear of the catch-up's own timing
  const before = carrier.beats().length;
  node.beatSoon();
  node.beatSoon();
  node.beatSoon();
  await sleep(8);
  assert.ok(carrier.beats().length - before >= 1);
  assert.ok(carrier.beats().length - before <= 2, 'batched (at most a periodic beat besides)');
});

test('control messages go to the feature that registered their type; an unknown type is dropped with a log line', async (t) => {
  const { node, carrier, logged } = setup(t);
  const got: ControlMessage[] = [];
  node.register({ name: 'x', messages: { thing: (msg) => got.push(msg) } });
  await node.start();
  carrier.control('thing', 'b', { n: 1 });
  carrier.control('other', 'b', { n: 2 });
  assert.deepEqual(got, [{ v: 1, type: 'thing', from: 'b', n: 1 }]);
  const drops = logged('dropped a control message of a type nothing here handles');
  assert.equal(drops.length, 1);
  assert.equal(drops[0]!.type, 'other');
  assert.equal(drops[0]!.from, 'b');
});

test('a handler that throws is logged with its feature; the node carries on', async (t) => {
  const { node, carrier, logged } = setup(t);
  let after = 0;
  node.register({
    name: 'brittle',
    messages: {
      bad: () => {
        throw new TypeError('no');
      },
      good: () => after++,
    },
  });
  await node.start();
  carrier.control('bad', 'b');
  carrier.control('good', 'b');
  assert.equal(after, 1);
  const [line] = logged('could not apply a control message');
  assert.equal(line?.feature, 'brittle');
  assert.equal(line?.type, 'bad');
});

test('registration: a type belongs to one feature, hb and bye to the node, and nothing registers after joining', async (t) => {
  const { node } = setup(t);
  node.register({ name: 'x', messages: { thing: () => {} } });
  assert.throws(() => node.register({ name: 'y', messages: { thing: () => {} } }), /thing is x's, not y's/);
  assert.throws(() => node.register({ name: 'y', messages: { hb: () => {} } }), /hb is node's/);
  node.register({ name: 'c1', channels: { deliver() {} } });
  assert.throws(() => node.register({ name: 'c2', channels: { deliver() {} } }), /already have a receiver/);
  await node.start();
  assert.throws(() => node.register({ name: 'late' }), /after the node joined/);
});

test('a heartbeat reaches every feature with new/up; down and forgotten reach every feature', async (t) => {
  const { node, carrier, advance } = setup(t);
  const p = recorder('p');
  const q = recorder('q');
  node.register(p.feature);
  node.register(q.feature);
  await node.start();
  carrier.control('hb', 'b', { conns: { app1: 5 } });
  carrier.control('hb', 'b', { conns: { app1: 6 } });
  assert.deepEqual(p.heard, [
    ['b', 'new'],
    ['b', null],
  ]);
  assert.deepEqual(q.heard, p.heard);
  assert.equal(node.remoteConnections('app1'), 6);
  advance(150); // past the node timeout
  await sleep(HB * 3);
  assert.deepEqual(p.events, ['down b']);
  assert.deepEqual(q.events, ['down b']);
  carrier.control('hb', 'b', { conns: {} });
  assert.deepEqual(p.heard.at(-1), ['b', 'up']);
  advance(150);
  await sleep(HB * 3);
  advance(400); // past the forget period
  await sleep(HB * 3);
  assert.deepEqual(p.events, ['down b', 'down b', 'forgotten b']);
  assert.deepEqual(q.events, p.events);
});

test('a heartbeat without connection counts is refused before any feature hears it', async (t) => {
  const { node, carrier, logged } = setup(t);
  const p = recorder('p');
  node.register(p.feature);
  await node.start();
  carrier.control('hb', 'b', { conns: 'many' });
  assert.deepEqual(p.heard, []);
  assert.equal(node.membership.known('b'), false);
  assert.equal(logged('could not apply a control message').length, 1);
});

test('channel frames go to the one receiver, marks to the features; ClusterLink calls reach the carrier', async (t) => {
  const { node, carrier } = setup(t);
  const frames: string[] = [];
  const p = recorder('p');
  node.register({
    name: 'core',
    channels: { deliver: (topic, frame, except) => frames.push(`${topic} ${frame} ${except}`) },
  });
  node.register(p.feature);
  await node.start();
  carrier.receiver!.data('t1', 'f1', 's.1');
  carrier.receiver!.mark('t1', 'm1');
  assert.deepEqual(frames, ['t1 f1 s.1']);
  assert.deepEqual(p.events, ['mark t1 m1']);
  node.watch('t2');
  node.forward('t2', 'f2');
  node.mark('t2', 'm2');
  assert.deepEqual([...carrier.watched], ['t2']);
  assert.deepEqual(carrier.forwarded, ['t2 f2']);
  assert.deepEqual(carrier.marks, ['t2 m2']);
});

test('the connection coming back: features hear it, then a heartbeat resynchronises', async (t) => {
  const { node, carrier } = setup(t);
  const p = recorder('p');
  node.register(p.feature);
  await node.start();
  carrier.receiver!.connectionChanged(false);
  const before = carrier.beats().length;
  carrier.receiver!.connectionChanged(true);
  assert.deepEqual(p.events, ['reconnected']);
  assert.equal(carrier.beats().length, before + 1);
});

test('joining waits (bounded) for the features to catch up; leaving sends a last heartbeat and a goodbye', async (t) => {
  const { node, carrier } = setup(t);
  let behind = ['b'];
  node.register({ name: 'slow', behind: () => behind });
  setTimeout(() => (behind = []), HB * 2);
  const started = performance.now();
  await node.start();
  const took = performance.now() - started;
  assert.ok(took >= HB * 2 - 5, `waited for the feature (${took.toFixed(0)} ms)`);
  assert.ok(took < HB * 4.2 + 200, 'bounded');
  await node.stop('graceful');
  const [last, bye] = carrier.sent.slice(-2);
  assert.equal(last?.type, 'hb');
  assert.deepEqual(bye, { type: 'bye', fields: { handoffMs: 100 }, to: undefined });
  assert.equal(carrier.closed, true);
});

test('a goodbye from another node: it is no longer live, and forgotten once its hand-off ends', async (t) => {
  const { node, carrier, advance } = setup(t);
  const p = recorder('p');
  node.register(p.feature);
  await node.start();
  carrier.control('hb', 'b', { conns: { app1: 1 } });
  carrier.control('bye', 'b', { handoffMs: 50 });
  assert.equal(node.membership.live().length, 0);
  assert.equal(node.remoteConnections('app1'), 0);
  advance(60);
  await sleep(HB * 3);
  assert.deepEqual(p.events, ['forgotten b']);
});

test('a node whose direct connection closed is down at once: every feature hears nodeDown', async (t) => {
  const { node, carrier } = setup(t);
  const p = recorder('p');
  node.register(p.feature);
  await node.start();
  carrier.control('hb', 'b', { conns: {} });
  carrier.receiver!.nodeGone('b');
  carrier.receiver!.nodeGone('b');
  assert.deepEqual(p.events, ['down b'], 'once, long before the node timeout');
  assert.deepEqual(node.membership.live(), []);
  carrier.control('hb', 'c', { conns: {} });
  carrier.control('bye', 'c', { handoffMs: 100 });
  carrier.receiver!.nodeGone('c');
  assert.deepEqual(p.events, ['down b'], 'a node leaving gracefully keeps its hand-off');
});

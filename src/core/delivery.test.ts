/** Local delivery: counted, and shown to its observer after the fan-out; the observer's waiting subscribers count. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServerMetrics } from '../metrics/server-metrics.js';
import type { WsSocket } from '../transport/types.js';
import { LocalDelivery, type DeliveryObserver } from './delivery.js';
import { FakeFanout } from './fakes.test.helper.js';

test('every delivered frame reaches the observer after the sockets, with the socket skipped', () => {
  const fanout = new FakeFanout();
  const a = fanout.socket();
  const b = fanout.socket();
  a.subscribe('t');
  b.subscribe('t');
  const seen: Array<[string, string, WsSocket | undefined, number]> = [];
  const observer: DeliveryObserver = {
    delivered: (topic, frame, except) => seen.push([topic, frame, except, b.sent.length]),
    waiting: (topic) => (topic === 't' ? 3 : 0),
  };
  const delivery = new LocalDelivery({ fanout, metrics: createServerMetrics(), observer });
  assert.equal(delivery.toTopic('app', 't', 'f1', a), 1);
  assert.deepEqual(seen, [['t', 'f1', a, 1]], 'the sockets had it before the observer saw it');
  assert.equal(delivery.toTopic('app', 'empty', 'f2'), 0);
  assert.equal(seen.length, 2, 'seen even with no socket on the topic (a resume may wait on it)');
  assert.equal(delivery.topicSize('t'), 5);
  assert.equal(delivery.topicSize('empty'), 0);
});

test('without an observer, the transport’s own count', () => {
  const fanout = new FakeFanout();
  fanout.socket().subscribe('t');
  const delivery = new LocalDelivery({ fanout, metrics: createServerMetrics() });
  assert.equal(delivery.topicSize('t'), 1);
  assert.equal(delivery.toTopic('app', 't', 'f'), 1);
});

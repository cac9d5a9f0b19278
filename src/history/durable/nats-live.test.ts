import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient } from '@nats-io/jetstream';
import { decodeData, decodeMark } from '../../cluster/envelope.js';
import { createLogger } from '../../log/logger.js';
import { EPOCH_HEADER, EXCEPT_HEADER, LiveFeed } from './nats-live.js';
import { AppStream } from './nats-stream.js';

interface FakeMsg {
  seq: number;
  subject: string;
  headers: { get(k: string): string };
  string(): string;
}

/** A consumer's message stream, fed by the test. */
class FakeMessages {
  private readonly queue: FakeMsg[] = [];
  private wake: (() => void) | null = null;
  private stopped = false;
  push(m: FakeMsg): void {
    this.queue.push(m);
    this.wake?.();
  }
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<FakeMsg> {
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        yield m;
        continue;
      }
      if (this.stopped) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
  async *status(): AsyncGenerator<{ type: string }> {}
}

function harness() {
  const stream = new AppStream('wm', 'app');
  const opened: { from: number; messages: FakeMessages }[] = [];
  const js = {
    consumers: {
      get: async (_name: string, opts: { opt_start_seq: number }) => ({
        consume: async () => {
          const messages = new FakeMessages();
          opened.push({ from: opts.opt_start_seq, messages });
          return messages;
        },
      }),
    },
  } as unknown as JetStreamClient;
  const got: string[] = [];
  let troubles = 0;
  const feed = new LiveFeed(
    {
      js,
      stream,
      inbound: (topic, payload) => {
        const mark = decodeMark(payload);
        const data = decodeData(payload);
        got.push(mark ? `${topic} mark ${mark.id}` : `${topic} ${data?.frame ?? '?'} except=${data?.except ?? '-'}`);
      },
      logger: createLogger({ level: 'error', sink: () => {} }),
      trouble: () => troubles++,
      epochSeen: () => {},
      seen: () => {},
    },
    'E1',
  );
  const event = (seq: number, topic: string, extra: Record<string, string> = {}): FakeMsg => {
    const h: Record<string, string> = { [EPOCH_HEADER]: 'E1', ...extra };
    return { seq, subject: stream.subject(topic), headers: { get: (k) => h[k] ?? '' }, string: () => `{"n":${seq}}` };
  };
  return { feed, opened, got, event, troubles: () => troubles };
}

test('LiveFeed: events handed on positioned, in order, with their except; a mark only once its events were', async () => {
  const h = harness();
  await h.feed.start('E1', 10);
  assert.equal(h.opened[0]!.from, 11, 'the consumer starts behind the last event');
  h.feed.mark('t1', 'm-now', 'E1', 10); // everything up to 10 was there before the feed started
  h.feed.mark('t1', 'm-12', 'E1', 12);
  h.feed.mark('t1', 'm-old-epoch', 'E0', 99);
  assert.deepEqual(h.got, ['t1 mark m-now', 't1 mark m-old-epoch']);
  const m = h.opened[0]!.messages;
  m.push(h.event(11, 't1', { [EXCEPT_HEADER]: 'sock.1' }));
  m.push(h.event(12, 't2'));
  m.push(h.event(13, 't1'));
  await sleep(10);
  assert.deepEqual(h.got.slice(2), [
    't1 {"n":11,"wm_pos":"E1:11"} except=sock.1',
    't2 {"n":12,"wm_pos":"E1:12"} except=-',
    't1 mark m-12',
    't1 {"n":13,"wm_pos":"E1:13"} except=-',
  ]);
  await h.feed.stop();
});

test('LiveFeed: a stream made again (new epoch) starts over at its beginning; waiting marks are handed on', async () => {
  const h = harness();
  await h.feed.start('E1', 5);
  h.feed.mark('t', 'waits', 'E1', 9);
  await h.feed.start('E2', 0);
  assert.deepEqual(h.got, ['t mark waits']);
  assert.equal(h.opened[1]!.from, 1);
  await h.feed.stop();
});

test('LiveFeed: owed events not delivered for two looks make the consumer again', async () => {
  const h = harness();
  await h.feed.start('E1', 0);
  h.feed.owe(3);
  await sleep(700);
  assert.ok(h.troubles() >= 1, 'stalled: trouble reported');
  const before = h.troubles();
  h.opened[0]!.messages.push(h.event(1, 't'));
  h.opened[0]!.messages.push(h.event(2, 't'));
  h.opened[0]!.messages.push(h.event(3, 't'));
  await sleep(700);
  assert.equal(h.troubles(), before, 'caught up: no more');
  await h.feed.stop();
});

test('AppStream: names and subjects safe for any app id, distinct for ids that differ only in unsafe characters', () => {
  const plain = new AppStream('wiremesh', 'app-1');
  assert.equal(plain.name, 'wiremesh_hist_app-1');
  const a = new AppStream('wm.eu', 'a.b');
  const b = new AppStream('wm.eu', 'a_b');
  assert.match(a.name, /^wm_eu_hist_a_b_[0-9a-f]{8}$/);
  assert.equal(b.name, 'wm_eu_hist_a_b');
  assert.notEqual(a.name, b.name);
  const subject = a.subject('a.b\u0000private-x');
  assert.match(subject, /^wm\.eu\.h\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.equal(a.topicOf(subject), 'a.b\u0000private-x');
  assert.equal(b.topicOf(subject), null);
});

/**
 * The history sequencer and the resume protocol over in-process fakes: sockets on a fake fan-out,
 * the owner reached through fake peers. Ordering (replay, then what arrived meanwhile, deduplicated
 * by position), completion only with both the answer and its mark, attempts and the timeout gap,
 * a resume on the owner itself, and the gap notice when the owner dies.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppConfig } from '../config/schema.js';
import { Connection } from '../core/connection.js';
import { LocalDelivery } from '../core/delivery.js';
import { FakeFanout, type FakeSocket, recordingLogger, testConfig } from '../core/fakes.test.helper.js';
import { createServerMetrics } from '../metrics/server-metrics.js';
import { channelEvent, subscriptionSucceeded } from '../protocol/frames.js';
import { HistoryChannels } from './channels.js';
import { parsePosition, positionOfFrame } from './position.js';
import { Refusals } from '../limits/refusals.js';
import { Resumer } from './resumer.js';
import { Sequencer } from './sequencer.js';
import type { HistoryPeers } from './types.js';
import type { HistoryMessage } from './wire.js';
import type { TextFrame } from '../transport/types.js';

const TOPIC = 'app-id\u0000orders';
const event = (n: number): string => channelEvent('e', 'orders', String(n));

class FakePeers implements HistoryPeers {
  readonly nodeId = 'here';
  owner = 'there';
  readonly sent: Array<{ to: string; msg: HistoryMessage }> = [];
  readonly marks: string[] = [];
  ownerOf(): string {
    return this.owner;
  }
  nextOf(): string | undefined {
    return undefined;
  }
  replicates(): boolean {
    return false;
  }
  wasOwner(nodeId: string): boolean {
    return nodeId === this.owner;
  }
  send(to: string, msg: HistoryMessage): void {
    this.sent.push({ to, msg });
  }
  mark(topic: string, id: string): void {
    this.marks.push(`${topic} ${id}`);
  }
  requests(): Array<Extract<HistoryMessage, { kind: 'replay_req' }>> {
    return this.sent.flatMap((s) => (s.msg.kind === 'replay_req' ? [s.msg] : []));
  }
}

function setup(t: TestContext, opts: { remote?: boolean; resumeTimeoutMs?: number } = {}) {
  const config = testConfig({
    history: { channels: ['orders'], ...(opts.resumeTimeoutMs ? { resumeTimeoutMs: opts.resumeTimeoutMs } : {}) },
  });
  const app = config.apps[0] as AppConfig;
  const channels = new HistoryChannels(config.apps);
  // The owner's side: a sequencer of its own (in a cluster: on another node).
  const owner = new Sequencer({ channels });
  const peers = opts.remote === false ? null : new FakePeers();
  const fanout = new FakeFanout();
  const { logger, lines } = recordingLogger();
  const refusals = new Refusals({ logger, counter: { inc() {} } });
  const resumer = new Resumer({ channels, local: owner, peers, fanout, logger, refusals });
  const delivery = new LocalDelivery({ fanout, metrics: createServerMetrics(), observer: resumer });
  t.after(() => {
    owner.stop();
    resumer.stop();
  });
  /** A live event: sequenced by the owner, delivered here as the owner's forward would be. */
  const live = (n: number): string => {
    const f = owner.sequence(app.id, TOPIC, event(n));
    delivery.toTopic(app.id, TOPIC, f);
    return f;
  };
  /** A client that subscribed (succeeded) and asks to resume from `request`. */
  const resume = (
    request: unknown,
    succeeded: TextFrame = subscriptionSucceeded('orders'),
  ): { socket: FakeSocket; conn: Connection; took: boolean } => {
    const socket = fanout.socket();
    const conn = new Connection(`1.${socket.remoteAddress.length}`, app, socket, 0, {
      message() {},
      closed() {},
    });
    conn.addSubscription({ channel: 'orders', topic: TOPIC });
    const took = resumer.resume(conn, 'orders', TOPIC, request, {
      succeeded,
      confirmed: () => {},
      attach: () => socket.subscribe(TOPIC),
    });
    return { socket, conn, took };
  };
  /** The owner's answer to the last request, as the receiver of `hist` messages hands it over. */
  const answerLast = (): string => {
    const req = peers!.requests().at(-1)!;
    resumer.replied(owner.answer(app.id, TOPIC, req.from === null ? null : parsePosition(req.from), req.id));
    return req.id;
  };
  return { app, owner, peers, fanout, delivery, resumer, live, resume, answerLast, lines };
}

/**
 * What a socket got: the serial of each event, the name of each wiremesh:* notice, `ok` for the
 * subscription's confirmation (`ok@N` when it names its starting position).
 */
const serials = (s: FakeSocket): Array<number | string> =>
  s.sent.map((f) => {
    const name = (JSON.parse(f) as { event: string }).event;
    if (name === 'pusher_internal:subscription_succeeded') {
      const start = positionOfFrame(f);
      return start ? `ok@${start.serial}` : 'ok';
    }
    return name.startsWith('wiremesh:') ? name : (positionOfFrame(f)?.serial ?? name);
  });

test('the sequencer: positions increase within one epoch; a position answers what followed it, or a gap', (t) => {
  const { app, owner } = setup(t);
  const f = [1, 2, 3].map((n) => owner.sequence(app.id, TOPIC, event(n)));
  const pos = f.map((x) => positionOfFrame(x)!);
  assert.deepEqual(
    pos.map((p) => p.serial),
    [1, 2, 3],
  );
  assert.ok(pos.every((p) => p.epoch === pos[0]!.epoch));
  const answer = owner.answer(app.id, TOPIC, pos[0]!, 'id1');
  assert.equal(answer.status, 'ok');
  assert.deepEqual(answer.frames, [f[1], f[2]]);
  assert.equal(answer.head, `${pos[0]!.epoch}:3`);
  const other = owner.answer(app.id, TOPIC, { epoch: 'elsewhere', serial: 2 }, 'id2');
  assert.deepEqual([other.status, other.reason], ['gap', 'reset']);
  assert.equal(owner.answer(app.id, TOPIC, null, 'id3').frames.length, 0, 'a new subscription gets the head only');
});

test('remote owner: the replay, then what arrived while waiting, each event once and in order; attached after', (t) => {
  const { peers, live, resume, answerLast, resumer, fanout } = setup(t);
  const first = live(1);
  live(2);
  const from = positionOfFrame(first)!;
  const { socket, took } = resume(`${from.epoch}:1`);
  assert.equal(took, true);
  assert.equal(peers!.requests().length, 1);
  live(3); // after the request, before the answer: in the buffer and (maybe) in the answer
  const id = answerLast();
  live(4); // after the answer, before the mark: only in the buffer
  assert.deepEqual(socket.sent, [], 'nothing before the mark');
  assert.equal(fanout.topicSize('app-id\u0000orders'), 0, 'not attached yet');
  resumer.marked(id);
  assert.deepEqual(serials(socket), ['ok', 2, 3, 'wiremesh:resumed', 4]);
  assert.equal(fanout.topicSize('app-id\u0000orders'), 1, 'attached once complete');
  live(5);
  assert.deepEqual(serials(socket).slice(-1), [5], 'then live');
});

test('the mark may come before the answer: completion needs both', (t) => {
  const { peers, live, resume, answerLast, resumer } = setup(t);
  const from = positionOfFrame(live(1))!;
  const { socket } = resume(`${from.epoch}:1`);
  resumer.marked(peers!.requests()[0]!.id);
  assert.deepEqual(socket.sent, []);
  answerLast();
  assert.deepEqual(serials(socket), ['ok', 'wiremesh:resumed']);
});

test('no answer: asked three times, then the client is told the gap is unknown and gets what was buffered', async (t) => {
  const { peers, live, resume, resumer, lines, fanout } = setup(t, { resumeTimeoutMs: 120 });
  const from = positionOfFrame(live(1))!;
  const { socket } = resume(`${from.epoch}:1`);
  live(2);
  await sleep(200);
  assert.equal(peers!.requests().length, 3);
  assert.deepEqual(serials(socket), ['ok', 'wiremesh:gap', 2]);
  assert.match(socket.sent[1]!, /unavailable/);
  assert.equal(fanout.topicSize('app-id\u0000orders'), 1);
  assert.ok(lines.some((l) => l.msg === 'no answer from the history node: the client is told the gap is unknown'));
  // A late answer to an attempt given up changes nothing.
  resumer.replied({ kind: 'replay', id: peers!.requests()[0]!.id, status: 'ok', head: `${from.epoch}:2`, frames: [] });
  assert.equal(socket.sent.length, 3);
});

test('an answer that says gap: the gap, then only the events after the head', (t) => {
  const { live, resume, answerLast, resumer } = setup(t);
  live(1);
  const { socket } = resume('other-epoch:7');
  live(2);
  resumer.marked(answerLast());
  assert.deepEqual(serials(socket), ['ok', 'wiremesh:gap']);
  assert.match(socket.sent[1]!, /reset/);
});

test('a new subscription (`new`): confirmed only with its starting position (the head), then the events after it', (t) => {
  const { live, resume, answerLast, resumer } = setup(t);
  live(1);
  const { socket } = resume('new');
  const second = live(2); // before the answer: at or before the head it names
  const id = answerLast();
  live(3); // after the answer, before the mark: after the head
  assert.deepEqual(socket.sent, [], 'not confirmed before its position is known');
  resumer.marked(id);
  assert.deepEqual(serials(socket), ['ok@2', 3]);
  assert.equal(positionOfFrame(socket.sent[0]!)!.epoch, positionOfFrame(second)!.epoch);
});

test('a confirmation in pieces (a presence list: views the next subscription rewrites) is kept as it was', (t) => {
  const { resume, answerLast, resumer } = setup(t);
  const pieces = [
    Buffer.from('{"event":"pusher_internal:subscription_succeeded","channel":"orders","data":"'),
    Buffer.from('{}'),
    Buffer.from('"}'),
  ];
  const { socket } = resume('new', pieces);
  pieces[1]!.write('[]');
  resumer.marked(answerLast());
  const sent = JSON.parse(socket.sent[0]!) as { data: string; wm_pos?: string };
  assert.equal(sent.data, '{}');
  assert.ok(sent.wm_pos);
});

test('this node owns the channel (no peers): answered at once, nothing waits', (t) => {
  const { live, resume, fanout } = setup(t, { remote: false });
  const from = positionOfFrame(live(1))!;
  live(2);
  const { socket, took } = resume(`${from.epoch}:1`);
  assert.equal(took, true);
  assert.deepEqual(serials(socket), ['ok', 2, 'wiremesh:resumed']);
  assert.equal(fanout.topicSize('app-id\u0000orders'), 1);
});

test('requests that do not apply: no request, a channel without history, a malformed position', (t) => {
  const { resume, resumer, app, fanout } = setup(t);
  assert.equal(resume(undefined).took, false);
  const bad = resume('not a position');
  assert.equal(bad.took, true, 'confirmed here, with the gap');
  assert.deepEqual(serials(bad.socket), ['ok', 'wiremesh:gap']);
  assert.equal(fanout.topicSize(TOPIC), 1, 'and attached');
  const other = resume('new');
  assert.equal(
    resumer.resume(other.conn, 'sport', `${app.id}\u0000sport`, 'new', {
      succeeded: subscriptionSucceeded('sport'),
      confirmed: () => {},
      attach: () => {},
    }),
    false,
  );
});

test('a waiting resume counts as a subscriber; cancelled, it is forgotten and its answer ignored', (t) => {
  const { delivery, live, resume, resumer, answerLast } = setup(t);
  const from = positionOfFrame(live(1))!;
  const { socket, conn } = resume(`${from.epoch}:1`);
  assert.equal(delivery.topicSize('app-id\u0000orders'), 1);
  resumer.cancel(conn, 'app-id\u0000orders');
  assert.equal(delivery.topicSize('app-id\u0000orders'), 0);
  resumer.marked(answerLast());
  assert.deepEqual(socket.sent, []);
});

test('the owner goes down: clients it served resumes to are told, on the channels it owned', (t) => {
  const { peers, live, resume, answerLast, resumer } = setup(t);
  const from = positionOfFrame(live(1))!;
  const { socket } = resume(`${from.epoch}:1`);
  resumer.marked(answerLast());
  resumer.nodeDown('somebody-else');
  assert.deepEqual(serials(socket), ['ok', 'wiremesh:resumed']);
  resumer.nodeDown(peers!.owner);
  assert.deepEqual(serials(socket), ['ok', 'wiremesh:resumed', 'wiremesh:gap']);
});

test('clients resuming from the same position while its request is in flight share it: one request, one answer for all', (t) => {
  const { peers, live, resume, answerLast, resumer } = setup(t);
  const from = positionOfFrame(live(1))!;
  const a = resume(`${from.epoch}:1`);
  const b = resume(`${from.epoch}:1`);
  const c = resume('new');
  assert.equal(peers!.requests().length, 2, 'one request for the two at 1, one for the new subscription');
  live(2);
  const id = peers!.requests()[0]!.id;
  resumer.replied({ kind: 'replay', id, status: 'ok', head: `${from.epoch}:1`, frames: [] });
  resumer.marked(id);
  assert.deepEqual(serials(a.socket), ['ok', 'wiremesh:resumed', 2]);
  assert.deepEqual(serials(b.socket), ['ok', 'wiremesh:resumed', 2]);
  assert.deepEqual(serials(c.socket), [], 'the new subscription waits for its own answer');
  answerLast();
  resumer.marked(peers!.requests()[1]!.id);
  assert.deepEqual(serials(c.socket), ['ok@2'], 'its start is the head, which 2 is at');
});

test('a request whose clients all left is abandoned: no more attempts; the topic is forgotten once nobody is subscribed', async (t) => {
  const { peers, live, resume, resumer, fanout } = setup(t, { resumeTimeoutMs: 120 });
  const from = positionOfFrame(live(1))!;
  const a = resume(`${from.epoch}:1`);
  const b = resume(`${from.epoch}:1`);
  resumer.cancel(a.conn, TOPIC);
  await sleep(60);
  assert.equal(peers!.requests().length, 2, 'one client still waits: the request is retried');
  resumer.cancel(b.conn, TOPIC);
  await sleep(150);
  assert.equal(peers!.requests().length, 2, 'nobody waits: no third attempt');
  assert.equal(fanout.topicSize(TOPIC), 0);
  assert.equal(resumer.servedTopics(), 0, 'a topic without local subscribers is not remembered');
});
